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

from dataclasses import dataclass, field
from typing import Any

import torch

from anncc.ir.contract import adc_read, plane_weights
from anncc.runtime.interpreter import SCRATCH_KEY, ExecContext

Tensor = torch.Tensor

PLAN_KEY = "layer-read-plan"


@dataclass(eq=False)
class LayerGroup:
    """The ops of one layer group (module docstring), in IR order, with their parameters.

    Found once per module (`layer_plan`) and kept across runs; `static` keeps, per
    weight store, the group's stacked row and column maps. What depends on the chip
    (the read model, whether the group read applies) lives in the run's context
    (`GroupState`).
    """

    ops: list[Any]
    tiles: list[str]
    params: list[Any]
    index: dict[Any, int] = field(default_factory=dict)
    static: dict[Any, Any] = field(default_factory=dict)


@dataclass
class GroupState:
    """A group's read state on one chip: its `GroupModel` and whether the group read applies."""

    model: Any = None
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


_PLANS: dict[int, tuple[Any, dict[Any, LayerGroup]]] = {}
_PLAN_SLOTS = 8


def layer_plan(op: Any, ctx: ExecContext) -> dict[Any, LayerGroup]:
    """op → its `LayerGroup` for every `cell.mvm` of op's module.

    Kept across runs per module (checked once per run that its cell ops are the same
    objects), so a new chip per run does not read every op's parameters again.
    """
    from anncc.runtime.chip import cell_ops

    top = op.get_toplevel_object()
    key = (PLAN_KEY, id(top))
    plan = ctx.cache.get(key)
    if plan is not None:
        return plan
    ops = list(cell_ops(top))
    hit = _PLANS.get(id(top))
    if hit is not None and hit[0] is top and _same_ops(hit[1], ops):
        plan = hit[1]
    else:
        groups: dict[tuple[Any, ...], LayerGroup] = {}
        for o in ops:
            f = o.params()
            g = groups.setdefault(_group_key(o, f), LayerGroup([], [], []))
            g.index[o] = len(g.ops)
            g.ops.append(o)
            g.tiles.append(f.tile)
            g.params.append(f)
        plan = {o: g for g in groups.values() if len(g.ops) > 1 for o in g.ops}
        _PLANS[id(top)] = (top, plan)
        while len(_PLANS) > _PLAN_SLOTS:
            _PLANS.pop(next(iter(_PLANS)))
    ctx.cache[key] = plan
    return plan


def _same_ops(plan: dict[Any, LayerGroup], ops: list[Any]) -> bool:
    """Whether `plan` was made from exactly these cell ops (groups of one are not in it)."""
    grouped = [o for o in ops if o in plan]
    return len(grouped) == len(plan) and all(plan[o].ops[plan[o].index[o]] is o for o in grouped)


def _usable(grp: LayerGroup, opts: Any, tgt: Any, chip: Any) -> bool:
    f = grp.params[0]
    if not opts.has_read_randomness or opts.dac_noise_sigma_lsb > 0:
        return False
    if tgt.OPAMP_SUMMER or (opts.tmr_bias and tgt.BIAS_DEPENDENT and f.dac_bits > 1):
        return False
    if any(t not in chip.index for t in grp.tiles):
        return False
    return len({chip.index[t][0] for t in grp.tiles}) == 1


def _maps(grp: LayerGroup, ctx: ExecContext) -> tuple[Tensor, Tensor, Tensor]:
    """The group's row maps [A, rows], column maps [A, ncols] and reference columns [A],
    stacked once per weight store."""
    from anncc.runtime.analog import operand_tensor

    hit = grp.static.get(id(ctx.store))
    if hit is None or hit[0] is not ctx.store:
        rowmaps = torch.stack([operand_tensor(o.operands[4], ctx).to(torch.int64) for o in grp.ops])
        colmaps = torch.stack([operand_tensor(o.operands[3], ctx).reshape(-1).to(torch.int64)
                               for o in grp.ops])
        refs = torch.tensor([p.ref_col for p in grp.params], dtype=torch.int64)
        hit = (ctx.store, rowmaps, colmaps, refs)
        grp.static[id(ctx.store)] = hit
    return hit[1], hit[2], hit[3]


