"""quadnet.dmft -- extensive-width theory (m = kappa d, n = alpha d^2): DMFT dynamics, stationary solution,
perfect-recovery threshold."""

from dmft.params import ExtensiveWidthParams

__all__ = ["ExtensiveWidthParams"]
