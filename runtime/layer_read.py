"""Batched analog reads: every array of a layer read in a few batched matrix products.

The per-array read (`analog.analog_tile`) costs one Python round trip and a few
small products per array; at ResNet scale (826 arrays, the deep layers reading
8 vectors each) the overhead dominates. A **layer group** is the set of
`cell.mvm` ops of one layer that read the same input value and share the
array shape, logical rows/columns, bit widths and options; a group is read at
once when its first op runs, and the other ops take their slice:

    planes  [A, P·M, rows]   (A arrays, P input planes, M input vectors)
    counts  = planes @ C     one `torch.bmm` over the arrays, C [A, rows, ncols]
    noise   per array from its own read generator (the same stream as the
            per-array path: `read_generator(ctx, tile)`, drawn into slices)
    ADC     `contract.adc_read` in place on the whole [A, P·M, ncols] block
    planes  one weighted sum, then the slice/polarity weights by `torch.bmm`.

The arithmetic is the per-array path's (`analog.read_counts`, `_add_read_noise`,
`analog_tile`), the operations batched; results equal it up to the summation
order of batched vs single matrix products (float32 last-place differences that
can move a count across an ADC threshold only when it lies within an ULP of it).

When it applies (`group_reader`): analog mode with per-read randomness
(read noise or ADC noise: then the collapsed fast path never applies), no DAC
noise, one count matrix per read (no bias-dependent TMR with a multi-bit DAC),
no op-amp summer (cmos), every array's levels constant (programmed in the chip),
and at least two arrays in the group. Otherwise the per-array path runs.

The count matrices come straight from the chip's batched `level_units` (one
gather for the whole group) when there is no IR drop; with IR drop from each
array's `ArrayModel` (effective weights), stacked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from anncc.ir.contract import adc_read
from anncc.runtime.interpreter import ExecContext

Tensor = torch.Tensor

PLAN_KEY = "layer-read-plan"


@dataclass
class LayerGroup:
    """The ops of one layer group (module docstring), in IR order, and their read state."""

    ops: list[Any]
    tiles: list[str]
    params: list[Any]
    model: Any = None  # GroupModel, built on first read
    usable: bool | None = None


@dataclass
class GroupModel:
    """A group's arrays prepared for reads (batched twin of `analog.ArrayModel`).

    counts [A, rows, ncols]; read_var [A, rows, ncols + 1] (last column the
    reference's) or None, or with `uniform_var` one variance for every cell;
    shift_add [A, ncols, cols] (times each array's drift-compensation factor).
    """

    counts: Tensor
    read_var: Tensor | None
    uniform_var: float | None
    shift_add: Tensor
    dtype: torch.dtype
    adc_sigma_counts: float
    ideal_adc: bool
    binary_digits: bool


def _group_key(op: Any, f: Any) -> tuple[Any, ...]:
    return (f.layer, op.operands[0],
            f.rows, f.cols, f.n_slices, f.bits_per_cell, f.in_bits, bool(f.in_signed), f.dac_bits,
            f.adc_bits, f.adc_shift, f.array_rows, f.array_cols, f.g_min_s, f.g_max_s)


def layer_plan(op: Any, ctx: ExecContext) -> dict[Any, LayerGroup]:
    """op → its `LayerGroup` for every `cell.mvm` of op's module (cached in ctx)."""
    from anncc.runtime.chip import cell_ops

    top = op.get_toplevel_object()
    key = (PLAN_KEY, id(top))
    plan = ctx.cache.get(key)
    if plan is None:
        groups: dict[tuple[Any, ...], LayerGroup] = {}
        for o in cell_ops(top):
            f = o.params()
            g = groups.setdefault(_group_key(o, f), LayerGroup([], [], []))
            g.ops.append(o)
            g.tiles.append(f.tile)
            g.params.append(f)
        plan = {o: g for g in groups.values() if len(g.ops) > 1 for o in g.ops}
        ctx.cache[key] = plan
    return plan


def _usable(grp: LayerGroup, opts: Any, tgt: Any, chip: Any) -> bool:
    f = grp.params[0]
    if not opts.has_read_randomness or opts.dac_noise_sigma_lsb > 0:
        return False
    if tgt.OPAMP_SUMMER or (opts.tmr_bias and tgt.BIAS_DEPENDENT and f.dac_bits > 1):
        return False
    if any(t not in chip.index for t in grp.tiles):
        return False
    return len({chip.index[t][0] for t in grp.tiles}) == 1


def _build(grp: LayerGroup, ctx: ExecContext, target: Any, opts: Any, chip: Any,
           args_of: Any) -> GroupModel:
    """The group's count matrices, variances and shift-add weights (see `GroupModel`)."""
    from anncc.runtime import devices
    from anncc.runtime.analog import _dtype, array_model, shift_add_matrix

    f = grp.params[0]
    dtype = _dtype(f, opts)
    gi = chip.index[grp.tiles[0]][0]
    cg = chip.groups[gi]
    idx = torch.tensor([chip.index[t][1] for t in grp.tiles], dtype=torch.int64)
    rowmaps = torch.stack([args_of(o)[4].to(torch.int64) for o in grp.ops])          # [A, rows]
    colmaps = torch.stack([args_of(o)[3].reshape(-1).to(torch.int64) for o in grp.ops])  # [A, nc]
    refs = torch.tensor([p.ref_col for p in grp.params], dtype=torch.int64)
    a3, r3 = idx.view(-1, 1, 1), rowmaps[:, :, None]
    alphas = [1.0] * len(grp.ops)
    if opts.ir_drop or cg.level_units is None:  # effective weights: each array's own model
        models = [array_model(o, args_of(o), ctx) for o in grp.ops]
        counts = torch.stack([m.counts[0] for m in models]).to(dtype)
        alphas = [float(m.compensation) for m in models]
    else:
        lu = cg.level_units
        counts = (lu[a3, r3, colmaps[:, None, :]] - lu[a3, r3, refs.view(-1, 1, 1)]).to(dtype)
        if opts.drift_compensation and opts.drift_time_s > 0:
            for a, (i, rm, cm, ref) in enumerate(zip(idx.tolist(), rowmaps, colmaps, refs.tolist())):
                t0, t = cg.g_t0_s[i][rm], cg.g_s[i][rm]
                alphas[a] = float(devices.global_drift_compensation_factor(
                    t0[:, cm], t[:, cm], t0[:, ref:ref + 1], t[:, ref:ref + 1]))
    read_var, uniform = None, None
    rv = cg.read_var_units
    if opts.read_noise and rv is not None:
        if rv.stride() == (0, 0, 0):
            v = float(rv[0, 0, 0])
            uniform = v if v > 0 else None
        else:
            cols_ref = torch.cat([colmaps, refs.view(-1, 1)], 1)
            var = rv[a3, r3, cols_ref[:, None, :]].to(dtype)
            read_var = var if bool((var > 0).any()) else None
    elif opts.read_noise:  # devices without precomputed variances: each array's model
        models = [array_model(o, args_of(o), ctx) for o in grp.ops]
        if any(m.read_var is not None for m in models):
            read_var = torch.stack([m.read_var if m.read_var is not None and not m.read_var_uniform
                                    else torch.zeros(f.rows, counts.shape[-1] + 1, dtype=dtype)
                                    for m in models]).to(dtype)
    sa = shift_add_matrix(f.cols, f.n_slices, f.bits_per_cell, dtype)
    sa = torch.stack([sa * a for a in alphas])
    return GroupModel(counts, read_var, uniform, sa, dtype,
                      opts.adc_noise_sigma_lsb * float(1 << f.adc_shift), opts.ideal_adc,
                      f.dac_bits == 1)


def read_group(grp: LayerGroup, x: Tensor, ctx: ExecContext) -> Tensor:
    """Read every array of `grp` on input `x`: the unrounded shift-added sums [A, M, cols]."""
    from anncc.runtime.analog import digit_planes, read_generator

    m_ = grp.model
    f = grp.params[0]
    rows = f.rows
    xs = torch.stack([x[..., p.row_offset:p.row_offset + rows].reshape(-1, rows)
                      for p in grp.params])  # [A, M, rows]
    a, m, _ = xs.shape
    planes, weights = digit_planes(xs, f.in_bits, bool(f.in_signed), f.dac_bits, m_.dtype)
    p = planes.shape[0]
    d = planes.transpose(0, 1).reshape(a, p * m, rows)
    counts = torch.bmm(d, m_.counts)  # [A, P·M, ncols]
    ncols = counts.shape[-1]
    gens = [read_generator(ctx, t) for t in grp.tiles]
    noisy = m_.read_var is not None or m_.uniform_var is not None
    if noisy:
        xi = torch.empty_like(counts)
        ref = torch.empty((a, p * m, 1), dtype=counts.dtype)
        for i, g in enumerate(gens):  # the per-array path's draws, in its order
            torch.randn((p * m, ncols), generator=g, out=xi[i])
            torch.randn((p * m, 1), generator=g, out=ref[i])
        d2 = d if m_.binary_digits else d * d
        if m_.uniform_var is not None:
            s = d2.sum(-1, keepdim=True).mul_(m_.uniform_var)  # [A, P·M, 1]
            var, var_ref = s.clone(), s
        else:
            var = torch.bmm(d2, m_.read_var[:, :, :-1])
            var_ref = torch.bmm(d2, m_.read_var[:, :, -1:])
        if m_.adc_sigma_counts > 0:
            var.add_(m_.adc_sigma_counts ** 2)
        counts.add_(xi.mul_(var.sqrt_()))
        counts.sub_(ref.mul_(var_ref.sqrt_()))
    elif m_.adc_sigma_counts > 0:
        xi = torch.empty_like(counts)
        for i, g in enumerate(gens):
            torch.randn((p * m, ncols), generator=g, out=xi[i])
        counts.add_(xi, alpha=m_.adc_sigma_counts)
    if not m_.ideal_adc:
        adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
    pw = torch.tensor(weights, dtype=counts.dtype).view(1, 1, p)
    per_col = torch.matmul(pw, counts.view(a, p, m * ncols)).view(a, m, ncols)
    return torch.bmm(per_col, m_.shift_add.to(counts.dtype))


def group_read_mvm(op: Any, args: list[Tensor], ctx: ExecContext, f: Any) -> Tensor | None:
    """The `cell.mvm` result of `op` from its layer group's batched read, or None when the
    per-array path must run (module docstring)."""
    from anncc.runtime.analog import AnalogOptions, array_target, operand_tensor, target_of_op
    from anncc.runtime.chip import chip_of

    plan = layer_plan(op, ctx)
    grp = plan.get(op)
    if grp is None or grp.usable is False:
        return None
    x = args[0]
    slot_key = ("layer-read", id(grp))
    if grp.usable is None or grp.model is None:
        target = target_of_op(op, ctx)
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        opts = AnalogOptions.resolve(ctx.options, tgt)
        with torch.no_grad():
            chip = chip_of(ctx, op, target)
            grp.usable = _usable(grp, opts, tgt, chip)
            if not grp.usable:
                return None
            def args_of(o: Any) -> list[Tensor]:
                if o is op:
                    return args
                return [x, None, *(operand_tensor(v, ctx) for v in o.operands[2:])]

            grp.model = _build(grp, ctx, target, opts, chip, args_of)
    hit = ctx.cache.get(slot_key)
    if hit is None or hit[0] is not x or op in hit[2]:
        with torch.no_grad():
            acc = read_group(grp, x, ctx)
        hit = (x, acc.round().to(torch.int64), set())
        ctx.cache[slot_key] = hit
    i = grp.ops.index(op)
    hit[2].add(op)
    if len(hit[2]) == len(grp.ops):
        ctx.cache.pop(slot_key, None)  # every array took its slice: free the block
    lead = tuple(x.shape[:-1])
    return hit[1][i].reshape(*lead, f.cols)


__all__ = ["GroupModel", "LayerGroup", "group_read_mvm", "layer_plan", "read_group"]
