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
- `DirectMeshSolver` / `solve_direct`: exact direct solves. From 64×64 cells up
  the default backend is "dense-nd": the mesh is reduced onto its N + M terminals
  (row inputs, column outputs) by a geometric nested dissection whose separator
  blocks are dense (batched numpy and LAPACK, no interior kept), then one dense
  Cholesky of that (N+M)×(N+M) matrix; its dissection plan is cached per shape.
  On 706×706 (1.8e10 flops) it takes 1.5–2.3 s of CPU on one core and 0.15 GB
  at peak, where SuperLU takes 4–5 s and 1.2 GB on the same machine (2-core
  x86-64; `bench/bench_irdrop.py --compare-splu`).
  Smaller arrays, and interior node voltages, use a sparse factorization (CHOLMOD
  through scikit-sparse when it is importable, else SuperLU `splu` in symmetric
  mode, no pivoting), with the sparsity pattern, its value-refill index arrays and
  its fill-reducing ordering cached per array shape; its default ordering is a
  geometric nested dissection of the mesh. All agree to ~1e-12 relative.
- `effective_weights`: G_eff for the whole array from the Schur complement onto
  the N + M terminals (dense-nd's, or the trailing block of one SuperLU
  factorization with the terminals ordered last); for dense-nd it costs the same
  as one exact solve.
- `solve_cg`: preconditioned conjugate gradients with a line preconditioner
  (each row wire and each column wire a tridiagonal block, LAPACK `pttrf`/`pttrs`),
  many right-hand sides at once; `cg_error_vs_direct` reports its error. It
  converges in 5–30 iterations from 32×32 to 706×706 (rtol 1e-12).
`bench/bench_irdrop.py` times them against ngspice 39 side by side.
- `alpha_beta` (of `anncc.ir.contract.irdrop_alpha_beta`), `warn_if_irdrop_significant`: the
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

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_factor, cho_solve, lapack, solve_triangular

from anncc.errors import AnnccError, TargetError
from anncc.ir.contract import irdrop_alpha_beta, irdrop_expected_error

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
    "ideal_currents",
    "mean_irdrop_error",
    "solve_cg",
    "solve_direct",
    "warn_if_irdrop_significant",
]

Backend = Literal["auto", "dense-nd", "splu", "cholmod"]
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
    Either way it reproduces the direct solve to ~1e-12 relative; after it, one
    input is one dense matrix product. With no parasitics it is G itself.
    """
    g = _as_conductances(G)
    if params.is_ideal:
        return g.copy()
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


# --------------------------------------------------------------------------- dense ND
#
# The "dense-nd" backend: the Schur complement of the whole mesh onto its N + M
# terminals, by geometric nested dissection with dense boundary blocks.
#
# A block of h×w cell sites (rows r0.., columns c0..) touches the rest of the mesh
# only through its four edges: the row nodes of its first and last site column
# (left and right: only row wires cross a vertical cut) and the column nodes of
# its first and last site row (top and bottom: only column wires cross a
# horizontal cut). Its boundary matrix S is the Schur complement of its own
# nodal matrix (its cells and inner wires, no contacts, so S is a Laplacian) onto
# those edges, in the canonical order left, right, top, bottom. The array's own
# right and top edges touch nothing, so a block on them has no right or top
# boundary: its key is (h, w, top edge inside the array, right edge inside the
# array), and blocks with equal keys have equal structure, which is what lets
# every step run as one batch over all the blocks of a key.
#
# A block is cut in two across its longer side; merging the two halves adds the h
# crossing wires between their facing edges and eliminates both facing edges:
# first one half's facing edge against that half's own block only (the half for
# which this costs fewer flops, in practice the one that keeps fewer nodes), then
# the other facing edge against everything that is left. The recursion stops
# at leaves of at most _ND_LEAF × _ND_LEAF sites, eliminated entry by entry (a
# sparse elimination whose every scalar is a vector over all the leaves of a key).
# The root is the whole array: its boundary is exactly the terminals, r(i,0) and
# c(N-1,j), and the contacts only add 1/R_contact to its diagonal.
#
# On 706×706 this is 1.8e10 flops, mostly in the top merges (dense Cholesky,
# triangular solves and symmetric rank-k updates of order 700-2800, near BLAS peak),
# while the many small merges below are bound by numpy's per-call and memory costs;
# about 0.15 GB of boundary blocks are alive at once. Nothing of the interior is
# kept, so node voltages come from the SuperLU fallback.
#
# Parallelism: all blocks of one level are independent tasks, run largest first on
# `_ND_WORKERS` threads (numpy and LAPACK release the GIL) while BLAS is held to one
# thread; solves running concurrently in several threads of one process would race
# on that process-wide BLAS setting (harmless to results, not to speed).

_ND_LEAF = 6  # leaves are blocks of at most 6×6 sites
_ND_BATCH_MAX_FACE = 64  # merges with shorter facing edges run batched over blocks
_ND_CHUNK_BYTES = 4 * 2**20  # batched merges work on chunks of about this many bytes
_DENSE_ND_MIN_SITES = 64 * 64  # "auto" uses dense-nd from this many cells up


def _nd_worker_count() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


try:  # threadpoolctl comes with scikit-learn
    from threadpoolctl import ThreadpoolController as _ThreadpoolController
except ImportError:  # pragma: no cover
    _ThreadpoolController = None

# dense-nd brings its own parallelism (independent blocks on worker threads) and
# holds BLAS to one thread meanwhile: BLAS threads that spin beside worker threads,
# or beside other processes on a loaded machine, cost many times the work itself.
_ND_WORKERS = _nd_worker_count() if _ThreadpoolController is not None else 1


@functools.lru_cache(maxsize=1)
def _blas_controller() -> object | None:
    return _ThreadpoolController() if _ThreadpoolController is not None else None


def _single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")  # type: ignore[attr-defined]


_Node = tuple[int, int, int]  # (0: row node | 1: column node, i, j), block-local
_Key = tuple[int, int, bool, bool]  # (h, w, top edge inside the array, right edge inside)


def _nd_boundary(key: _Key) -> list[_Node]:
    """A block's boundary nodes in canonical order: left, right, top, bottom edge."""
    h, w, top, right = key
    nodes = [(0, i, 0) for i in range(h)]
    if right:
        nodes += [(0, i, w - 1) for i in range(h)]
    if top:
        nodes += [(1, 0, j) for j in range(w)]
    nodes += [(1, h - 1, j) for j in range(w)]
    return nodes


