"""Bias-dependent MTJ cells on the array mesh, solved with Newton steps.

An MTJ's antiparallel conductance falls as its own bias rises (TMR(V) of
`anncc.ir.contract.tmr_at_bias`), so with wire and contact resistances a
cell's current depends on the voltage the mesh leaves across it, which depends
on every other cell's current: a nonlinear resistive network. This module
solves it exactly (to `tol` volts) for given row voltages.

`MtjCells` is the per-cell device of an `ArrayMesh` (`ArrayMesh.bias`): each
cell's current is `devices.mtj_cell_current` (I and dI/dV at its own bias),
written in the closed form the SPICE netlist uses,

    I(V) = V · (a + b / (1 + TMR(V))),   TMR(V) = TMR0 / (1 + (V/V_h)²),

with `a = s·f/R_P` (the parallel part) and `b = s·(1−f)/R_P` (the antiparallel
part) per cell; `a` and `b` are read back from `mtj_cell_current` itself (two
biases, exact to rounding), so the netlist and the runtime evaluate the same
device (a test compares them).

`solve_biased(mesh, v)` is Newton's method on the nodal equations of the mesh
of `anncc.runtime.mesh.ArrayMesh` (rows driven through R_contact, wire
segments, cells, columns sensed through R_contact into a virtual ground): each
step solves `J dx = −F` with `J = L_wires + Aᵀ diag(dI/dV) A` by SciPy's
SuperLU. A cell with an access resistance R_a in series is one branch whose
MTJ voltage V_m solves `V_m + R_a·I(V_m) = V` (an inner scalar Newton per
cell); its incremental conductance is `g/(1 + R_a g)`. Quadratic convergence:
3 to 5 steps from 0 V to 1e-13 V on the digits arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from anncc.errors import AnnccError
from anncc.ir.contract import tmr_at_bias, tmr_at_bias_derivative

if TYPE_CHECKING:
    from anncc.runtime.mesh import ArrayMesh

__all__ = ["MtjCells", "solve_biased"]


@dataclass(frozen=True, eq=False)
class MtjCells:
    """The bias-dependent devices of an array's cells: I(V) = V·(a + b/(1 + TMR(V))).

    a_s, b_s: [N, M] siemens (0 and 0: no device); tmr0, v_half_v: the target's
    TMR0 and V_h (`tmr_at_bias`). At the read bias the cell conducts its
    programmed g_s.
    """

    a_s: NDArray[np.float64]
    b_s: NDArray[np.float64]
    tmr0: float
    v_half_v: float

    @classmethod
    def from_programmed(cls, g_read_s: Any, levels: Any, target: Any) -> MtjCells:
        """The cells of a programmed MTJ array: `g_read_s` at the read bias, their `levels`.

        a and b come from `devices.mtj_cell_current` (the runtime's device model) at two
        biases: G(V) = I/V = a + b·h(V) with h = 1/(1 + TMR(V)) known, so two values fix them.
        """
        import torch

        from anncc.runtime import devices

        g = torch.as_tensor(np.asarray(g_read_s, dtype=np.float64))
        lv = torch.as_tensor(np.asarray(levels)).to(torch.int64)
        tmr0, vh = float(target.tmr0), float(target.tmr_v_half_v)
        v1, v2 = 0.25 * vh, 2.0 * vh
        g1 = (devices.mtj_cell_current(torch.tensor(v1), g, lv, target)[0] / v1).numpy()
        g2 = (devices.mtj_cell_current(torch.tensor(v2), g, lv, target)[0] / v2).numpy()
        h1 = 1.0 / (1.0 + tmr_at_bias(v1, tmr0, vh))
        h2 = 1.0 / (1.0 + tmr_at_bias(v2, tmr0, vh))
        b = (g1 - g2) / (h1 - h2)
        a = g1 - b * h1
        b = np.where(np.abs(b) <= 1e-12 * np.abs(g1), 0.0, b)  # fully parallel cells
        a = np.where(g.numpy() > 0, a, 0.0)
        b = np.where(g.numpy() > 0, b, 0.0)
        return cls(a, b, tmr0, vh)

    @property
    def shape(self) -> tuple[int, int]:
        return self.a_s.shape  # type: ignore[return-value]

    def current(self, v: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(I, dI/dV) of every cell at its bias v [..., N, M] (amperes, siemens)."""
        t = tmr_at_bias(v, self.tmr0, self.v_half_v)
        dt = tmr_at_bias_derivative(v, self.tmr0, self.v_half_v)
        h = 1.0 / (1.0 + t)
        g = self.a_s + self.b_s * h
        return v * g, g - v * self.b_s * h * h * dt

    def conductance_at(self, v: float) -> NDArray[np.float64]:
        """Every cell's conductance I/V at one bias v (> 0)."""
        return self.current(np.full(self.shape, float(v)))[0] / float(v)


def _branch(cells: MtjCells, r_access: float, v: NDArray[np.float64]
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(I, dI/dV) of each cell branch (access resistance in series with the MTJ) at branch voltage v."""
    if r_access == 0.0:
        return cells.current(v)
    vm = v.copy()
    for _ in range(60):
        i, g = cells.current(vm)
        step = (vm + r_access * i - v) / (1.0 + r_access * g)
        vm -= step
        if np.max(np.abs(step), initial=0.0) <= 1e-16 * max(1.0, float(np.max(np.abs(v), initial=0.0))):
            break
    i, g = cells.current(vm)
    return i, g / (1.0 + r_access * g)


def _wire_system(n: int, m: int, g_wire: float, g_contact: float) -> tuple[Any, Any]:
    """(L, A): the wires' nodal matrix [2nm, 2nm] and the cell incidence [nm, 2nm] (r − c)."""
    import scipy.sparse as sp

    nm = n * m
    r = np.arange(nm).reshape(n, m)
    c = nm + r
    rows, cols, vals = [], [], []

    def edge(p: NDArray[np.int64], q: NDArray[np.int64], g: float) -> None:
        p, q = p.ravel(), q.ravel()
        rows.extend([p, q, p, q])
        cols.extend([p, q, q, p])
        vals.extend([np.full(p.size, g), np.full(p.size, g), np.full(p.size, -g), np.full(p.size, -g)])

    edge(r[:, :-1], r[:, 1:], g_wire)
    edge(c[:-1, :], c[1:, :], g_wire)
    ends = np.concatenate([r[:, 0], c[-1, :]])  # row drivers and column sense contacts
    rows.append(ends)
    cols.append(ends)
    vals.append(np.full(ends.size, g_contact))
    lap = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(2 * nm, 2 * nm))
    k = np.arange(nm)
    inc = sp.csr_matrix((np.concatenate([np.ones(nm), -np.ones(nm)]),
                         (np.concatenate([k, k]), np.concatenate([r.ravel(), c.ravel()]))),
                        shape=(nm, 2 * nm))
    return lap, inc


def solve_biased(mesh: ArrayMesh, v: Any, *, tol_v: float = 1e-13, max_iter: int = 40
                 ) -> NDArray[np.float64]:
    """Column currents [B, M] (amperes) of row voltages [B, N] with bias-dependent cells.

    Newton's method on the mesh's nodal equations (module docstring), from 0 V,
    until no node moves by more than `tol_v`; AnnccError when it does not converge.
    Without `mesh.bias` the cells are the linear `mesh.g_s` (the same solve, one step).
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    cells = mesh.bias if mesh.bias is not None else MtjCells(
        mesh.g_s, np.zeros_like(mesh.g_s), 0.0, 1.0)
    n, m = mesh.shape
    vv = np.atleast_2d(np.asarray(v, dtype=np.float64))
    if vv.shape[1] != n:
        raise AnnccError(f"row voltages must be [B, {n}], got {vv.shape}")
    ra = float(mesh.r_access_ohm)
    if mesh.params.is_ideal:  # every cell sees its row's voltage
        i, _ = _branch(cells, ra, np.broadcast_to(vv[:, :, None], (vv.shape[0], n, m)).copy())
        return i.sum(axis=1)
    gw, gc = 1.0 / mesh.r_wire_ohm, 1.0 / mesh.r_contact_ohm
    lap, inc = _wire_system(n, m, gw, gc)
    out = np.empty((vv.shape[0], m))
    for k, row in enumerate(vv):
        rhs = np.zeros(2 * n * m)
        rhs[np.arange(n) * m] = gc * row
        x = np.zeros(2 * n * m)
        for _ in range(max_iter):
            vb = (inc @ x).reshape(n, m)
            i, g = _branch(cells, ra, vb)
            f = lap @ x - rhs + inc.T @ i.ravel()
            jac = (lap + inc.T @ sp.diags(g.ravel()) @ inc).tocsc()
            dx = splu(jac).solve(-f)
            x += dx
            if np.max(np.abs(dx)) <= tol_v:
                break
        else:
            raise AnnccError(f"the bias-dependent mesh solve did not converge in {max_iter} Newton steps")
        i, _ = _branch(cells, ra, (inc @ x).reshape(n, m))
        out[k] = i.sum(axis=0)
    return out
