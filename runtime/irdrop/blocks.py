"""Exact effective weights of many small arrays at once: column blocks, block-tridiagonal.

The mesh of `anncc.runtime.irdrop` (row wires driven from the left through
R_contact, column wires read at the bottom through R_contact, cell (i, j)
between row node r(i, j) and column node c(i, j)) is ordered column by column.
Column j's nodes c(·, j) form a chain that touches only the row nodes r(·, j)
of the same column, so they are eliminated exactly, column by column: with

    T_j   the chain's nodal matrix (tridiagonal, N×N: cells G(i, j), wire
          segments g_w = 1/R_wire between c(i, j) and c(i+1, j), and g_c =
          1/R_contact from c(N−1, j) to the sense amplifier's virtual ground),
    D_j   the row nodes' own conductances (cells, row-wire segments to their
          neighbours, and g_c from r(i, 0) to its driver),

the row nodes of column j see the dense Schur complement
`A_j = D_j − diag(G_j) T_j⁻¹ diag(G_j)`, and neighbouring columns couple only
through the row wires, `−g_w·I`. That block-tridiagonal system is solved by
block elimination from the last column to the first (every Schur complement
R_k symmetric positive definite) for the N unit inputs at once (`V = I`, the
Norton sources `g_c·V` at column 0): `r(·, 0) = g_c R_0⁻¹` and `r(·, k) = g_w
R_k⁻¹ r(·, k−1)`. Column j's current is `g_c · c(N−1, j)`, and
`c(·, j) = T_j⁻¹ diag(G_j) r(·, j)`, so `G_eff[:, j] = (g_c e_{N−1}ᵀ T_j⁻¹
diag(G_j)) r(·, j)`. When M ≤ 2N those rows are carried along the sweep (each
column's row multiplied by R_k⁻¹ as soon as it is known: no inverse kept, no
back substitution); longer arrays keep the inverses and carry r(·, k) forward.

It is exact (no approximation; agreement with the sparse and dense-nd solvers
to ~1e-12 relative, `tests/unit/test_irdrop_blocks.py`), costs about M·N³
(the inverses) + min(M²N², 2·M·N³) flops per array (one thread, 1 Dec 2026: 16×32
arrays ~120 µs each, 16×16 ~55 µs, 64×64 ~3.6 ms), and runs a whole batch of arrays in batched torch linear
algebra — for arrays of up to `MAX_ROWS` rows far faster than one sparse
factorization each (an array of 16×32 cells: ~1.6 ms each through SuperLU with
its Python overhead; measured 1 Dec 2026 on the 2-core CI machine). Beyond that
the N³ blocks lose to the nested dissection of `dense_nd`, which stays the
solver of large arrays.
"""

from __future__ import annotations

import numpy as np
import torch

#: Arrays with at most this many rows are solved by column blocks (`effective_weights_batch`).
MAX_ROWS = 64

#: Arrays solved together (bounds the memory of the [B, M, N, N] blocks: 16 MiB each; smaller
#: chunks stay in cache: 16×32 arrays 147 → 126 µs each from 2^23 to 2^21 cells, 64×64 3.7 →
#: 3.6 ms, 2^19 slower again; measured 1 Dec 2026, one thread).
CHUNK_CELLS = 2 ** 21


def _chain_solve(diag: torch.Tensor, off: float, rhs: torch.Tensor) -> torch.Tensor:
    """Solve tridiagonal systems T x = rhs: diag [..., N], constant off-diagonal `off`,
    rhs [..., N, K] (Thomas' algorithm, vectorized over the leading dimensions).

    `rhs` is overwritten with the solution and returned: the sweeps are those of
    Thomas' algorithm with separate arrays, the same operations in the same order,
    without two more [..., N, K] tensors (at the chunk size, 64 MiB each).
    """
    n = diag.shape[-1]
    c = torch.empty_like(diag)
    d = rhs
    c[..., 0] = off / diag[..., 0]
    d[..., 0, :] = rhs[..., 0, :] / diag[..., :1]
    for i in range(1, n):
        m = diag[..., i] - off * c[..., i - 1]
        c[..., i] = off / m
        d[..., i, :] = (rhs[..., i, :] - off * d[..., i - 1, :]) / m[..., None]
    x = d  # x[N−1] = d[N−1]; x[i] = d[i] − c[i]·x[i+1], row i overwritten after row i+1 is final
    for i in range(n - 2, -1, -1):
        x[..., i, :] = d[..., i, :] - c[..., i, None] * x[..., i + 1, :]
    return x


