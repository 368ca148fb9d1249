"""Executable semantics of the `cell` dialect (arithmetic from `anncc.ir.contract`).

Ideal devices (`ExecContext.analog == False`) give the golden model of the RTL:
bit-exact integer arithmetic of DESIGN.md section 4 — input planes of
`dac_bits` bits, per plane/slice/polarity column counts of the programmed
levels (stuck-at faults replace a cell's level by 0 or the top level) minus
the reference column's count on the same rows (`sensed_levels`: a healthy
reference column is level 0 and subtracts nothing; a stuck-high reference cell
lowers every column's count of its row, and a negative count reads 0), the ADC
transfer `code = min((c + 2^(s−1)) >> s, 2^adc_bits − 1)` read back as
`code << s`, and shift-add. With a lossless ADC it equals `xbar.mvm` exactly.

Analog mode replaces the column counts by simulated column currents (minus
the reference column's) over the unit current `ΔG·V_read`; see
`anncc.runtime.analog`.
"""

from __future__ import annotations

import torch

from anncc.ir.cell import ArrayParams
from anncc.ir.contract import (
    accumulator_bound,
    adc_read,
    input_planes,
    shift_add,
    slice_weights,
    vote,
)
from anncc.runtime.interpreter import kernel


def effective_levels(levels: torch.Tensor, faults: torch.Tensor, bits_per_cell: int) -> torch.Tensor:
    """Programmed levels with stuck-at faults applied (1: lowest level, 2: highest)."""
    lv = levels.to(torch.int64).clone()
    lv[faults == 1] = 0
    lv[faults == 2] = (1 << bits_per_cell) - 1
    return lv


def sensed_levels(levels: torch.Tensor, colmap: torch.Tensor, rowmap: torch.Tensor,
                  faults: torch.Tensor, ref_col: int, bits_per_cell: int) -> torch.Tensor:
    """[rows, cols·n_slices·2] int64: what each sensed column counts per unit input digit.

    The level of the cell on each driven row (after stuck-at faults) minus the
    level of the reference column's cell on that row, which the sense amplifier
    subtracts before the ADC (DESIGN.md section 4). The ideal model of every
    level that claims bit-exactness: this kernel, `anncc.runtime.golden` and the
    RTL's behavioural crossbar; the analog read subtracts the reference
    column's current the same way (`anncc.runtime.analog.count_matrix`).
    """
    return sensed_levels_batch(levels[None], colmap.reshape(1, -1), rowmap.reshape(1, -1),
                               faults[None], torch.tensor([ref_col]), bits_per_cell)[0]


def sensed_levels_batch(levels: torch.Tensor, colmap: torch.Tensor, rowmap: torch.Tensor,
                        faults: torch.Tensor, ref_col: torch.Tensor, bits_per_cell: int
                        ) -> torch.Tensor:
    """`sensed_levels` of A arrays at once: levels and faults [A, array_rows, array_cols],
    colmap [A, ncols], rowmap [A, rows], ref_col [A] → [A, rows, ncols] int64."""
    lv = effective_levels(levels, faults, bits_per_cell)
    a = torch.arange(lv.shape[0]).view(-1, 1, 1)
    rows = rowmap.to(torch.int64)[:, :, None]
    cols = colmap.to(torch.int64)[:, None, :]
    return lv[a, rows, cols] - lv[a, rows, ref_col.to(torch.int64).view(-1, 1, 1)]


def collapsed_batch(sel: torch.Tensor, f: ArrayParams) -> tuple[torch.Tensor, torch.Tensor]:
    """`collapsed_weights` of A arrays from their sensed levels [A, rows, ncols] (each array
    `f`'s shape and ADC): which collapse [A] (bool), and the collapsed weights [A, rows, cols]
    (meaningful where they do)."""
    a = sel.shape[0]
    top_digit = (1 << f.dac_bits) - 1
    ok = ~(sel < 0).reshape(a, -1).any(1) & (sel.sum(1).amax(1) * top_digit <= (1 << f.adc_bits) - 1)
    if f.adc_shift != 0:
        ok[:] = False
    v = sel.reshape(a, f.rows, f.cols, f.n_slices, 2)
    slice_w = torch.tensor(slice_weights(f.n_slices, f.bits_per_cell))
    return ok, ((v[..., 0] - v[..., 1]) * slice_w).sum(-1)


