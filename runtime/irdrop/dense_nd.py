"""Dense nested dissection of the mesh onto its terminals (the fast exact solve).

Part of `anncc.runtime.irdrop` (see its docstring for the circuit and the methods).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import blas, lapack, solve_triangular

from anncc.errors import AnnccError

try:  # CHOLMOD (scikit-sparse over Debian's libsuitesparse-dev) is optional.
    from sksparse.cholmod import analyze as _cholmod_analyze  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    _cholmod_analyze = None


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
    E_inv = np.empty((h, h))
    _gram(L_inv, E_inv)
    K2 = B[face_s, face_s] - (gw * gw) * E_inv
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
    _gram(X2, out, negate=True)
    U = np.empty((f.n_keep, f.n_keep))
    _gram(X, U)
    for d0, k0, c0, n0 in f.runs:
        for d1, k1, c1, n1 in f.runs:
            block = out[d0 : d0 + n0, d1 : d1 + n1]
            block += A[c0 : c0 + n0, c1 : c1 + n1]
            block -= U[k0 : k0 + n0, k1 : k1 + n1]
    _copy_runs(out, B, s.runs)


_MIRROR_LEAF = 32  # diagonal blocks at most this large are mirrored entry by entry
_GRAM_SYRK_MIN = 256  # `_gram` calls dsyrk itself from this order up


@functools.cache
def _strict_lower(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    return np.tril_indices(n, -1)


def _mirror_upper(a: NDArray[np.float64]) -> None:
    """Copy the upper triangle of the square block `a` onto its lower triangle: the
    off-diagonal quarter as one transposed copy, the two diagonal halves recursively."""
    n = a.shape[0]
    if n <= _MIRROR_LEAF:
        lower = _strict_lower(n)
        a[lower] = a.T[lower]
        return
    m = n // 2
    a[m:, :m] = a[:m, m:].T
    _mirror_upper(a[:m, :m])
    _mirror_upper(a[m:, m:])


def _gram(X: NDArray[np.float64], out: NDArray[np.float64], negate: bool = False) -> None:
    """out = XᵀX (−XᵀX with `negate`) for X [h, n], out [n, n] C-contiguous: the same
    numbers as `X.T @ X` (and its negation), bit for bit.

    numpy computes `X.T @ X` with BLAS's symmetric rank-k update and then copies
    one triangle onto the other element by element, which on the top merges takes
    nearly as long as the general product it avoids (a 256×512 X: 1.98 ms; dsyrk
    alone 1.23 ms, measured on the project's 2-core machine with BLAS at one thread).
    Here dsyrk writes the upper triangle of `out` in place (the lower triangle of
    out.T, which is Fortran-ordered) and `_mirror_upper` copies it onto the lower one
    by blocks. Smaller products (n < `_GRAM_SYRK_MIN`) keep numpy's path, as fast there.
    """
    if out.shape[0] < _GRAM_SYRK_MIN:
        np.matmul(X.T, X, out=out)
        if negate:
            np.negative(out, out=out)
        return
    a = X if X.flags.f_contiguous else np.asfortranarray(X)
    c = blas.dsyrk(-1.0 if negate else 1.0, a, beta=0.0, c=out.T, trans=1, lower=1, overwrite_c=1)
    if not np.shares_memory(c, out):  # pragma: no cover - f2py copied (out not C-contiguous)
        out[...] = c.T
    _mirror_upper(out)


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
