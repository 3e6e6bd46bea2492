"""Library version, read from the installed distribution metadata (falls back to the source value)."""

from importlib import metadata

try:
    __version__ = metadata.version("quadnet")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.2.0.dev0"
