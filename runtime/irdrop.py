"""IR drop in a crossbar array: the array as a linear resistive mesh.

Topology (the SPICE netlist of `anncc.backends.spice.mesh` is the same circuit,
element for element). An array of N rows (word lines) and M columns (bit lines)
has one row node r(i,j) and one column node c(i,j) at every cell site (i,j)::

    V_0 --Rc-- r(0,0) --Rw-- r(0,1) --Rw-- ... --Rw-- r(0,M-1)      row 0, driven from the left
                 |G00           |G01                     |
               c(0,0)         c(0,1)                  c(0,M-1)
                 Rw             Rw                       Rw
    V_1 --Rc-- r(1,0) --Rw-- r(1,1) --Rw-- ...
                 |G10           |G11
               c(1,0)         c(1,1)
                 Rw             Rw
                ...            ...
               c(N-1,0)       c(N-1,1)    ...         c(N-1,M-1)
                 Rc             Rc                       Rc
                 =              =                        =        virtual ground, 0 V
                I_0            I_1                     I_{M-1}    column currents

- Row i is driven by an ideal source V_i through the driver/contact resistance
  R_contact into r(i,0); a row-wire segment R_wire joins r(i,j) and r(i,j+1).
- The cell (i,j) is the conductance G[i,j] between r(i,j) and c(i,j).
- Column j runs from the top (row 0) to the bottom (row N-1): a column-wire
  segment R_wire joins c(i,j) and c(i+1,j); c(N-1,j) reaches the sense
  amplifier's virtual ground (0 V) through R_contact. The column current I_j is
  the current into that virtual ground. The worst-placed cell is (0, M-1): the
  farthest from both its driver and its sense amplifier.
- A reference column of level-0 cells (DESIGN.md §4) is just another column of
  G: the caller appends it, and its current comes back as one more column.

Nodal analysis with Norton sources (each V_i behind R_contact becomes a current
V_i/R_contact into r(i,0) in parallel with a conductance 1/R_contact to ground)
gives A x = b with A symmetric positive definite whenever R_contact > 0 (every
node reaches ground through wires, cells and contacts). Unknowns are numbered
with the row nodes first, row-major (r(i,j) -> i*M + j, so each row wire is a
contiguous tridiagonal block), then the column nodes, column-major
(c(i,j) -> N*M + j*N + i, so each column wire is one too).

The mesh is linear, so column currents are I = V @ G_eff with an IR-drop-aware
effective conductance matrix G_eff (`effective_weights`); with no parasitics,
G_eff = G and I = V @ G (the ideal crossbar, I_j = sum_i V_i G[i,j]).

Solvers:
- `DirectMeshSolver` / `solve_direct`: sparse direct factorization (CHOLMOD
  through scikit-sparse when it is importable, else SuperLU `splu` in symmetric
  mode, no pivoting), with the sparsity pattern, its value-refill index arrays and
  its fill-reducing ordering cached per array shape.
  The default ordering is a geometric nested dissection of the mesh.
- `effective_weights`: G_eff for the whole array from one factorization whose
  trailing block is the Schur complement onto the N + M terminals.
- `solve_cg`: preconditioned conjugate gradients with a line preconditioner
  (each row wire and each column wire a tridiagonal block, LAPACK `pttrf`/`pttrs`),
  many right-hand sides at once; `cg_error_vs_direct` reports its error. It
  converges in 5–30 iterations from 32×32 to 706×706 (rtol 1e-12).
`bench/bench_irdrop.py` times them against ngspice 39 side by side.
- `alpha_beta`, `expected_irdrop_error`, `warn_if_irdrop_significant`: the
  first-order figures of merit α = R_wire·Ḡ·N², β = R_contact·Ḡ·N and
  α/2 + 2β (DESIGN.md §7).

How large the effect is (measured with this module, `mean_irdrop_error`, seed 0:
R_wire 2.5 Ω, R_contact 50 Ω — Yi Li et al., Nature Electronics 2022, 706×706
array — cells uniform in 5–10 kΩ; mean over columns of |I_j − I_ideal_j| / I_ideal_j
against the ideal I = V·G):

| array | all rows at 0.1 V | 16 random binary inputs | α/2 + 2β |
|---|---|---|---|
| 8×8   | 11.0 % | 11.0 % | 12.3 % |
| 64×64 | 63.9 % | 63.8 % | 160 %  |

This topology reproduces DESIGN.md §7's 11 % and 64 %. The first-order estimate
α/2 + 2β is close while it is small and overestimates once it is large: the
loss saturates below 100 % because a lower current also means a lower drop.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import lapack, solve_triangular

from anncc.errors import AnnccError, TargetError

try:  # CHOLMOD (scikit-sparse over Debian's libsuitesparse-dev) is optional.
    from sksparse.cholmod import analyze as _cholmod_analyze  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _cholmod_analyze = None

__all__ = [
    "CGErrorReport",
    "CGResult",
    "DirectMeshSolver",
    "IRDropFigures",
    "IRDropWarning",
    "MeshParams",
    "alpha_beta",
    "cg_error_vs_direct",
    "cholmod_available",
    "effective_weights",
    "expected_irdrop_error",
    "ideal_currents",
    "mean_irdrop_error",
    "solve_cg",
    "solve_direct",
    "warn_if_irdrop_significant",
]

Backend = Literal["auto", "splu", "cholmod"]
Ordering = Literal["nested-dissection", "mmd"]

# Right-hand sides solved per block when a whole basis is pushed through a factor.
_RHS_BLOCK_BYTES = 128 * 2**20


@dataclass(frozen=True)
class MeshParams:
    """Parasitic resistances of a crossbar's wires.

    r_wire_ohm: one wire segment between adjacent cells, on a row and on a column.
    r_contact_ohm: the driver/contact resistance at each row's input and at each
        column's sense amplifier.

    Both zero is the ideal crossbar. Otherwise both must be positive: a zero
    resistance merges nodes, which the nodal system does not model (use a tiny
    value such as 1e-6 Ω instead).
    """

    r_wire_ohm: float
    r_contact_ohm: float

    def __post_init__(self) -> None:
        for name in ("r_wire_ohm", "r_contact_ohm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise TargetError(
                    f"must be a finite resistance >= 0 ohm, got {value!r}",
                    where=f"MeshParams.{name}",
                )
        if self.is_ideal:
            return
        if self.r_wire_ohm == 0.0 or self.r_contact_ohm == 0.0:
            raise TargetError(
                "a zero resistance is only allowed when both are zero (the ideal array)",
                where="MeshParams",
                hint="use a small positive value such as 1e-6 ohm",
            )

    @property
    def is_ideal(self) -> bool:
        """True when there are no parasitics: column currents are exactly V @ G."""
        return self.r_wire_ohm == 0.0 and self.r_contact_ohm == 0.0

    @property
    def g_wire_s(self) -> float:
        return 1.0 / self.r_wire_ohm

    @property
    def g_contact_s(self) -> float:
        return 1.0 / self.r_contact_ohm


def cholmod_available() -> bool:
    """Whether scikit-sparse's CHOLMOD could be imported (the `auto` backend uses it)."""
    return _cholmod_analyze is not None