def _solve_chunk(g: torch.Tensor, r_wire_ohm: float, r_contact_ohm: float) -> torch.Tensor:
    b, n, m = g.shape
    gw, gc = 1.0 / r_wire_ohm, 1.0 / r_contact_ohm
    gt = g.transpose(1, 2)                                     # [B, M, N]: column j's cells
    # the column chains: each node's cells and wires; the last also its contact
    t_diag = gt + 2 * gw
    t_diag[..., 0] -= gw
    t_diag[..., n - 1] += gc - gw
    # X_j = T_j⁻¹ diag(G_j) [B, M, N, N] (symmetric: T_j and diag(G_j) commute into it)
    x = _chain_solve(t_diag, -gw, torch.diag_embed(gt))
    out_row = gc * x[..., n - 1, :]                            # [B, M, N]: e_{N−1}ᵀ T_j⁻¹ diag(G_j)·g_c
    # the row nodes' own conductances
    d = gt + 2 * gw
    d[:, 0] += gc - gw                                         # column 0: the driver's contact
    d[:, m - 1] -= gw                                          # the last column: no wire beyond
    # A_j = diag(d_j) − diag(G_j) T_j⁻¹ diag(G_j) [B, M, N, N], built in x's memory: −(G·X)
    # off the diagonal, d − G·X on it (the same numbers as diag_embed(d) − schur)
    a = x.mul_(gt[..., :, None]).neg_()
    a.diagonal(dim1=-2, dim2=-1).add_(d)
    # right to left: R_{M−1} = A_{M−1}, R_k = A_k − g_w² R_{k+1}⁻¹ (each block row's columns
    # beyond k eliminated). Then r_0 = g_c R_0⁻¹ and r_k = g_w R_k⁻¹ r_{k−1}: column j's currents
    # for the N unit inputs are the row v_j (g_w R_j⁻¹) … (g_w R_1⁻¹)(g_c R_0⁻¹), v_j = out_row_j.
    if m <= 2 * n:
        # wide blocks: every column's row is multiplied by R_k⁻¹ as soon as it is known
        # (M²N² flops in all, one pass, no inverse kept)
        w = torch.empty((b, m, n), dtype=g.dtype)             # row j: column j's partial product
        inv = None
        for k in range(m - 1, -1, -1):
            s = a[:, k] if inv is None else a[:, k].sub_(inv, alpha=gw * gw)
            inv = torch.cholesky_inverse(torch.linalg.cholesky(s))
            w[:, k] = out_row[:, k]
            rows = w[:, k:]
            rows.copy_(torch.matmul(rows, inv)).mul_(gw if k > 0 else gc)
        return w.transpose(1, 2)
    # long rows (M > 2N): keep the inverses, then r_k left to right (2MN³ flops)
    invs = a                                                   # R_k⁻¹ in A_k's memory
    for k in range(m - 1, -1, -1):
        s = a[:, k] if k == m - 1 else a[:, k].sub_(invs[:, k + 1], alpha=gw * gw)
        invs[:, k] = torch.cholesky_inverse(torch.linalg.cholesky(s))
    g_eff = torch.empty((b, n, m), dtype=g.dtype)
    r = invs[:, 0] * gc
    for k in range(m):
        if k > 0:
            r = torch.matmul(invs[:, k], r).mul_(gw)
        g_eff[:, :, k] = torch.matmul(out_row[:, k, None, :], r)[:, 0]
    return g_eff


def effective_weights_batch(g: torch.Tensor | np.ndarray, r_wire_ohm: float, r_contact_ohm: float
                            ) -> torch.Tensor:
    """G_eff [B, N, M] of B arrays of cell conductances `g` [B, N, M] (siemens, float64; the
    cells as the mesh sees them, access devices already in series): column currents of
    array b are `V @ G_eff[b]`. Exact; for arrays of up to `MAX_ROWS` rows (module docstring).
    """
    g = (torch.as_tensor(g, dtype=torch.float64) if isinstance(g, torch.Tensor)
         else torch.from_numpy(np.ascontiguousarray(g, dtype=np.float64)))
    if g.ndim != 3:
        raise ValueError(f"expected conductances [B, N, M], got {tuple(g.shape)}")
    if not (r_wire_ohm > 0 and r_contact_ohm > 0):
        raise ValueError("the block solver needs positive wire and contact resistances")
    b, n, m = g.shape
    if b == 0:
        return g.clone()
    per = max(1, CHUNK_CELLS // max(1, m * n * n))
    with torch.no_grad():
        return torch.cat([_solve_chunk(g[i:i + per], r_wire_ohm, r_contact_ohm)
                          for i in range(0, b, per)])


__all__ = ["MAX_ROWS", "effective_weights_batch"]