def _nd_children(key: _Key) -> tuple[_Key, _Key, tuple[int, int], bool]:
    """(left/top half, right/bottom half, offset of the second, whether the cut is vertical).

    With leaves of at least 3×3 sites no half is ever one site wide or tall (unless
    the whole array is), so an edge never doubles as the opposite edge.
    """
    h, w, top, right = key
    if w >= h:
        wa = w // 2
        return (h, wa, top, True), (h, w - wa, top, right), (0, wa), True
    ha = h // 2
    return (ha, w, top, right), (h - ha, w, True, right), (ha, 0), False


@dataclass(frozen=True)
class _NDLeaf:
    """Entry-by-entry elimination of a leaf's inner nodes (structure only, per key).

    Local node numbers: the boundary in canonical order (0 .. b-1), then the inner
    nodes. `init` lists the nonzero entries (p, q), p <= q, as (p, q, n_wires,
    cell k (i*w + j) or -1, cell sign); `steps` the eliminations in minimum-degree
    order as (pivot, neighbours); `entries` the nonzero entries of the result.
    """

    b: int
    init: tuple[tuple[int, int, int, int, int], ...]
    steps: tuple[tuple[int, tuple[int, ...]], ...]
    entries: tuple[tuple[int, int], ...]


@functools.lru_cache(maxsize=4096)
def _nd_leaf(key: _Key) -> _NDLeaf:
    h, w = key[0], key[1]
    boundary = _nd_boundary(key)
    on_boundary = set(boundary)
    order = boundary + [
        (t, i, j) for t in (0, 1) for i in range(h) for j in range(w) if (t, i, j) not in on_boundary
    ]
    pos = {x: p for p, x in enumerate(order)}
    init: dict[tuple[int, int], list[int]] = {}

    def entry(p: int, q: int) -> list[int]:
        return init.setdefault((min(p, q), max(p, q)), [0, -1, 0])

    for i in range(h):
        for j in range(w):
            r, c, k = pos[(0, i, j)], pos[(1, i, j)], i * w + j
            entry(r, r)[1:] = [k, 1]
            entry(c, c)[1:] = [k, 1]
            entry(r, c)[1:] = [k, -1]
    wires = [((0, i, j), (0, i, j + 1)) for i in range(h) for j in range(w - 1)]
    wires += [((1, i, j), (1, i + 1, j)) for i in range(h - 1) for j in range(w)]
    for x, y in wires:
        p, q = pos[x], pos[y]
        entry(p, p)[0] += 1
        entry(q, q)[0] += 1
        entry(p, q)[0] -= 1
    adjacent: dict[int, set[int]] = {p: set() for p in range(len(order))}
    for p, q in init:
        if p != q:
            adjacent[p].add(q)
            adjacent[q].add(p)
    inner = set(range(len(boundary), len(order)))
    steps = []
    while inner:
        p = min(inner, key=lambda x: (len(adjacent[x]), x))
        inner.discard(p)
        neighbours = tuple(sorted(adjacent.pop(p)))
        steps.append((p, neighbours))
        for x in neighbours:
            adjacent[x].discard(p)
            adjacent[x].update(y for y in neighbours if y != x)
    b = len(boundary)
    entries = {(p, p) for p in range(b)} | {(p, q) for p in range(b) for q in adjacent[p] if p < q}
    return _NDLeaf(
        b=b,
        init=tuple((p, q, *v) for (p, q), v in init.items()),  # type: ignore[misc]
        steps=tuple(steps),
        entries=tuple(sorted(entries)),
    )