# --------------------------------------------------------------------------- inputs


def _as_conductances(G: ArrayLike) -> NDArray[np.float64]:
    g = np.asarray(G, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise AnnccError(f"conductance matrix must be 2-D [N, M], got shape {g.shape}")
    if not np.all(np.isfinite(g)) or np.any(g < 0.0):
        raise AnnccError("cell conductances must be finite and >= 0 S")
    return g


def _as_inputs(V: ArrayLike, n_rows: int) -> tuple[NDArray[np.float64], bool]:
    """V as [N, B]; the flag says the caller passed one vector [N]."""
    v = np.asarray(V, dtype=np.float64)
    single = v.ndim == 1
    if single:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] != n_rows:
        raise AnnccError(
            f"input voltages must be [N] or [N, B] with N = {n_rows} rows, got shape {v.shape}"
        )
    return v, single


def mean_irdrop_error(G: ArrayLike, V: ArrayLike, params: MeshParams) -> float:
    """Mean over columns (and inputs) of |I - I_ideal| / |I_ideal|, I from the exact solve.

    Columns whose ideal current is zero are left out of the mean.
    """
    exact = np.atleast_2d(solve_direct(G, V, params))
    ideal = np.atleast_2d(ideal_currents(G, V))
    nonzero = ideal != 0.0
    return float(np.mean(np.abs(exact - ideal)[nonzero] / np.abs(ideal[nonzero])))