def _drift_alphas(opts: Any, cg: Any, idx: Tensor, rowmaps: Tensor, colmaps: Tensor,
                  refs: Tensor) -> list[float] | None:
    """Each array's drift-compensation factor (as `analog.build_array_model`), None without drift."""
    from anncc.runtime import devices

    if not (opts.drift_compensation and opts.drift_time_s > 0):
        return None
    alphas = []
    for i, rm, cm, ref in zip(idx.tolist(), rowmaps, colmaps, refs.tolist()):
        t0, t = cg.g_t0_s[i][rm], cg.g_s[i][rm]
        alphas.append(float(devices.global_drift_compensation_factor(
            t0[:, cm], t[:, cm], t0[:, ref:ref + 1], t[:, ref:ref + 1])))
    return alphas


def _batched_irdrop(f: Any, tgt: Any) -> bool:
    """Whether a group's IR drop is solved for all its arrays at once (`irdrop.blocks`):
    arrays of at most `blocks.MAX_ROWS` rows with wire and contact resistances."""
    from anncc.runtime.irdrop.blocks import MAX_ROWS

    return (f.array_rows <= MAX_ROWS and float(getattr(tgt, "r_wire_ohm", 0.0)) > 0
            and float(getattr(tgt, "r_contact_ohm", 0.0)) > 0)


def _irdrop_counts(cg: Any, idx: Tensor, rowmaps: Tensor, colmaps: Tensor, refs: Tensor,
                   batched: bool, cache_dir: Any) -> Tensor:
    """The count matrices [A, rows, ncols] of a group's arrays read through their meshes: the
    per-array model's arithmetic (`analog._effective`, `analog.count_matrix` with the access
    device) for the whole group, the exact effective weights solved for all arrays together
    (`batched`: `irdrop.blocks`) or each array by itself, cached under `cache_dir`
    (`chip.effective_weights_cached_many`: on worker processes when there are many)."""
    from anncc.runtime.analog import count_matrices, nominal_and_levels
    from anncc.runtime.chip import effective_weights_cached_many
    from anncc.runtime.irdrop.parallel import effective_weights_blocks
    from anncc.runtime.mesh import series_conductance

    tgt = cg.target
    g = cg.g_s[idx]
    if batched:
        cells = series_conductance(g.to(torch.float64), float(getattr(tgt, "r_access_ohm", 0.0)))
        g_eff = effective_weights_blocks(cells, float(tgt.r_wire_ohm), float(tgt.r_contact_ohm))
    else:
        g_eff = torch.stack(effective_weights_cached_many(list(g), tgt, cache_dir))
    g_read = g + (g_eff.to(g.dtype) - g)
    assert cg.levels is not None
    levels, faults = cg.levels[idx], cg.fault_map[idx]
    nominal = nominal_and_levels(levels, faults, tgt, int(tgt.bits_per_cell))[0]
    return count_matrices(g_read, levels, nominal, tgt, rowmaps, colmaps, refs, access=True)


def _build(grp: LayerGroup, ctx: ExecContext, target: Any, opts: Any, chip: Any,
           args_of: Any) -> GroupModel:
    """The group's count matrices, variances and shift-add weights (see `GroupModel`)."""
    from anncc.runtime.analog import _dtype, array_model, shift_add_matrix

    f = grp.params[0]
    dtype = _dtype(f, opts)
    gi = chip.index[grp.tiles[0]][0]
    cg = chip.groups[gi]
    idx = torch.tensor([chip.index[t][1] for t in grp.tiles], dtype=torch.int64)
    rowmaps, colmaps, refs = _maps(grp, ctx)
    a3, r3 = idx.view(-1, 1, 1), rowmaps[:, :, None]
    alphas = [1.0] * len(grp.ops)
    if opts.ir_drop and cg.level_units is not None:
        from anncc.runtime.chip import irdrop_cache_dir

        counts = _irdrop_counts(cg, idx, rowmaps, colmaps, refs, _batched_irdrop(f, cg.target),
                                irdrop_cache_dir(ctx)).to(dtype)
        alphas = _drift_alphas(opts, cg, idx, rowmaps, colmaps, refs) or alphas
    elif opts.ir_drop or cg.level_units is None:  # effective weights: each array's own model
        models = [array_model(o, args_of(o), ctx) for o in grp.ops]
        counts = torch.stack([m.counts[0] for m in models]).to(dtype)
        alphas = [float(m.compensation) for m in models]
    else:
        lu = cg.level_units
        counts = (lu[a3, r3, colmaps[:, None, :]] - lu[a3, r3, refs.view(-1, 1, 1)]).to(dtype)
        alphas = _drift_alphas(opts, cg, idx, rowmaps, colmaps, refs) or alphas
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