def _nd_leaf_values(
    key: _Key, G: NDArray[np.float64], r0: NDArray[np.int64], c0: NDArray[np.int64], gw: float
) -> NDArray[np.float64]:
    """Boundary matrices [P, b, b] of the P leaves of `key` at origins (r0, c0)."""
    spec = _nd_leaf(key)
    h, w = key[0], key[1]
    ii, jj = np.divmod(np.arange(h * w), w)
    g = G[r0[None, :] + ii[:, None], c0[None, :] + jj[:, None]]  # [h*w, P]
    a: dict[tuple[int, int], NDArray[np.float64] | float] = {}
    for p, q, n_wires, k, sign in spec.init:
        value: NDArray[np.float64] | float = n_wires * gw
        if k >= 0:
            value = value + g[k] if sign > 0 else value - g[k]
        a[(p, q)] = value
    for p, neighbours in spec.steps:
        inv_pivot = 1.0 / a.pop((p, p))
        column = [a.pop((min(x, p), max(x, p))) for x in neighbours]
        for s, x in enumerate(neighbours):
            scaled = column[s] * inv_pivot
            for t in range(s, len(neighbours)):
                xy = (x, neighbours[t])
                a[xy] = a.get(xy, 0.0) - scaled * column[t]
    out = np.zeros((r0.size, spec.b, spec.b))
    for p, q in spec.entries:
        out[:, p, q] = a[(p, q)]
        out[:, q, p] = a[(p, q)]
    return out


_Run = tuple[int, int, int, int]  # (parent position, index among kept nodes, child index, length)


@dataclass(frozen=True)
class _NDSide:
    """One half in a merge: its facing edge and where its kept nodes go in the parent."""

    slot: int  # 0: left/top half, 1: right/bottom half
    face: int  # start of the facing edge (length h) in the half's canonical order
    n_keep: int
    runs: tuple[_Run, ...]


@dataclass(frozen=True)
class _NDMerge:
    first: _Key  # the half whose facing edge is eliminated first
    second: _Key
    f: _NDSide
    s: _NDSide
    h: int  # crossing wires
    size: int  # the parent's boundary
    flops: float


def _nd_side(slot: int, nodes: list[_Node], face: list[_Node], parent: dict[_Node, int]) -> _NDSide:
    start = nodes.index(face[0])
    if nodes[start : start + len(face)] != face:  # pragma: no cover - a planning bug
        raise AnnccError("dense-nd plan: a facing edge is not contiguous")
    runs: list[list[int]] = []
    k = 0
    for c, x in enumerate(nodes):
        if x not in parent:
            continue
        d = parent[x]
        if runs and runs[-1][0] + runs[-1][3] == d and runs[-1][2] + runs[-1][3] == c:
            runs[-1][3] += 1
        else:
            runs.append([d, k, c, 1])
        k += 1
    if k + len(face) != len(nodes):  # pragma: no cover - a planning bug
        raise AnnccError("dense-nd plan: a half keeps part of its facing edge")
    return _NDSide(slot, start, k, tuple((d, i, c, n) for d, i, c, n in runs))