def ideal_currents(G: ArrayLike, V: ArrayLike) -> NDArray[np.float64]:
    """Column currents of the ideal crossbar, I = V·G: [B, M] for V [N, B] ([M] for V [N])."""
    g = _as_conductances(G)
    v, single = _as_inputs(V, g.shape[0])
    out = v.T @ g
    return out[0] if single else out


# --------------------------------------------------------------------------- pattern


@dataclass(frozen=True)
class _MeshPattern:
    """Sparsity pattern of the nodal matrix for one array shape and node ordering.

    The matrix is symmetric, so these arrays are at once its CSC and its CSR
    structure. Values are refilled as
    data = n_wire·g_wire + n_contact·g_contact + cell_sign·G.flat[cell_index].
    `perm[k]` is the natural node number of unknown k (identity for MMD).
    """

    shape: tuple[int, int]
    indptr: NDArray[np.int32]
    indices: NDArray[np.int32]
    n_wire: NDArray[np.int8]
    n_contact: NDArray[np.int8]
    cell_sign: NDArray[np.int8]
    cell_index: NDArray[np.int64]
    perm: NDArray[np.int64]
    inverse_perm: NDArray[np.int64]

    @property
    def n_nodes(self) -> int:
        return 2 * self.shape[0] * self.shape[1]

    def values(self, G: NDArray[np.float64], params: MeshParams) -> NDArray[np.float64]:
        data = self.n_wire * params.g_wire_s + self.n_contact * params.g_contact_s
        data += self.cell_sign * G.ravel()[self.cell_index]
        return data

    def matrix(self, G: NDArray[np.float64], params: MeshParams) -> sp.csc_matrix:
        n = self.n_nodes
        return sp.csc_matrix((self.values(G, params), self.indices, self.indptr), shape=(n, n))