class ReadScratch:
    """Buffers the group reads of one run share (`read_group`), reused from group to group.

    A ResNet-scale read makes tensors of hundreds of MB per layer group (noise draws,
    counts, digit planes); allocated afresh, every one is new memory the kernel must
    map and zero page by page (1.9 million page faults and 2.7 s of system time per
    batch-8 read of the 101,008-array ResNet-18-style chip on rram, measured on the
    project's 2-core machine, 1 Dec 2026). Here each role keeps one flat buffer, grown
    to the largest group, for the life of one `run_module` call (`ExecContext.cache`,
    dropped when the run ends), so a kept chip's context does not hold it between runs.
    """

    def __init__(self) -> None:
        self._bufs: dict[str, Tensor] = {}

    def take(self, role: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """A contiguous tensor of `shape` for `role` (its contents are whatever was left)."""
        n = 1
        for d in shape:
            n *= d
        buf = self._bufs.get(role)
        if buf is None or buf.dtype != dtype or buf.numel() < n:
            buf = self._bufs[role] = torch.empty(n, dtype=dtype)
        return buf[:n].view(shape)


def read_scratch(ctx: ExecContext) -> ReadScratch:
    """This run's `ReadScratch` (made on first use)."""
    sc = ctx.cache.get(SCRATCH_KEY)
    if sc is None:
        sc = ctx.cache[SCRATCH_KEY] = ReadScratch()
    return sc


def gather_rows(x2: Tensor, r0: Tensor, rows: int) -> Tensor:
    """x2 [M, K] → [A, M, rows]: the slices x2[:, r0_a : r0_a + rows] of every array a."""
    idx = (r0.view(-1, 1) + torch.arange(rows)).reshape(-1)
    return x2.index_select(1, idx).view(x2.shape[0], len(r0), rows).transpose(0, 1)


def read_group(grp: LayerGroup, m_: GroupModel, x: Tensor, ctx: ExecContext) -> Tensor:
    """Read every array of `grp` (prepared as `m_`) on input `x`: the unrounded shift-added
    sums [A, M, cols]."""
    from anncc.runtime.analog import digit_planes, read_generator
    from anncc.runtime.chip import draw_normals

    f = grp.params[0]
    rows = f.rows
    r0 = grp.static.get("r0")
    if r0 is None:
        r0 = grp.static["r0"] = torch.tensor([p.row_offset for p in grp.params], dtype=torch.int64)
    xs = gather_rows(x.reshape(-1, x.shape[-1]), r0, rows)  # [A, M, rows]
    a, m, _ = xs.shape
    sc = read_scratch(ctx)
    p = len(plane_weights(f.in_bits, bool(f.in_signed), f.dac_bits))
    planes, weights = digit_planes(xs, f.in_bits, bool(f.in_signed), f.dac_bits, m_.dtype,
                                   out=sc.take("planes", (p, a, m, rows), m_.dtype))
    d = sc.take("digits", (a, p * m, rows), m_.dtype)
    d.view(a, p, m, rows).copy_(planes.transpose(0, 1))
    del planes
    ncols = m_.counts.shape[-1]
    counts = torch.bmm(d, m_.counts, out=sc.take("counts", (a, p * m, ncols), m_.dtype))  # [A, P·M, ncols]
    gens = [read_generator(ctx, t) for t in grp.tiles]
    noisy = m_.read_var is not None or m_.uniform_var is not None
    if noisy or m_.adc_sigma_counts > 0:
        xi = sc.take("noise", (a, p * m, ncols), counts.dtype)
        ref = sc.take("noise-ref", (a, p * m, 1), counts.dtype) if noisy else None
        draw_normals(gens, xi, ref)  # the per-array path's draws, in its order
    if noisy:
        assert ref is not None
        d2 = d if m_.binary_digits else torch.mul(d, d, out=sc.take("digits2", d.shape, d.dtype))
        if m_.uniform_var is not None:
            s = d2.sum(-1, keepdim=True).mul_(m_.uniform_var)  # [A, P·M, 1]
            var, var_ref = s.clone(), s
        else:
            var = torch.bmm(d2, m_.read_var[:, :, :-1], out=sc.take("variance", counts.shape, counts.dtype))
            var_ref = torch.bmm(d2, m_.read_var[:, :, -1:])
        if m_.adc_sigma_counts > 0:
            var.add_(m_.adc_sigma_counts ** 2)
        counts.add_(xi.mul_(var.sqrt_()))
        counts.sub_(ref.mul_(var_ref.sqrt_()))
    elif m_.adc_sigma_counts > 0:
        counts.add_(xi, alpha=m_.adc_sigma_counts)
    if not m_.ideal_adc:
        adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
    pw = torch.tensor(weights, dtype=counts.dtype).view(1, 1, p)
    per_col = torch.matmul(pw, counts.view(a, p, m * ncols)).view(a, m, ncols)
    return torch.bmm(per_col, m_.shift_add.to(counts.dtype))


def _state(grp: LayerGroup, op: Any, ctx: ExecContext, args_of: Any) -> GroupState:
    """The group's read state on this run's chip, prepared on first use."""
    from anncc.runtime.analog import AnalogOptions, array_target, target_of_op
    from anncc.runtime.chip import chip_of

    key = ("layer-group", id(grp))
    st = ctx.cache.get(key)
    if st is None:
        st = GroupState()
        ctx.cache[key] = st
        f = grp.params[0]
        target = target_of_op(op, ctx)
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        opts = AnalogOptions.resolve(ctx.options, tgt)
        with torch.no_grad():
            chip = chip_of(ctx, op, target)
            st.usable = _usable(grp, opts, tgt, chip)
            if st.usable:
                st.model = _build(grp, ctx, target, opts, chip, args_of)
    return st


def group_read_mvm(op: Any, args: list[Tensor], ctx: ExecContext, f: Any) -> Tensor | None:
    """The `cell.mvm` result of `op` from its layer group's batched read, or None when the
    per-array path must run (module docstring)."""
    from anncc.runtime.analog import operand_tensor

    plan = layer_plan(op, ctx)
    grp = plan.get(op)
    if grp is None:
        return None
    x = args[0]

    def args_of(o: Any) -> list[Tensor]:
        if o is op:
            return args
        return [x, None, *(operand_tensor(v, ctx) for v in o.operands[2:])]

    st = _state(grp, op, ctx, args_of)
    if not st.usable:
        return None
    slot_key = ("layer-read", id(grp))
    hit = ctx.cache.get(slot_key)
    if hit is None or hit[0] is not x or op in hit[2]:
        with torch.no_grad():
            acc = read_group(grp, st.model, x, ctx)
        hit = (x, acc.round().to(torch.int64), set())
        ctx.cache[slot_key] = hit
    i = grp.index[op]
    hit[2].add(op)
    if len(hit[2]) == len(grp.ops):
        ctx.cache.pop(slot_key, None)  # every array took its slice: free the block
    lead = tuple(x.shape[:-1])
    return hit[1][i].reshape(*lead, f.cols)


def fused_group_reads(mvms: list[Any], x: Tensor, ctx: ExecContext, args_of: Any
                      ) -> list[tuple[LayerGroup, Tensor]]:
    """Batched reads of the layer groups made of `mvms` alone (a fused layer,
    `anncc.runtime.layer_exec`): each usable group with its partial sums [A, M, cols]
    (int64, rounded as `group_read_mvm` rounds them). The other mvms are the caller's."""
    if not mvms:
        return []
    plan = layer_plan(mvms[0], ctx)
    members = set(mvms)
    seen: dict[int, LayerGroup] = {}
    for m in mvms:
        grp = plan.get(m)
        if grp is not None and id(grp) not in seen and all(o in members for o in grp.ops):
            seen[id(grp)] = grp
    out = []
    for grp in seen.values():
        st = _state(grp, grp.ops[0], ctx, args_of)
        if st.usable:
            with torch.no_grad():
                out.append((grp, read_group(grp, st.model, x, ctx).round_().to(torch.int64)))
    return out


__all__ = ["GroupModel", "GroupState", "LayerGroup", "ReadScratch", "fused_group_reads", "gather_rows",
           "group_read_mvm", "layer_plan", "read_group", "read_scratch"]