@functools.lru_cache(maxsize=4096)
def _nd_merge(key: _Key) -> _NDMerge:
    ka, kb, (di, dj), vertical_cut = _nd_children(key)
    canonical = _nd_boundary(key)
    parent = {x: p for p, x in enumerate(canonical)}
    nodes_b = [(t, i + di, j + dj) for t, i, j in _nd_boundary(kb)]
    if vertical_cut:  # row wires r(i, wa-1) -- r(i, wa)
        face_a = [(0, i, ka[1] - 1) for i in range(key[0])]
        face_b = [(0, i, ka[1]) for i in range(key[0])]
    else:  # column wires c(ha-1, j) -- c(ha, j)
        face_a = [(1, ka[0] - 1, j) for j in range(key[1])]
        face_b = [(1, ka[0], j) for j in range(key[1])]
    side_a = _nd_side(0, _nd_boundary(ka), face_a, parent)
    side_b = _nd_side(1, nodes_b, face_b, parent)
    h, size = len(face_a), len(canonical)

    def flops(first: _NDSide) -> float:  # see _nd_merge_one
        o = first.n_keep
        return o * o * h + 3 * h * h * o + 4 * h**3 / 3 + h * h * size + size * size * h

    f, s = (side_a, side_b) if flops(side_a) <= flops(side_b) else (side_b, side_a)
    return _NDMerge((ka, kb)[f.slot], (ka, kb)[s.slot], f, s, h, size, flops(f))


@dataclass(frozen=True)
class _NDPlan:
    """Everything about one array shape that does not depend on the conductances."""

    shape: tuple[int, int]
    levels: tuple[tuple[_Key, ...], ...]  # keys by height above the leaves (independent within one)
    origins: dict[_Key, tuple[NDArray[np.int64], NDArray[np.int64]]]  # leaves: (r0, c0)
    halves: dict[_Key, tuple[slice, slice]]  # merges: their halves' ranges in the halves' stacks
    consumers: dict[_Key, int]
    terminal_pos: NDArray[np.int64]  # r(i,0) then c(N-1,j) in the root's canonical order
    flops: float


@functools.lru_cache(maxsize=8)
def _nd_plan(n_rows: int, n_cols: int) -> _NDPlan:
    """Build (once per array shape) the dissection tree, grouped by block key."""
    root: _Key = (n_rows, n_cols, False, False)
    height: dict[_Key, int] = {}
    stack = [root]
    while stack:  # heights, children first
        key = stack[-1]
        if key in height:
            stack.pop()
        elif key[0] <= _ND_LEAF and key[1] <= _ND_LEAF:
            height[key] = 0
            stack.pop()
        else:
            ka, kb, _, _ = _nd_children(key)
            todo = [k for k in (ka, kb) if k not in height]
            if todo:
                stack.extend(todo)
            else:
                height[key] = 1 + max(height[ka], height[kb])
                stack.pop()
    keys = sorted(height, key=lambda k: (height[k], k))
    # Instances, parents first: each (parent key, half) gets one contiguous range.
    parts: dict[_Key, list[tuple[NDArray[np.int64], NDArray[np.int64]]]] = {k: [] for k in keys}
    count = dict.fromkeys(keys, 0)
    consumers = dict.fromkeys(keys, 0)
    parts[root].append((np.zeros(1, np.int64), np.zeros(1, np.int64)))
    origins, halves = {}, {}
    flops = 0.0
    for key in reversed(keys):
        r0 = np.concatenate([p[0] for p in parts[key]])
        c0 = np.concatenate([p[1] for p in parts[key]])
        del parts[key]
        if height[key] == 0:
            origins[key] = (r0, c0)
            continue
        ka, kb, (di, dj), _ = _nd_children(key)
        flops += _nd_merge(key).flops * r0.size
        ranges = []
        for half, (oi, oj) in ((ka, (0, 0)), (kb, (di, dj))):
            parts[half].append((r0 + oi, c0 + oj))
            ranges.append(slice(count[half], count[half] + r0.size))
            count[half] += r0.size
            consumers[half] += 1
        halves[key] = (ranges[0], ranges[1])
    position = {x: p for p, x in enumerate(_nd_boundary(root))}
    terminals = [(0, i, 0) for i in range(n_rows)] + [(1, n_rows - 1, j) for j in range(n_cols)]
    return _NDPlan(
        shape=(n_rows, n_cols),
        levels=tuple(tuple(k for k in keys if height[k] == d) for d in range(height[root] + 1)),
        origins=origins,
        halves=halves,
        consumers=consumers,
        terminal_pos=np.array([position[t] for t in terminals]),
        flops=flops,
    )


