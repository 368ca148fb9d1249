"""First-order IR-drop figures (α, β of `anncc.ir.contract`) and the warning.

Part of `anncc.runtime.irdrop` (see its docstring for the circuit and the methods).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from numpy.typing import ArrayLike

from anncc.ir.contract import irdrop_alpha_beta, irdrop_expected_error

try:  # CHOLMOD (scikit-sparse over Debian's libsuitesparse-dev) is optional.
    from sksparse.cholmod import analyze as _cholmod_analyze  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _cholmod_analyze = None
from anncc.runtime.irdrop.mesh import MeshParams, _as_conductances

# --------------------------------------------------------------------------- α, β


class IRDropWarning(UserWarning):
    """IR drop changes an array's column currents by more than the threshold."""


@dataclass(frozen=True)
class IRDropFigures:
    """First-order IR-drop figures of merit of one array (DESIGN.md §7).

    alpha = R_wire·Ḡ·N² (wire drop), beta = R_contact·Ḡ·N (contact drop), with Ḡ
    the mean cell conductance. For an N×M array they are generalized as
    alpha = R_wire·Ḡ·(N² + M²)/2 and beta = R_contact·Ḡ·(N + M)/2 (the row wire
    carries M cells, the column wire N), which is the formula above when N = M.
    expected_error = α/2 + 2β is the first-order relative loss of column current.
    """

    alpha: float
    beta: float

    @property
    def expected_error(self) -> float:
        return irdrop_expected_error(self.alpha, self.beta)


def alpha_beta(G: ArrayLike, params: MeshParams) -> IRDropFigures:
    """α and β of an array (see `IRDropFigures`)."""
    alpha, beta = irdrop_alpha_beta(_as_conductances(G), params.r_wire_ohm, params.r_contact_ohm)
    return IRDropFigures(alpha=alpha, beta=beta)


def warn_if_irdrop_significant(
    G: ArrayLike, params: MeshParams, *, where: str = "array", threshold: float = 0.01
) -> IRDropFigures:
    """Warn (IRDropWarning) when α/2 + 2β exceeds `threshold` (1 % by default)."""
    figures = alpha_beta(G, params)
    if figures.expected_error > threshold:
        warnings.warn(
            f"{where}: IR drop is expected to change column currents by "
            f"{100 * figures.expected_error:.1f} % (alpha={figures.alpha:.3g}, "
            f"beta={figures.beta:.3g}, threshold {100 * threshold:.1f} %); "
            "use effective weights or pre-compensate the conductances",
            IRDropWarning,
            stacklevel=2,
        )
    return figures
