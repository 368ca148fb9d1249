"""One description of a programmed array's resistive mesh, read by the runtime and by SPICE.

`ArrayMesh` is what both the runtime's IR-drop solve (`anncc.runtime.analog`,
through `effective_weights`) and the SPICE netlist generator
(`anncc.backends.spice.netlist`) read, so the two cannot describe different
circuits. The topology is `anncc.runtime.irdrop`'s (see its docstring): rows
driven from the left through `r_contact_ohm`, a wire segment `r_wire_ohm` between
adjacent cell sites on rows and columns, columns sensed at the bottom through
`r_contact_ohm` into a virtual ground.

A cell is its programmed conductance `g_s[i, j]` in series with an access
resistance `r_access_ohm` (a 1T1R/2T1R cell's access transistor in its linear
region; 0 when the target has none). A cell with `g_s == 0` (a cmos level-0
site: no resistor) is an open circuit. The solver sees the series combination
`cell_conductances_s`; the netlist writes the two resistors separately.

The periphery is designed for the cell as built: one ADC count is the level step
of the cell *with* its access device in series (`sensed_step_s`), so the access
resistance scales the signal but is not an error; the runtime's count matrices
(`anncc.runtime.analog.count_matrix`), the SPICE comparison
(`anncc.backends.spice.arrays`) and the IR-drop sizing (`anncc.passes._irdrop_sizing`)
all take it from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anncc.errors import AnnccError

__all__ = ["ArrayMesh", "MeshElement", "sensed_step_s", "series_conductance"]


def series_conductance(g_s: Any, r_access_ohm: float, inplace: bool = False) -> Any:
    """A cell of conductance `g_s` in series with its access resistance: 1/(1/G + R_a).

    A numpy array may hold open sites (`g_s == 0`, a cmos level-0 site), which stay
    open; a tensor or a number must be > 0. `inplace`: a tensor is overwritten with
    the result (the same numbers, without two temporaries of its size).
    """
    if r_access_ohm == 0.0:
        return g_s
    if inplace and hasattr(g_s, "reciprocal_"):  # a tensor
        return g_s.reciprocal_().add_(r_access_ohm).reciprocal_()
    if isinstance(g_s, np.ndarray):
        with np.errstate(divide="ignore"):
            return np.where(g_s > 0, 1.0 / (1.0 / np.where(g_s > 0, g_s, 1.0) + r_access_ohm), 0.0)
    return 1.0 / (1.0 / g_s + r_access_ohm)


def sensed_step_s(target: Any) -> float:
    """One level step as the column senses it: (g_max − g_min) of the cell in series with the
    target's access device (`r_access_ohm`), over the levels' count (`target.delta_g_s` when
    there is no access device). The ADC's count unit is this step times the DAC's volts per
    step: a sense chain is sized for the cells as built (access transistor included), as a
    program-and-verify loop reads them through the same transistor."""
    ra = float(getattr(target, "r_access_ohm", 0.0))
    if ra == 0.0:
        return float(target.delta_g_s)
    lo = series_conductance(float(target.g_min_s), ra)
    hi = series_conductance(float(target.g_max_s), ra)
    return (hi - lo) / (target.levels - 1)


@dataclass(frozen=True)
class MeshElement:
    """One two-terminal resistor of the mesh: kind, SPICE-style name, nodes, resistance (ohm).

    kind is one of "row_contact", "row_wire", "access", "cell", "col_wire", "col_contact".
    """

    kind: str
    name: str
    n1: str
    n2: str
    r_ohm: float


@dataclass(frozen=True, eq=False)
class ArrayMesh:
    """A programmed array as a resistive mesh: cells [N, M] (siemens) and parasitics (ohms).

    g_s: programmed cell conductances, every physical row and column (reference
        column and spares included); read-only float64.
    r_wire_ohm, r_contact_ohm: as `anncc.runtime.irdrop.MeshParams` (both 0 = ideal).
    r_access_ohm: series access resistance of every cell (0 = none).
    bias: bias-dependent MTJ cells (`anncc.runtime.mesh_newton.MtjCells`, whose
        conductance at the read bias is `g_s`), or None for linear cells. With it,
        `column_currents` solves the nonlinear mesh with Newton steps and the
        netlist writes each MTJ as a B-source of the same closed form.
    """

    g_s: NDArray[np.float64]
    r_wire_ohm: float = 0.0
    r_contact_ohm: float = 0.0
    r_access_ohm: float = 0.0
    bias: Any = None

    def __post_init__(self) -> None:
        g = np.array(self.g_s, dtype=np.float64)
        if g.ndim != 2 or not np.all(np.isfinite(g)) or np.any(g < 0):
            raise AnnccError(f"an array mesh needs finite conductances >= 0 [N, M], got {g.shape}")
        if not (np.isfinite(self.r_access_ohm) and self.r_access_ohm >= 0):
            raise AnnccError(f"r_access_ohm must be >= 0, got {self.r_access_ohm}")
        g.setflags(write=False)
        object.__setattr__(self, "g_s", g)
        self.params  # validates the parasitics  # noqa: B018

    @classmethod
    def from_target(cls, g_s: Any, target: Any, levels: Any = None) -> ArrayMesh:
        """The mesh of conductances `g_s` with the target's wire, contact and access resistances.

        levels: the programmed levels (after faults) of a target with bias-dependent
        cells (`BIAS_DEPENDENT`): then the cells are `MtjCells` (`bias`).
        """
        g = g_s.detach().to("cpu").double().numpy() if hasattr(g_s, "detach") else g_s
        g = np.asarray(g, dtype=np.float64)
        bias = None
        if levels is not None and bool(getattr(target, "BIAS_DEPENDENT", False)):
            from anncc.runtime.mesh_newton import MtjCells

            lv = levels.detach().to("cpu").numpy() if hasattr(levels, "detach") else levels
            bias = MtjCells.from_programmed(g, lv, target)
        return cls(g, float(getattr(target, "r_wire_ohm", 0.0)),
                   float(getattr(target, "r_contact_ohm", 0.0)),
                   float(getattr(target, "r_access_ohm", 0.0)), bias)

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_s.shape  # type: ignore[return-value]

    @property
    def params(self):  # -> MeshParams (imported lazily: irdrop pulls in scipy)
        from anncc.runtime.irdrop import MeshParams

        return MeshParams(self.r_wire_ohm, self.r_contact_ohm)

    @property
    def cell_conductances_s(self) -> NDArray[np.float64]:
        """Each site's conductance with its access resistance in series (what the solver sees;
        an open site, `g_s == 0`, stays open)."""
        return series_conductance(self.g_s, self.r_access_ohm)

    def effective_weights(self) -> NDArray[np.float64]:
        """G_eff [N, M]: column currents are exactly `V @ G_eff` (`irdrop.effective_weights`)."""
        from anncc.runtime.irdrop import effective_weights

        return effective_weights(self.cell_conductances_s, self.params)

    def column_currents(self, v: Any) -> NDArray[np.float64]:
        """Column currents [B, M] (amperes) for row voltages [B, N].

        Bias-dependent cells (`bias`): Newton's method on the mesh (`mesh_newton.solve_biased`).
        """
        if self.bias is not None:
            from anncc.runtime.mesh_newton import solve_biased

            return solve_biased(self, v)
        return np.asarray(v, dtype=np.float64) @ self.effective_weights()

    def elements(self) -> Iterator[MeshElement]:
        """Every resistor of the mesh in netlist order (rows, cells, columns).

        Nodes: `in{i}` row driver, `r{i}_{j}` / `c{i}_{j}` row and column node at
        site (i, j), `a{i}_{j}` between access resistor and cell, `out{j}` the
        column's sense node. An ideal mesh (no parasitics) joins each row's sites
        to `in{i}` and each column's sites to `out{j}` directly (no wire elements).
        """
        for t in self.element_tuples():
            yield MeshElement(*t)

    def element_tuples(self) -> Iterator[tuple[str, str, str, str, float]]:
        """`elements()` as plain (kind, name, n1, n2, r_ohm) tuples (fast, for writers)."""
        n, m = self.shape
        ideal = self.params.is_ideal

        def rnode(i: int, j: int) -> str:
            return f"in{i}" if ideal else f"r{i}_{j}"

        def cnode(i: int, j: int) -> str:
            return f"out{j}" if ideal else f"c{i}_{j}"

        rc, rw, ra = self.r_contact_ohm, self.r_wire_ohm, self.r_access_ohm
        if not ideal:
            for i in range(n):
                yield ("row_contact", f"Rcr{i}", f"in{i}", f"r{i}_0", rc)
                for j in range(m - 1):
                    yield ("row_wire", f"Rwr{i}_{j}", f"r{i}_{j}", f"r{i}_{j + 1}", rw)
        g = self.g_s
        r_cell = np.divide(1.0, g, out=np.full(g.shape, np.inf), where=g > 0).tolist()
        for i in range(n):
            row = r_cell[i]
            for j in range(m):
                r = row[j]
                if r == np.inf:
                    continue
                if ra > 0:
                    yield ("access", f"Ra{i}_{j}", rnode(i, j), f"a{i}_{j}", ra)
                    yield ("cell", f"Rx{i}_{j}", f"a{i}_{j}", cnode(i, j), r)
                else:
                    yield ("cell", f"Rx{i}_{j}", rnode(i, j), cnode(i, j), r)
        if not ideal:
            for j in range(m):
                for i in range(n - 1):
                    yield ("col_wire", f"Rwc{i}_{j}", f"c{i}_{j}", f"c{i + 1}_{j}", rw)
                yield ("col_contact", f"Rcc{j}", f"c{n - 1}_{j}", f"out{j}", rc)