def _copy_runs(dst: NDArray, src: NDArray, runs: tuple[_Run, ...]) -> None:
    """dst[..., d, d'] (+)= src[..., c, c'] for every pair of runs (child order -> parent)."""
    for d0, _, c0, n0 in runs:
        for d1, _, c1, n1 in runs:
            dst[..., d0 : d0 + n0, d1 : d1 + n1] += src[..., c0 : c0 + n0, c1 : c1 + n1]


def _nd_merge_batch(
    spec: _NDMerge, SF: NDArray[np.float64], SS: NDArray[np.float64], gw: float, out: NDArray[np.float64]
) -> None:
    """`_nd_merge_one` for a batch of small blocks [P, ., .], with explicit small inverses."""
    h, f, s = spec.h, spec.f, spec.s
    P = SF.shape[0]
    face_f = slice(f.face, f.face + h)
    face_s = slice(s.face, s.face + h)
    eye = np.eye(h)
    E_inv = np.linalg.inv(SF[:, face_f, face_f] + gw * eye)
    S_fO = np.empty((P, h, f.n_keep))
    for _, k0, c0, n0 in f.runs:
        S_fO[..., k0 : k0 + n0] = SF[:, face_f, c0 : c0 + n0]
    Z = np.matmul(E_inv, S_fO)  # E⁻¹ S_fO
    K2 = SS[:, face_s, face_s] + gw * eye
    K2 -= (gw * gw) * E_inv
    C2 = np.zeros((P, h, spec.size))
    for d0, k0, _, n0 in f.runs:
        np.multiply(Z[..., k0 : k0 + n0], gw, out=C2[..., d0 : d0 + n0])
    for d0, _, c0, n0 in s.runs:
        C2[..., d0 : d0 + n0] = SS[:, face_s, c0 : c0 + n0]
    W = np.matmul(np.linalg.inv(K2), C2)
    np.negative(W, out=W)
    np.matmul(C2.transpose(0, 2, 1), W, out=out)
    U = np.matmul(S_fO.transpose(0, 2, 1), Z)  # S_Of E⁻¹ S_fO
    for d0, k0, c0, n0 in f.runs:
        for d1, k1, c1, n1 in f.runs:
            block = out[:, d0 : d0 + n0, d1 : d1 + n1]
            block += SF[:, c0 : c0 + n0, c1 : c1 + n1]
            block -= U[:, k0 : k0 + n0, k1 : k1 + n1]
    _copy_runs(out, SS, s.runs)


def _nd_merge_one(
    spec: _NDMerge, A: NDArray[np.float64], B: NDArray[np.float64], gw: float, out: NDArray[np.float64]
) -> None:
    """Merge two halves: out = the parent's boundary matrix (canonical order).

    A is the half eliminated first, B the other; f and s their facing edges, O_A
    and O_B their kept nodes; the h crossing wires join f[i] and s[i]. With
    E = S_A[f,f] + g·I = L·Lᵀ and X = L⁻¹·S_A[f,O_A], eliminating f leaves
    S_A[O_A,O_A] − XᵀX on O_A, g·Xᵀ·L⁻¹ between O_A and s, and g·I − g²·E⁻¹ added
    to S_B[s,s]. Eliminating s then (K2 = L2·L2ᵀ, X2 = L2⁻¹·C2, C2 = s's coupling
    to all kept nodes) gives out = blockdiag(S_A[O_A,O_A] − XᵀX, S_B[O_B,O_B]) − X2ᵀX2.
    """
    h, f, s = spec.h, spec.f, spec.s
    face_f = slice(f.face, f.face + h)
    face_s = slice(s.face, s.face + h)
    E = A[face_f, face_f].copy()
    E.flat[:: h + 1] += gw
    L = np.linalg.cholesky(E)
    S_fO = np.empty((h, f.n_keep))
    for _, k0, c0, n0 in f.runs:
        S_fO[:, k0 : k0 + n0] = A[face_f, c0 : c0 + n0]
    X = solve_triangular(L, S_fO, lower=True, check_finite=False)
    L_inv, info = lapack.dtrtri(L, lower=1)
    if info != 0:  # pragma: no cover - L comes from a successful Cholesky
        raise np.linalg.LinAlgError(f"dtrtri info={info}")
    K2 = B[face_s, face_s] - (gw * gw) * (L_inv.T @ L_inv)
    K2.flat[:: h + 1] += gw
    C2 = np.zeros((h, spec.size))
    gZ = L_inv.T @ X
    gZ *= gw
    for d0, k0, _, n0 in f.runs:
        C2[:, d0 : d0 + n0] = gZ[:, k0 : k0 + n0]
    for d0, _, c0, n0 in s.runs:
        C2[:, d0 : d0 + n0] = B[face_s, c0 : c0 + n0]
    L2 = np.linalg.cholesky(K2)
    X2 = solve_triangular(L2, C2, lower=True, check_finite=False, overwrite_b=True)
    out[...] = X2.T @ X2
    np.negative(out, out=out)
    U = X.T @ X
    for d0, k0, c0, n0 in f.runs:
        for d1, k1, c1, n1 in f.runs:
            block = out[d0 : d0 + n0, d1 : d1 + n1]
            block += A[c0 : c0 + n0, c1 : c1 + n1]
            block -= U[k0 : k0 + n0, k1 : k1 + n1]
    _copy_runs(out, B, s.runs)


