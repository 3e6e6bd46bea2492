"""Shared pytest configuration: quiet progress bars, single-threaded BLAS for reproducible timings."""

import os

os.environ.setdefault("QUADNET_QUIET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
