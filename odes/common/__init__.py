"""Infrastructure shared by every quadnet model: errors, parameter checks, HDF5 I/O, progress bars, the result
protocol, random-matrix ensembles (``random_matrices``) and numerical helpers (``numerics``).

``odes`` is the base package of the distribution, so ``dmft`` and ``validation`` import these helpers
from here (``from odes.common import ParameterError, check``). Nothing in this subpackage knows about a
particular model.
"""

from odes.common.errors import ConvergenceError, DivergenceError, ParameterError, QuadnetError
from odes.common.version import __version__

__all__ = ["ConvergenceError", "DivergenceError", "ParameterError", "QuadnetError", "__version__"]