def _node_numbers(n_rows: int, n_cols: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Natural node numbers [N, M] of the row nodes and of the column nodes."""
    i, j = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    row_node = i * n_cols + j
    col_node = n_rows * n_cols + j * n_rows + i
    return row_node, col_node


def _terminal_nodes(n_rows: int, n_cols: int) -> NDArray[np.int64]:
    """The mesh's terminals: r(i,0) for every row i, then c(N-1,j) for every column j."""
    row_node, col_node = _node_numbers(n_rows, n_cols)
    return np.concatenate([row_node[:, 0], col_node[-1, :]])


def _nested_dissection(
    n_rows: int, n_cols: int, *, terminals_last: bool = False, leaf_sites: int = 16
) -> NDArray[np.int64]:
    """Geometric nested-dissection ordering of the mesh's nodes (natural numbers).

    The mesh has a cheap separator: only row wires cross a vertical line, so the
    row nodes of one column of sites separate left from right (the column nodes of
    that column become a separate chain, ordered just before it); likewise the
    column nodes of one row of sites separate top from bottom. Measured on a
    256×256 array with SuperLU this gives 3.0 M nonzeros in L against 5.0 M with
    MMD on A+Aᵀ, and a factorization about twice as fast.
    """
    row_node, col_node = _node_numbers(n_rows, n_cols)
    order: list[NDArray[np.int64]] = []
    # Explicit stack instead of recursion: (r0, r1, c0, c1, emit_separator_only)
    stack: list[tuple[int, int, int, int, int]] = [(0, n_rows, 0, n_cols, -1)]
    # Post-order traversal: children first, then the separator of the parent.
    while stack:
        r0, r1, c0, c1, sep = stack.pop()
        if sep >= 0:
            if sep == 0:  # vertical cut at column c0
                order.append(col_node[r0:r1, c0])
                order.append(row_node[r0:r1, c0])
            else:  # horizontal cut at row r0
                order.append(row_node[r0, c0:c1])
                order.append(col_node[r0, c0:c1])
            continue
        h, w = r1 - r0, c1 - c0
        if h <= 0 or w <= 0:
            continue
        if h * w <= leaf_sites:
            order.append(row_node[r0:r1, c0:c1].ravel())
            order.append(col_node[r0:r1, c0:c1].ravel())
            continue
        if w >= h:
            m = (c0 + c1) // 2
            stack.append((r0, r1, m, m + 1, 0))
            stack.append((r0, r1, m + 1, c1, -1))
            stack.append((r0, r1, c0, m, -1))
        else:
            m = (r0 + r1) // 2
            stack.append((m, m + 1, c0, c1, 1))
            stack.append((m + 1, r1, c0, c1, -1))
            stack.append((r0, m, c0, c1, -1))
    perm = np.concatenate(order)
    if terminals_last:
        terminals = _terminal_nodes(n_rows, n_cols)
        is_terminal = np.zeros(perm.size, dtype=bool)
        is_terminal[terminals] = True
        perm = np.concatenate([perm[~is_terminal[perm]], terminals])
    return perm


@functools.lru_cache(maxsize=8)
def _mesh_pattern(
    n_rows: int, n_cols: int, ordering: Ordering, terminals_last: bool = False
) -> _MeshPattern:
    """Build (once per shape and ordering) the nodal matrix's structure."""
    N, M = n_rows, n_cols
    row_node, col_node = _node_numbers(N, M)
    cell = np.arange(N * M).reshape(N, M)

    wires_at_row_node = np.full((N, M), 2, dtype=np.int8)
    wires_at_row_node[:, 0] -= 1
    wires_at_row_node[:, -1] -= 1
    wires_at_col_node = np.full((N, M), 2, dtype=np.int8)
    wires_at_col_node[0, :] -= 1
    wires_at_col_node[-1, :] -= 1
    contact_at_row_node = np.zeros((N, M), dtype=np.int8)
    contact_at_row_node[:, 0] = 1
    contact_at_col_node = np.zeros((N, M), dtype=np.int8)
    contact_at_col_node[-1, :] = 1

    rows, cols, n_wire, n_contact, sign, index = [], [], [], [], [], []

    def add(a: NDArray, b: NDArray, w: ArrayLike, c: ArrayLike, s: int, k: ArrayLike) -> None:
        rows.append(np.ravel(a))
        cols.append(np.ravel(b))
        shape = np.shape(a)
        n_wire.append(np.broadcast_to(np.asarray(w, np.int8), shape).ravel())
        n_contact.append(np.broadcast_to(np.asarray(c, np.int8), shape).ravel())
        sign.append(np.broadcast_to(np.asarray(s, np.int8), shape).ravel())
        index.append(np.broadcast_to(np.asarray(k, np.int64), shape).ravel())

    # Diagonals: wires, contacts and the cell at each node.
    add(row_node, row_node, wires_at_row_node, contact_at_row_node, 1, cell)
    add(col_node, col_node, wires_at_col_node, contact_at_col_node, 1, cell)
    # Cells: -G between r(i,j) and c(i,j).
    add(row_node, col_node, 0, 0, -1, cell)
    add(col_node, row_node, 0, 0, -1, cell)
    # Row wires r(i,j)-r(i,j+1) and column wires c(i,j)-c(i+1,j).
    add(row_node[:, :-1], row_node[:, 1:], -1, 0, 0, 0)
    add(row_node[:, 1:], row_node[:, :-1], -1, 0, 0, 0)
    add(col_node[:-1, :], col_node[1:, :], -1, 0, 0, 0)
    add(col_node[1:, :], col_node[:-1, :], -1, 0, 0, 0)

    n = 2 * N * M
    if ordering == "nested-dissection":
        perm = _nested_dissection(N, M, terminals_last=terminals_last)
    elif ordering == "mmd":
        perm = np.arange(n)
    else:
        raise AnnccError(f"unknown ordering {ordering!r}", hint="use 'nested-dissection' or 'mmd'")
    inverse_perm = np.empty(n, dtype=np.int64)
    inverse_perm[perm] = np.arange(n)

    r = inverse_perm[np.concatenate(rows)]
    c = inverse_perm[np.concatenate(cols)]
    order = np.lexsort((r, c))  # CSC: by column, then row
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(c, minlength=n), out=indptr[1:])
    if indptr[-1] >= 2**31:
        raise AnnccError(f"array {N}x{M} is too large for 32-bit sparse indices")
    return _MeshPattern(
        shape=(N, M),
        indptr=indptr.astype(np.int32),
        indices=r[order].astype(np.int32),
        n_wire=np.concatenate(n_wire)[order],
        n_contact=np.concatenate(n_contact)[order],
        cell_sign=np.concatenate(sign)[order],
        cell_index=np.concatenate(index)[order],
        perm=perm,
        inverse_perm=inverse_perm,
    )


