"""Conjugate-gradient solves of the mesh, and their error against the direct solve.

Part of `anncc.runtime.irdrop` (see its docstring for the circuit and the methods).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import lapack

from anncc.errors import AnnccError

try:  # CHOLMOD (scikit-sparse over Debian's libsuitesparse-dev) is optional.
    from sksparse.cholmod import analyze as _cholmod_analyze  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _cholmod_analyze = None
from anncc.runtime.irdrop.direct import solve_direct
from anncc.runtime.irdrop.mesh import (
    MeshParams,
    _as_conductances,
    _as_inputs,
    _currents_from_nodes,
    _mesh_pattern,
    _norton_rhs,
)

# --------------------------------------------------------------------------- CG


@dataclass(frozen=True)
class CGResult:
    """Column currents from conjugate gradients, and how the iteration ended.

    currents: [B, M] (or [M] for a single input vector).
    iterations: CG iterations taken (the slowest right-hand side).
    relative_residual: max over right-hand sides of ||b - A x|| / ||b||.
    converged: whether every right-hand side reached `rtol`.
    """

    currents: NDArray[np.float64]
    iterations: int
    relative_residual: float
    converged: bool


class _LinePreconditioner:
    """Block-Jacobi over wires: each row wire and each column wire a tridiagonal block.

    P = blockdiag(A_rows, A_cols), A restricted to the row nodes and to the
    column nodes; each keeps its wires, its contact and the full cell
    conductance on its diagonal, and only the cell coupling r(i,j)-c(i,j) is
    dropped. P is SPD. Applied as a symmetric block Gauss-Seidel sweep over the
    two line groups (rows, columns, rows) — P_SGS = (D+L)D⁻¹(D+Lᵀ), also SPD —
    which converges in fewer iterations than plain block-Jacobi. Each apply is
    three LAPACK `pttrs` solves over all lines at once; portable to torch.
    """

    def __init__(self, G: NDArray[np.float64], params: MeshParams) -> None:
        N, M = G.shape
        self.G = G
        self.n_rows, self.n_cols = N, M
        gw, gc = params.g_wire_s, params.g_contact_s
        # Row lines, row-major: diagonal and off-diagonal of the NM tridiagonal.
        d_rows = G.copy()
        d_rows += 2.0 * gw
        d_rows[:, 0] += gc - gw
        d_rows[:, -1] -= gw
        e_rows = np.full((N, M), -gw)
        e_rows[:, -1] = 0.0  # no wire between the end of one row and the next row
        # Column lines, column-major.
        d_cols = G.T.copy()
        d_cols += 2.0 * gw
        d_cols[:, 0] -= gw
        d_cols[:, -1] += gc - gw
        e_cols = np.full((M, N), -gw)
        e_cols[:, -1] = 0.0
        self._rows = self._factor(d_rows.ravel(), e_rows.ravel()[:-1])
        self._cols = self._factor(d_cols.ravel(), e_cols.ravel()[:-1])
        self._g_row_major = G.ravel()[:, None]
        self._g_col_major = G.T.ravel()[:, None]

    @staticmethod
    def _factor(d: NDArray[np.float64], e: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        d_f, e_f, info = lapack.dpttrf(d, e)
        if info != 0:
            raise AnnccError(f"line preconditioner is not positive definite (pttrf info={info})")
        return d_f, e_f

    @staticmethod
    def _solve(factor: tuple[NDArray, NDArray], b: NDArray[np.float64]) -> NDArray[np.float64]:
        x, info = lapack.dpttrs(factor[0], factor[1], b)
        if info != 0:
            raise AnnccError(f"line preconditioner solve failed (pttrs info={info})")
        return x

    def _to_col_major(self, x_rows: NDArray[np.float64]) -> NDArray[np.float64]:
        N, M = self.n_rows, self.n_cols
        return x_rows.reshape(N, M, -1).transpose(1, 0, 2).reshape(N * M, -1)

    def _to_row_major(self, x_cols: NDArray[np.float64]) -> NDArray[np.float64]:
        N, M = self.n_rows, self.n_cols
        return x_cols.reshape(M, N, -1).transpose(1, 0, 2).reshape(N * M, -1)

    def apply(self, r: NDArray[np.float64]) -> NDArray[np.float64]:
        """z = P_SGS⁻¹ r for r [2NM, B] in natural numbering."""
        nm = self.n_rows * self.n_cols
        r_row, r_col = r[:nm], r[nm:]
        # Forward sweep: rows, then columns with the rows' cell currents.
        y_row = self._solve(self._rows, r_row)
        z_col = self._solve(self._cols, r_col + self._g_col_major * self._to_col_major(y_row))
        # Backward sweep: rows again with the columns' cell currents.
        z_row = self._solve(self._rows, r_row + self._g_row_major * self._to_row_major(z_col))
        return np.concatenate([z_row, z_col])


def solve_cg(
    G: ArrayLike,
    V: ArrayLike,
    params: MeshParams,
    *,
    rtol: float = 1e-12,
    max_iterations: int = 2000,
    x0: NDArray[np.float64] | None = None,
) -> CGResult:
    """Column currents by preconditioned conjugate gradients (many inputs at once).

    Each right-hand side runs its own CG recurrence (vectorized over B) until
    ||b - A x|| <= rtol·||b||; the preconditioner is `_LinePreconditioner`.
    `x0` [2NM, B] (natural numbering) warm-starts from a previous solution.
    """
    g = _as_conductances(G)
    N, M = g.shape
    v, single = _as_inputs(V, N)
    if params.is_ideal:
        out = v.T @ g
        return CGResult(out[0] if single else out, 0, 0.0, True)
    pattern = _mesh_pattern(N, M, "mmd")  # natural numbering
    A = pattern.matrix(g, params).tocsr()  # symmetric: the CSC arrays read as CSR of A
    b = _norton_rhs(v, params, M, pattern.n_nodes)
    precond = _LinePreconditioner(g, params)

    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=np.float64).reshape(b.shape)
    r = b - A @ x
    b_norm = np.linalg.norm(b, axis=0)
    b_norm[b_norm == 0.0] = 1.0
    z = precond.apply(r)
    p = z.copy()
    rz = np.einsum("nb,nb->b", r, z)
    rel = np.linalg.norm(r, axis=0) / b_norm
    iterations = 0
    while iterations < max_iterations and np.any(rel > rtol):
        active = rel > rtol  # converged columns stop moving
        Ap = A @ p
        pAp = np.einsum("nb,nb->b", p, Ap)
        alpha = np.where(active & (pAp > 0), rz / np.where(pAp > 0, pAp, 1.0), 0.0)
        x += alpha * p
        r -= alpha * Ap
        z = precond.apply(r)
        rz_new = np.einsum("nb,nb->b", r, z)
        beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
        p = z + beta * p
        rz = rz_new
        rel = np.linalg.norm(r, axis=0) / b_norm
        iterations += 1
    # Report the true residual, not the recurrence's.
    rel_true = np.linalg.norm(b - A @ x, axis=0) / b_norm
    currents = _currents_from_nodes(x, g)
    return CGResult(
        currents=currents[0] if single else currents,
        iterations=iterations,
        relative_residual=float(rel_true.max()),
        converged=bool(np.all(rel <= rtol)),
    )


@dataclass(frozen=True)
class CGErrorReport:
    """CG against the exact direct solve on the same array and inputs."""

    max_relative_error: float
    iterations: int
    relative_residual: float
    converged: bool


def cg_error_vs_direct(
    G: ArrayLike, V: ArrayLike, params: MeshParams, *, rtol: float = 1e-12
) -> CGErrorReport:
    """Solve with CG and with `DirectMeshSolver`; report the max relative current error.

    The error is max |I_cg - I_direct| / max |I_direct| per input vector (so a
    column with almost no current does not dominate), then the max over inputs.
    """
    cg = solve_cg(G, V, params, rtol=rtol)
    exact = solve_direct(G, V, params)
    i_cg = np.atleast_2d(cg.currents)
    i_ex = np.atleast_2d(exact)
    scale = np.abs(i_ex).max(axis=1, keepdims=True)
    scale[scale == 0.0] = 1.0
    err = float((np.abs(i_cg - i_ex) / scale).max())
    return CGErrorReport(err, cg.iterations, cg.relative_residual, cg.converged)
