"""quadnet.odes -- low-dimensional overlap ODEs of two-layer quadratic networks.

* :mod:`odes.finite_width` -- one-pass SGD, widths p, p* finite, N -> infinity (overlaps Q, M).
* :mod:`odes.population` -- population gradient flow at extensive width and the matrix Riccati dynamics.
* :mod:`odes.common` -- errors, parameter checks, HDF5 I/O and progress bars shared by all packages.
"""

from odes.common.version import __version__

__all__ = ["__version__"]