def _norton_rhs(
    v: NDArray[np.float64], params: MeshParams, n_cols: int, n_nodes: int
) -> NDArray[np.float64]:
    """Right-hand sides [n_nodes, B] in natural numbering: V_i/R_contact into r(i,0)."""
    b = np.zeros((n_nodes, v.shape[1]))
    b[np.arange(v.shape[0]) * n_cols] = v * params.g_contact_s
    return b


def _currents_from_nodes(x: NDArray[np.float64], G: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column currents [B, M] from node voltages [2NM, B] (natural numbering).

    I_j = sum_i G[i,j]·(r(i,j) - c(i,j)): by Kirchhoff's current law this equals
    the current through column j's contact into the virtual ground, and it stays
    accurate when R_contact is tiny (c(N-1,j)/R_contact would not).
    """
    N, M = G.shape
    B = x.shape[1]
    row_v = x[: N * M].reshape(N, M, B)
    col_v = x[N * M :].reshape(M, N, B).transpose(1, 0, 2)
    return np.einsum("ij,ijb->bj", G, row_v - col_v)


# --------------------------------------------------------------------------- direct


class DirectMeshSolver:
    """The exact reference: one sparse factorization of the SPD nodal matrix.

    backend: "cholmod" (scikit-sparse; its own fill-reducing ordering), "splu"
        (SciPy SuperLU, symmetric mode, no pivoting), or "auto" (CHOLMOD when
        importable, else SuperLU).
    ordering: for SuperLU, "nested-dissection" (geometric, cached per shape; the
        default, see `_nested_dissection`) or "mmd" (SuperLU's MMD on A+Aᵀ).

    The pattern and its ordering are cached per array shape; a new array of the
    same shape only refills values and refactors.
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
        auto = backend == "auto"
        if auto:
            backend = "cholmod" if cholmod_available() else "splu"
        if backend not in ("splu", "cholmod"):
            raise AnnccError(f"unknown backend {backend!r}", hint="use 'auto', 'splu' or 'cholmod'")
        if backend == "cholmod" and not cholmod_available():
            raise AnnccError(
                "the CHOLMOD backend needs scikit-sparse",
                hint="apt-get install -y libsuitesparse-dev && pip install scikit-sparse",
            )
        self.backend: str = backend
        if params.is_ideal:
            self._solve = None
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
        if self._solve is None:
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
    on row i and 0 V on the others. With SuperLU and the nested-dissection
    ordering the terminals (row inputs, column outputs) are ordered last, so one
    factorization leaves the Schur complement of the whole mesh onto its N + M
    terminals in the trailing block of L and U, and G_eff follows from two dense
    triangular solves with the N unit inputs as a block. Otherwise (CHOLMOD,
    MMD) the N unit inputs are solved as blocks of right-hand sides. Either way
    it reproduces the direct solve to ~1e-12 relative; after it, one input is one
    dense matrix product. With no parasitics it is G itself.
    """
    g = _as_conductances(G)
    if params.is_ideal:
        return g.copy()
    resolved = "cholmod" if backend == "auto" and cholmod_available() else backend
    if resolved in ("auto", "splu") and ordering == "nested-dissection":
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
        return expected_irdrop_error(self.alpha, self.beta)


def alpha_beta(G: ArrayLike, params: MeshParams) -> IRDropFigures:
    """α and β of an array (see `IRDropFigures`)."""
    g = _as_conductances(G)
    N, M = g.shape
    g_mean = float(g.mean())
    alpha = params.r_wire_ohm * g_mean * (N * N + M * M) / 2.0
    beta = params.r_contact_ohm * g_mean * (N + M) / 2.0
    return IRDropFigures(alpha=alpha, beta=beta)


def expected_irdrop_error(alpha: float, beta: float) -> float:
    """First-order relative column-current loss from IR drop: α/2 + 2β.

    Row and column contacts each carry a whole line's current (β each); the
    distributed wire drop along a uniformly loaded line averages to about α/4 per
    line, two lines per cell. It overestimates once it nears 1 (the loss saturates).
    """
    return alpha / 2.0 + 2.0 * beta


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
