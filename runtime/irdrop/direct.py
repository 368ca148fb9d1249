"""Direct (sparse LU / CHOLMOD / Schur) solves of the mesh, and effective weights.

Part of `anncc.runtime.irdrop` (see its docstring for the circuit and the methods).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from anncc.errors import AnnccError

try:  # CHOLMOD (scikit-sparse over Debian's libsuitesparse-dev) is optional.
    from sksparse.cholmod import analyze as _cholmod_analyze  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _cholmod_analyze = None
from anncc.runtime.irdrop.dense_nd import _DENSE_ND_MIN_SITES, _nd_terminal_matrix, _single_threaded_blas
from anncc.runtime.irdrop.mesh import (
    _RHS_BLOCK_BYTES,
    Backend,
    MeshParams,
    Ordering,
    _as_conductances,
    _as_inputs,
    _currents_from_nodes,
    _mesh_pattern,
    _norton_rhs,
    cholmod_available,
    ideal_currents,
)

# --------------------------------------------------------------------------- direct


class DirectMeshSolver:
    """The exact reference: one direct factorization of the SPD nodal matrix.

    backend: "dense-nd" (the whole mesh reduced onto its N + M terminals by nested
        dissection with dense blocks, see `_nd_terminal_matrix`; then a dense
        Cholesky of that (N+M)×(N+M) matrix), "cholmod" (scikit-sparse; its own
        fill-reducing ordering), "splu" (SciPy SuperLU, symmetric mode, no
        pivoting), or "auto": dense-nd from 64×64 cells up (`_DENSE_ND_MIN_SITES`),
        below that CHOLMOD when importable, else SuperLU.
    ordering: for SuperLU, "nested-dissection" (geometric, cached per shape; the
        default, see `_nested_dissection`) or "mmd" (SuperLU's MMD on A+Aᵀ).
        dense-nd has its own dissection and ignores it.

    The pattern and its ordering (dense-nd: its dissection plan) are cached per
    array shape; a new array of the same shape only refills values and refactors.
    dense-nd keeps no interior voltages: `node_voltages` factors the full mesh with
    SuperLU on first use.
    """

    def __init__(
        self,
        G: ArrayLike,
        params: MeshParams,
        *,
        backend: Backend = "auto",
        ordering: Ordering = "nested-dissection",
    ) -> None:
        self.G = _as_conductances(G)
        self.params = params
        self.shape: tuple[int, int] = self.G.shape  # type: ignore[assignment]
        self.ordering: Ordering = ordering
        self._fallback: DirectMeshSolver | None = None
        self._terminal_factor: tuple[NDArray[np.float64], bool] | None = None
        auto = backend == "auto"
        if auto:
            backend = _auto_backend(*self.shape)
        if backend not in ("dense-nd", "splu", "cholmod"):
            raise AnnccError(
                f"unknown backend {backend!r}", hint="use 'auto', 'dense-nd', 'splu' or 'cholmod'"
            )
        if backend == "cholmod" and not cholmod_available():
            raise AnnccError(
                "the CHOLMOD backend needs scikit-sparse",
                hint="apt-get install -y libsuitesparse-dev && pip install scikit-sparse",
            )
        self.backend: str = backend
        self._solve: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None
        if params.is_ideal:
            return
        if backend == "dense-nd":
            self._terminal_factor = _terminal_cholesky(self.G, params)
            return
        if backend == "cholmod":
            try:  # CHOLMOD orders the natural-numbered matrix itself
                self._pattern = _mesh_pattern(*self.shape, "mmd")
                self._solve = _cholmod_factor(self._pattern.matrix(self.G, params), self.shape)
                return
            except (AttributeError, TypeError):
                if not auto:
                    raise
                self.backend = "splu"  # a scikit-sparse whose API is not 0.4's
        self._pattern = _mesh_pattern(*self.shape, ordering)
        permc = "NATURAL" if ordering == "nested-dissection" else "MMD_AT_PLUS_A"
        self._solve = _splu(self._pattern.matrix(self.G, params), permc, self.shape).solve

    def node_voltages(self, V: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Row-node and column-node voltages, each [B, N, M], for inputs V [N, B] (or [N])."""
        N, M = self.shape
        v, _ = _as_inputs(V, N)
        if self._terminal_factor is not None:  # dense-nd keeps no interior
            if self._fallback is None:
                self._fallback = DirectMeshSolver(self.G, self.params, backend="splu", ordering=self.ordering)
            return self._fallback.node_voltages(v)
        if self._solve is None:
            return (
                np.broadcast_to(v.T[:, :, None], (v.shape[1], N, M)).copy(),
                np.zeros((v.shape[1], N, M)),
            )
        x = self._node_solution(v)
        row_v = x[: N * M].reshape(N, M, -1).transpose(2, 0, 1)
        col_v = x[N * M :].reshape(M, N, -1).transpose(2, 1, 0)
        return row_v, col_v

    def column_currents(self, V: ArrayLike) -> NDArray[np.float64]:
        """Currents into the virtual grounds: [B, M] for V [N, B], [M] for V [N]."""
        N, M = self.shape
        v, single = _as_inputs(V, N)
        if self._terminal_factor is not None:
            out = _terminal_currents(self._terminal_factor, v, self.params)
        elif self._solve is None:
            out = v.T @ self.G
        else:
            n_nodes = 2 * N * M
            block = max(1, _RHS_BLOCK_BYTES // (8 * n_nodes))
            out = np.empty((v.shape[1], M))
            for s in range(0, v.shape[1], block):
                x = self._node_solution(v[:, s : s + block])
                out[s : s + block] = _currents_from_nodes(x, self.G)
        return out[0] if single else out

    def _node_solution(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        """Node voltages [2NM, B] in natural numbering."""
        assert self._solve is not None
        pat = self._pattern
        b = _norton_rhs(v, self.params, self.shape[1], pat.n_nodes)
        x_perm = self._solve(np.ascontiguousarray(b[pat.perm]))
        x_perm = np.asarray(x_perm).reshape(pat.n_nodes, -1)
        return x_perm[pat.inverse_perm]


def _auto_backend(n_rows: int, n_cols: int) -> str:
    if n_rows * n_cols >= _DENSE_ND_MIN_SITES:
        return "dense-nd"
    return "cholmod" if cholmod_available() else "splu"


def _terminal_cholesky(G: NDArray[np.float64], params: MeshParams) -> tuple[NDArray[np.float64], bool]:
    """Cholesky factor of the terminal matrix K = S + I/R_contact (dense-nd).

    S is the mesh's Schur complement onto its terminals [r(i,0) for i; c(N-1,j)
    for j] without the contacts; each terminal's contact to its source or virtual
    ground adds 1/R_contact to its diagonal.
    """
    try:
        with _single_threaded_blas():
            K = _nd_terminal_matrix(G, params.g_wire_s)
            K.flat[:: K.shape[0] + 1] += params.g_contact_s
            return cho_factor(K, lower=True, check_finite=False)
    except np.linalg.LinAlgError as e:  # cannot happen with R_wire > 0
        raise AnnccError(f"the {G.shape} mesh's nodal matrix is not positive definite: {e}") from e


def _terminal_currents(
    factor: tuple[NDArray[np.float64], bool], v: NDArray[np.float64], params: MeshParams
) -> NDArray[np.float64]:
    """Column currents [B, M] from the terminal factor: K x = [V/R_contact; 0], I_j = x_c(N-1,j)/R_contact."""
    N = v.shape[0]
    b = np.zeros((factor[0].shape[0], v.shape[1]))
    b[:N] = v * params.g_contact_s
    with _single_threaded_blas():
        x = cho_solve(factor, b, check_finite=False)
    return (params.g_contact_s * x[N:]).T


def _splu(A: sp.csc_matrix, permc_spec: str, shape: tuple[int, int]) -> spla.SuperLU:
    """SuperLU in symmetric mode without pivoting (A is SPD, so the diagonal is safe)."""
    try:
        return spla.splu(
            A, permc_spec=permc_spec, diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
    except RuntimeError as e:  # exactly singular: cannot happen with R_contact > 0
        raise AnnccError(f"the {shape} mesh's nodal matrix is singular: {e}") from e


_CHOLMOD_SYMBOLIC: dict[tuple[int, int], object] = {}


def _cholmod_factor(A: sp.csc_matrix, shape: tuple[int, int]):  # type: ignore[no-untyped-def]
    """CHOLMOD numeric factorization reusing one symbolic analysis per shape."""
    symbolic = _CHOLMOD_SYMBOLIC.get(shape)
    if symbolic is None:
        symbolic = _cholmod_analyze(A)  # type: ignore[misc]
        _CHOLMOD_SYMBOLIC[shape] = symbolic
    factor = symbolic.cholesky(A)  # type: ignore[attr-defined]
    return factor.solve_A


def solve_direct(
    G: ArrayLike,
    V: ArrayLike,
    params: MeshParams,
    *,
    backend: Backend = "auto",
    ordering: Ordering = "nested-dissection",
) -> NDArray[np.float64]:
    """Exact column currents [B, M] for inputs V [N, B] ([M] for V [N])."""
    return DirectMeshSolver(G, params, backend=backend, ordering=ordering).column_currents(V)


def effective_weights(
    G: ArrayLike,
    params: MeshParams,
    *,
    backend: Backend = "auto",
    ordering: Ordering = "nested-dissection",
) -> NDArray[np.float64]:
    """IR-drop-aware effective conductances G_eff [N, M]: column currents = V @ G_eff.

    The mesh is linear, so row i of G_eff is the column-current response to 1 V
    on row i and 0 V on the others. dense-nd (the default from 64×64 cells up)
    computes the Schur complement K of the whole mesh onto its N + M terminals
    directly; G_eff is then the N unit inputs solved against K as one block. With
    SuperLU and the nested-dissection ordering the terminals (row inputs, column
    outputs) are ordered last, so one factorization leaves K in the trailing block
    of L and U, and G_eff follows from two dense triangular solves. Otherwise
    (CHOLMOD, MMD) the N unit inputs are solved as blocks of right-hand sides.
    Arrays of at most `blocks.MAX_ROWS` rows ("auto") are solved by column blocks
    instead (`anncc.runtime.irdrop.blocks`, exact, many arrays at once).
    Either way it reproduces the direct solve to ~1e-12 relative; after it, one
    input is one dense matrix product. With no parasitics it is G itself.
    """
    g = _as_conductances(G)
    if params.is_ideal:
        return g.copy()
    from anncc.runtime.irdrop.blocks import MAX_ROWS, effective_weights_batch

    if backend == "auto" and g.shape[0] <= MAX_ROWS:  # small arrays: column blocks
        return effective_weights_batch(g[None], params.r_wire_ohm, params.r_contact_ohm)[0].numpy()
    resolved = _auto_backend(*g.shape) if backend == "auto" else backend
    if resolved == "dense-nd":
        factor = _terminal_cholesky(g, params)
        return _terminal_currents(factor, np.eye(g.shape[0]), params)
    if resolved == "splu" and ordering == "nested-dissection":
        return _effective_weights_schur(g, params)
    solver = DirectMeshSolver(g, params, backend=backend, ordering=ordering)
    return solver.column_currents(np.eye(g.shape[0]))


def _effective_weights_schur(G: NDArray[np.float64], params: MeshParams) -> NDArray[np.float64]:
    """G_eff from the terminals' block of one SuperLU factorization (see `effective_weights`).

    With the terminals T last, A = L U gives L_TT U_TT = S, the Schur complement
    onto T; the Norton inputs are b_T = [V/R_contact; 0], so x_T = U_TT⁻¹ L_TT⁻¹ b_T,
    and column j's current is x(c(N-1,j))/R_contact.
    """
    N, M = G.shape
    pattern = _mesh_pattern(N, M, "nested-dissection", True)
    lu = _splu(pattern.matrix(G, params), "NATURAL", (N, M))
    n, k = pattern.n_nodes, N + M
    tail = np.arange(n - k, n)
    if not (np.array_equal(lu.perm_c[n - k :], tail) and np.array_equal(lu.perm_r[n - k :], tail)):
        # SuperLU moved the terminals (it may postorder its elimination tree):
        # fall back to the N unit inputs as right-hand sides.
        b = _norton_rhs(np.eye(N), params, M, n)
        x = lu.solve(np.ascontiguousarray(b[pattern.perm]))[pattern.inverse_perm]
        return _currents_from_nodes(x, G)
    L_tt = lu.L[:, n - k :][n - k :].toarray()
    U_tt = lu.U[:, n - k :][n - k :].toarray()
    b_t = np.zeros((k, N))
    b_t[np.arange(N), np.arange(N)] = params.g_contact_s
    y = solve_triangular(L_tt, b_t, lower=True, unit_diagonal=True, check_finite=False)
    x_t = solve_triangular(U_tt, y, lower=False, check_finite=False)
    return (params.g_contact_s * x_t[N:]).T


def mean_irdrop_error(G: ArrayLike, V: ArrayLike, params: MeshParams) -> float:
    """Mean over columns (and inputs) of |I - I_ideal| / |I_ideal|, I from the exact solve.

    Columns whose ideal current is zero are left out of the mean.
    """
    exact = np.atleast_2d(solve_direct(G, V, params))
    ideal = np.atleast_2d(ideal_currents(G, V))
    nonzero = ideal != 0.0
    return float(np.mean(np.abs(exact - ideal)[nonzero] / np.abs(ideal[nonzero])))