def _nd_terminal_matrix(G: NDArray[np.float64], gw: float) -> NDArray[np.float64]:
    """Schur complement [N+M, N+M] of the contact-free mesh onto r(i,0) for all i, then c(N-1,j).

    Chunks of batched merges and independent large blocks are spread over
    `_ND_WORKERS` threads; call it with BLAS held to one thread (`_single_threaded_blas`).
    """
    if _ND_WORKERS > 1:
        with ThreadPoolExecutor(_ND_WORKERS) as pool:
            return _nd_run(G, gw, pool)
    return _nd_run(G, gw, None)


def _nd_run(G: NDArray[np.float64], gw: float, pool: ThreadPoolExecutor | None) -> NDArray[np.float64]:
    """Walk the plan level by level; within a level every block (or batch of small
    blocks) is an independent task, and the tasks run largest first on `pool`."""
    plan = _nd_plan(*G.shape)
    stacks: dict[_Key, NDArray[np.float64]] = {}
    left = dict(plan.consumers)
    for level in plan.levels:
        tasks: list[tuple[float, Callable[[], None]]] = []
        done: dict[_Key, NDArray[np.float64]] = {}
        for key in level:
            if key in plan.origins:
                r0, c0 = plan.origins[key]
                tasks.append((r0.size, functools.partial(_nd_leaf_task, done, key, G, r0, c0, gw)))
                continue
            spec = _nd_merge(key)
            ranges = plan.halves[key]
            SF = stacks[spec.first][ranges[spec.f.slot]]
            SS = stacks[spec.second][ranges[spec.s.slot]]
            P = SF.shape[0]
            out = done[key] = np.empty((P, spec.size, spec.size))
            if spec.h >= _ND_BATCH_MAX_FACE:  # few large blocks: one at a time
                for i in range(P):
                    task = functools.partial(_nd_merge_one, spec, SF[i], SS[i], gw, out[i])
                    tasks.append((spec.flops, task))
            else:  # many small blocks: in batches of about _ND_CHUNK_BYTES
                n = max(1, _ND_CHUNK_BYTES // (8 * spec.size * spec.size))
                for c in range(0, P, n):
                    task = functools.partial(
                        _nd_merge_batch, spec, SF[c : c + n], SS[c : c + n], gw, out[c : c + n]
                    )
                    tasks.append((spec.flops * min(n, P - c), task))
        tasks.sort(key=lambda t: -t[0])
        if pool is None or len(tasks) < 2:
            for _, task in tasks:
                task()
        else:
            for _ in pool.map(lambda t: t[1](), tasks):
                pass
        for key in level:
            if key in plan.origins:
                continue
            spec = _nd_merge(key)
            for half in (spec.first, spec.second):
                left[half] -= 1
                if left[half] == 0:
                    del stacks[half]
        stacks.update(done)
    (root,) = stacks.values()
    t = plan.terminal_pos
    return root[0][t[:, None], t[None, :]]


def _nd_leaf_task(
    done: dict[_Key, NDArray[np.float64]],
    key: _Key,
    G: NDArray[np.float64],
    r0: NDArray[np.int64],
    c0: NDArray[np.int64],
    gw: float,
) -> None:
    done[key] = _nd_leaf_values(key, G, r0, c0, gw)


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