def tile_inputs(op, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    f = op.params()
    xt = x[..., f.row_offset:f.row_offset + f.rows]
    lead = tuple(xt.shape[:-1])
    return xt.reshape(-1, f.rows), lead


@kernel("cell.mvm")
def cell_mvm(op, args, ctx):
    if ctx.analog:
        from anncc.runtime.analog import analog_mvm

        return analog_mvm(op, args, ctx)
    x, _w, levels, colmap, rowmap, faults = args
    f = op.params()
    xt, lead = tile_inputs(op, x)
    key = ("cell.ideal-collapsed", op)
    if key not in ctx.cache:
        ctx.cache[key] = collapsed_weights(levels, colmap, rowmap, faults, f)
    w_eff = ctx.cache[key]
    if w_eff is not None:
        from anncc.runtime.xbar_kernels import int_matmul

        bound = accumulator_bound(f.rows, f.in_bits, bool(f.in_signed),
                                  f.n_slices * f.bits_per_cell + 1)
        acc = int_matmul(xt, w_eff, bound)
    else:
        key = ("cell.ideal-read", op)
        if key not in ctx.cache:
            ctx.cache[key] = IdealRead.of(levels, colmap, rowmap, faults, f)
        acc = ctx.cache[key].read(xt, f)
    return acc.reshape(*lead, f.cols)


class IdealRead:
    """One array's ideal bit-serial read, prepared once per array (cached per op).

    The same integers as `ideal_tile`: every step is exact integer arithmetic in
    floating point. A column count is at most `rows·(2^dac_bits − 1)·(2^b − 1)`;
    below 2^23 the products and the ADC (`c + 1/2`, floor) run in float32, else
    float64. The plane weighting (one product with the plane weights) and the
    slice/polarity weighting (one product with the [cols·n_slices·2, cols]
    matrix) stay in float32 while their bounds are below 2^24, else float64
    (exact below 2^53).
    """

    def __init__(self, sel: torch.Tensor, dtype: torch.dtype, plane_dtype: torch.dtype,
                 sa: torch.Tensor):
        self.sel, self.dtype, self.plane_dtype, self.sa = sel, dtype, plane_dtype, sa

    @classmethod
    def of(cls, levels, colmap, rowmap, faults, f: ArrayParams) -> IdealRead:
        sel = sensed_levels(levels, colmap, rowmap, faults, f.ref_col, f.bits_per_cell)
        dtype, plane_dtype, sa = cls.arithmetic(f)
        return cls(sel.to(dtype), dtype, plane_dtype, sa)

    @staticmethod
    def arithmetic(f: ArrayParams) -> tuple[torch.dtype, torch.dtype, torch.Tensor]:
        """The count dtype, the plane-sum dtype and the shift-add matrix (in its dtype) that
        keep every step of `f`'s read exact (class docstring)."""
        from anncc.ir.contract import plane_weights
        from anncc.runtime.analog import shift_add_matrix

        top = f.rows * ((1 << f.dac_bits) - 1) * ((1 << f.bits_per_cell) - 1)
        dtype = torch.float32 if top < (1 << 23) else torch.float64
        # after the ADC a code reads back below 2^(adc_bits + shift)
        code_top = min(top, 1 << (f.adc_bits + f.adc_shift))
        plane_top = code_top * sum(abs(w) for w in plane_weights(f.in_bits, bool(f.in_signed),
                                                                 f.dac_bits))
        plane_dtype = dtype if plane_top < (1 << 24) else torch.float64
        acc_top = plane_top * 2 * sum(slice_weights(f.n_slices, f.bits_per_cell))
        sa_dtype = plane_dtype if acc_top < (1 << 24) else torch.float64
        return dtype, plane_dtype, shift_add_matrix(f.cols, f.n_slices, f.bits_per_cell, sa_dtype)

    def read(self, xt: torch.Tensor, f: ArrayParams) -> torch.Tensor:
        from anncc.runtime.analog import digit_planes

        planes, weights = digit_planes(xt, f.in_bits, bool(f.in_signed), f.dac_bits, self.dtype)
        p, m, rows = planes.shape
        counts = planes.reshape(p * m, rows) @ self.sel
        adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
        pw = torch.tensor(weights, dtype=self.plane_dtype)
        per_col = pw @ counts.to(self.plane_dtype).reshape(p, -1)
        acc = per_col.reshape(m, -1).to(self.sa.dtype) @ self.sa
        return acc.round().to(torch.int64)


def collapsed_weights(levels, colmap, rowmap, faults, f: ArrayParams) -> torch.Tensor | None:
    """The signed integer matrix `Σ_k 2^(k·b)(L⁺_k − L⁻_k)` when the ADC never alters a count.

    With `adc_shift = 0`, no negative count possible (a stuck-high reference cell
    makes some) and every column's largest possible count (faults included: a
    stuck-high cell adds to it) within `2^adc_bits − 1`, the ADC is the
    identity, so planes, slices and polarities collapse exactly into one product
    `x @ W` — the same integers as the bit-serial read, at the cost of one matmul.
    Returns None when the ADC can round or clip (then the faithful read runs).
    """
    if f.adc_shift != 0:
        return None
    sel = sensed_levels(levels, colmap, rowmap, faults, f.ref_col, f.bits_per_cell)
    ok, w = collapsed_batch(sel[None], f)
    return w[0] if bool(ok[0]) else None


def ideal_tile(xt: torch.Tensor, levels: torch.Tensor, colmap: torch.Tensor, rowmap: torch.Tensor,
               faults: torch.Tensor, f: ArrayParams) -> torch.Tensor:
    """One array read with ideal devices: `[M, rows]` integer inputs -> `[M, cols]` shift-added sums."""
    planes, weights = input_planes(xt, f.in_bits, bool(f.in_signed), f.dac_bits)
    sel = sensed_levels(levels, colmap, rowmap, faults, f.ref_col, f.bits_per_cell).double()
    counts = torch.matmul(planes.double(), sel)  # [P, M, cols·ns·2], exact in float64
    read = adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
    acc = shift_add(read, weights, f.n_slices, f.bits_per_cell, f.cols)
    return acc.round().to(torch.int64)


@kernel("cell.vote")
def cell_vote(op, args, ctx):
    return vote(args)
