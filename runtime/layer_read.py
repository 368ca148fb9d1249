"""Batched analog reads: every array of a layer read in a few batched matrix products.

The per-array read (`analog.analog_tile`) costs one Python round trip and a few
small products per array; at ResNet scale (826 arrays, the deep layers reading
8 vectors each) the overhead dominates. A **layer group** is the set of
`cell.mvm` ops of one layer that read the same input value and share the
array shape, logical rows/columns, bit widths and options; a group is read at
once when its first op runs, and the other ops take their slice. The arrays
are arranged by the input rows they read (`BlockLayout`: the C arrays of one
row block of a tiled layer share their digit planes), then read piece by piece
(`read_pieces`: about a million elements, so every step runs in cache), the
pieces on `torch.get_num_threads()` threads, each taking the next piece when it
comes free:

    planes  [U, P·M, rows]   once per distinct row range (U ranges, P input
                             planes, M input vectors)
    counts  = planes @ [C_1 … C_C]   one product per block: its arrays' count
                             matrices side by side, [P·M, C·ncols]
    noise   per array from its own read generator (the same stream as the
            per-array path: `read_generator(ctx, tile)`), drawn whole by the
            thread that reads the array's piece
    ADC     `contract.adc_read` in place on the piece
    planes  one weighted sum, then the slice/polarity weights by `torch.bmm`.

The arithmetic is the per-array path's (`analog.read_counts`, `_add_read_noise`,
`analog_tile`), the operations batched, and the results its integers: the tests
compare every array's partial sums bit for bit (`tests/unit/test_layer_read.py`);
a count could differ only if a block's product summed an array's column in
another order than the array's own product, which we have not seen (the tests'
shapes, and every partial sum of a batch-16 read of the chip below).

A batch-100 read of the 101,008-array ResNet-18-style chip (rram, the compiler's
array sizes) draws 7.2e9 normals: 2.5 ns each on one core, so the draws, on both
threads, are half of its time (measured on the project's 2-core machine, 1 Dec
2026: 50 s before the layout, pieces and threads; 18.6 s after).

When it applies (`group_reader`): analog mode with per-read randomness
(read noise or ADC noise: then the collapsed fast path never applies), no DAC
noise, one count matrix per read (no bias-dependent TMR with a multi-bit DAC),
no op-amp summer (cmos), every array's levels constant (programmed in the chip),
and at least two arrays in the group. Otherwise the per-array path runs.

The count matrices come straight from the chip's batched `level_units` (one
gather for the whole group) when there is no IR drop; with IR drop from the
exact effective weights of the group's arrays (`_irdrop_counts`: small arrays
streamed through the column-block solver's worker processes a chunk at a time,
each chunk's count matrices made while the next are solved).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
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
    """A group's arrays prepared for reads (batched twin of `analog.ArrayModel`), laid out
    by row block (`BlockLayout`: B blocks of C arrays that read the same input rows, arrays
    in the layout's order).

    counts [B, rows, C·ncols]: each block's count matrices side by side (array c of the
    block in columns c·ncols … (c+1)·ncols − 1); read_var [B, rows, C·ncols] and read_ref
    [B, rows, C] the cells' and the reference columns' count variances per unit digit², or
    None, or with `uniform_var` one variance for every cell; shift_add [A, ncols, cols]
    (times each array's drift-compensation factor; without drift compensation one
    matrix, expanded).
    """

    counts: Tensor
    read_var: Tensor | None
    read_ref: Tensor | None
    uniform_var: float | None
    shift_add: Tensor
    dtype: torch.dtype
    adc_sigma_counts: float
    ideal_adc: bool
    binary_digits: bool
    ncols: int


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
    (`batched`: `irdrop.blocks`, a chunk of arrays at a time, streamed through the worker
    processes so that each chunk's count matrices are made while the next chunks are solved:
    `irdrop.parallel.effective_weights_stream`) or each array by itself, cached under
    `cache_dir` (`chip.effective_weights_cached_many`: on worker processes when there are many).
    """
    from anncc.runtime.chip import effective_weights_cached_many
    from anncc.runtime.irdrop.parallel import block_chunk, effective_weights_stream
    from anncc.runtime.mesh import series_conductance

    tgt = cg.target
    if not batched:
        g = cg.g_s[idx]
        g_eff = torch.stack(effective_weights_cached_many(list(g), tgt, cache_dir))
        return _counts_through_mesh(cg, idx, g, g_eff, rowmaps, colmaps, refs)
    ra = float(getattr(tgt, "r_access_ohm", 0.0))
    a = len(idx)
    _, rows, cols = cg.g_s.shape
    out = torch.empty((a, rowmaps.shape[1], colmaps.shape[1]), dtype=cg.g_s.dtype)

    gathered: dict[int, Tensor] = {}  # each chunk's conductances, gathered once for both uses

    def cells(i: int, j: int) -> Tensor:  # a float64 copy: series_conductance works in place
        g = gathered[i] = cg.g_s[idx[i:j]]
        return series_conductance(g.to(torch.float64, copy=True), ra, inplace=True)

    # one torch thread here while the solver's processes have the cores: OpenMP workers
    # waiting on each other beside busy processes made each chunk's few elementwise ops
    # take milliseconds (the first IR-drop read of the compiler's ResNet-18-style chip on
    # rram: 12.3 → 9.1 s; measured 1 Dec 2026). In place the solve keeps the caller's threads.
    keep = torch.get_num_threads()
    if block_chunk(a, rows, cols) is not None:
        torch.set_num_threads(1)
    try:
        for i, j, g_eff in effective_weights_stream(cells, a, rows, cols, float(tgt.r_wire_ohm),
                                                    float(tgt.r_contact_ohm)):
            out[i:j] = _counts_through_mesh(cg, idx[i:j], gathered.pop(i), g_eff, rowmaps[i:j],
                                            colmaps[i:j], refs[i:j])
    finally:
        torch.set_num_threads(keep)
    return out


def _counts_through_mesh(cg: Any, idx: Tensor, g: Tensor, g_eff: Tensor, rowmaps: Tensor,
                         colmaps: Tensor, refs: Tensor) -> Tensor:
    """Count matrices of arrays `idx` of `cg` (conductances g) read through G_eff."""
    from anncc.runtime.analog import count_matrices, nominal_and_levels

    g_read = g + (g_eff.to(g.dtype) - g)
    assert cg.levels is not None
    levels, faults = cg.levels[idx], cg.fault_map[idx]
    nominal = nominal_and_levels(levels, faults, cg.target, int(cg.target.bits_per_cell))[0]
    return count_matrices(g_read, levels, nominal, cg.target, rowmaps, colmaps, refs, access=True)


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
    lay = block_layout(grp)
    if all(a == 1.0 for a in alphas):  # no drift compensation: one matrix for every array
        sa = sa.expand(len(alphas), *sa.shape)
    else:
        sa = torch.stack([sa * a for a in alphas])
        sa = sa if lay.order is None else sa[lay.order]
    ncols = counts.shape[-1]
    read_ref = None
    if read_var is not None:
        read_ref = lay.blocked(read_var[:, :, -1:])
        read_var = lay.blocked(read_var[:, :, :-1])
    return GroupModel(lay.blocked(counts), read_var, read_ref, uniform, sa, dtype,
                      opts.adc_noise_sigma_lsb * float(1 << f.adc_shift), opts.ideal_adc,
                      f.dac_bits == 1, ncols)


class ReadScratch:
    """Buffers the group reads of one run share (`read_group`), reused from group to group.

    A ResNet-scale read makes tensors of hundreds of MB per layer group (the digit
    planes; before reads went piece by piece, the noise draws and counts too); allocated
    afresh, every one is new memory the kernel must map and zero page by page (1.9
    million page faults and 2.7 s of system time per
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


@dataclass(frozen=True)
class BlockLayout:
    """A layer group's arrays arranged by the input rows they read.

    The arrays of one row block of a tiled layer (same `row_offset`, different
    column blocks) read the same input rows, so they share their digit planes and
    one matrix product reads them all (`read_group`). The layout orders the group's
    arrays by row offset (stably) and cuts them into B blocks of C arrays each:
    every distinct row range one block when all ranges have the same number of
    arrays (a tiled layer's grid), else one array per block.

    offsets [U]: the distinct row offsets, ascending; order [A]: the group's array
    index at each position of the layout, or None when that is the group's order;
    source [B]: each block's row range (an index into offsets), or None when block
    b reads range b; per_block: C.
    """

    offsets: Tensor
    order: Tensor | None
    source: Tensor | None
    per_block: int

    @property
    def n_blocks(self) -> int:
        return len(self.source) if self.source is not None else len(self.offsets)

    def blocked(self, t: Tensor) -> Tensor:
        """[A, rows, n] per array (group order) → [B, rows, C·n], blocks side by side."""
        if self.order is not None:
            t = t[self.order]
        a, rows, n = t.shape
        c = self.per_block
        return t.view(a // c, c, rows, n).permute(0, 2, 1, 3).reshape(a // c, rows, c * n)


def block_layout(grp: LayerGroup) -> BlockLayout:
    """The group's `BlockLayout` (found once, kept in `grp.static`)."""
    lay = grp.static.get("block-layout")
    if lay is None:
        r0 = torch.tensor([p.row_offset for p in grp.params], dtype=torch.int64)
        offsets, inverse = torch.unique(r0, return_inverse=True)
        order = torch.sort(inverse, stable=True).indices
        sizes = torch.bincount(inverse)
        grid = bool((sizes == sizes[0]).all())
        per_block = int(sizes[0]) if grid else 1
        source = None if grid else inverse[order]
        in_order = bool(torch.equal(order, torch.arange(len(r0))))
        lay = grp.static["block-layout"] = BlockLayout(offsets, None if in_order else order, source,
                                                       per_block)
    return lay


#: Threads that read a group's pieces (`read_group`), at most `torch.get_num_threads()`.
_READ_THREADS = 8
_READ_POOL: list[ThreadPoolExecutor] = []


def _read_pool() -> ThreadPoolExecutor:
    """The threads that read a group's pieces (`read_group`)."""
    if not _READ_POOL:
        _READ_POOL.append(ThreadPoolExecutor(max_workers=_READ_THREADS,
                                             thread_name_prefix="anncc-group-read"))
    return _READ_POOL[0]


#: Elements of one piece of a group read (`read_pieces`): its counts, noise and variances
#: stay in the last-level cache (32 MiB on the project's machine) while the
#: element-wise steps pass over them.
PIECE_ELEMENTS = 1 << 20


def read_pieces(n_blocks: int, per_block: int, block_elements: int,
                limit: int) -> list[tuple[int, int, int, int]]:
    """(b0, b1, c0, c1): blocks b0…b1−1, arrays c0…c1−1 of each, about `limit` elements each.

    Whole blocks together while they fit; a block larger than the limit is cut
    into ranges of its arrays (at least one array a piece).
    """
    if block_elements <= limit:
        step = max(1, limit // max(block_elements, 1))
        return [(b, min(b + step, n_blocks), 0, per_block) for b in range(0, n_blocks, step)]
    per_array = max(1, block_elements // per_block)
    step = max(1, limit // per_array)
    return [(b, b + 1, c, min(c + step, per_block))
            for b in range(n_blocks) for c in range(0, per_block, step)]


def read_group(grp: LayerGroup, m_: GroupModel, x: Tensor, ctx: ExecContext) -> Tensor:
    """Read every array of `grp` (prepared as `m_`) on input `x`: the unrounded shift-added
    sums [A, M, cols].

    Piece by piece (`read_pieces`), each through every step (counts, noise, ADC,
    plane weights, shift-add) while it is in cache; each array's noise is drawn
    from its own generator whole, as the per-array path draws it.
    """
    from anncc.runtime.analog import digit_planes, read_generator
    from anncc.runtime.chip import draw_normals

    f = grp.params[0]
    rows, ncols, cols = f.rows, m_.ncols, m_.shift_add.shape[-1]
    lay = block_layout(grp)
    x2 = x.reshape(-1, x.shape[-1])
    a, u, m = len(grp.ops), len(lay.offsets), x2.shape[0]
    sc = read_scratch(ctx)
    dt = m_.dtype
    p = len(plane_weights(f.in_bits, bool(f.in_signed), f.dac_bits))
    pm = p * m
    # the digit planes of each distinct row range, once: [U, P·M, rows]
    planes, weights = digit_planes(gather_rows(x2, lay.offsets, rows), f.in_bits, bool(f.in_signed),
                                   f.dac_bits, dt, out=sc.take("planes", (p, u, m, rows), dt))
    du = sc.take("digits", (u, pm, rows), dt)
    du.view(u, p, m, rows).copy_(planes.transpose(0, 1))
    del planes
    du2 = du if m_.binary_digits else du * du
    tiles = grp.tiles if lay.order is None else [grp.tiles[i] for i in lay.order.tolist()]
    gens = [read_generator(ctx, t) for t in tiles]
    noisy = m_.read_var is not None or m_.uniform_var is not None
    draw = noisy or m_.adc_sigma_counts > 0
    s_all = None
    if m_.uniform_var is not None:  # Σ_i d_i² per read of each row range: exact integers
        s_all = du2.sum(-1).mul_(m_.uniform_var)  # [U, P·M]
    pw = torch.tensor(weights, dtype=dt).view(1, 1, p)
    out = torch.empty((a, m, cols), dtype=dt)
    c_all = lay.per_block
    pieces = read_pieces(lay.n_blocks, c_all, pm * c_all * ncols, PIECE_ELEMENTS)

    def read_piece(k: int, tag: str, draw_threads: int | None) -> None:
        b0, b1, c0, c1 = pieces[k]
        nb, nc = b1 - b0, c1 - c0
        j0, j1 = b0 * c_all + c0, (b1 - 1) * c_all + c1  # its arrays, in layout order
        src = slice(b0, b1) if lay.source is None else lay.source[b0:b1]
        k0, k1 = c0 * ncols, c1 * ncols
        counts = torch.bmm(du[src], m_.counts[b0:b1, :, k0:k1],
                           out=sc.take("counts" + tag, (nb, pm, nc * ncols), dt))
        cv = counts.view(nb, pm, nc, ncols)
        if draw:
            xi = sc.take("noise" + tag, (nb * nc, pm, ncols), dt)
            ref = sc.take("noise-ref" + tag, (nb * nc, pm, 1), dt) if noisy else None
            draw_normals(gens[j0:j1], xi, ref, threads=draw_threads)  # the per-array path's draws
            xv = xi.view(nb, nc, pm, ncols)
        if noisy:
            assert ref is not None
            rv = ref.view(nb, nc, pm)
            if s_all is not None:
                s = s_all[src]  # [nb, P·M]
                sd = s + m_.adc_sigma_counts ** 2 if m_.adc_sigma_counts > 0 else s.clone()
                xv.mul_(sd.sqrt_().view(nb, 1, pm, 1))
                cv.add_(xv.permute(0, 2, 1, 3))
                rv.mul_(s.sqrt().view(nb, 1, pm))
                cv.sub_(rv.permute(0, 2, 1).contiguous().unsqueeze(-1))  # (contiguous: 2× faster)
            else:
                assert m_.read_var is not None and m_.read_ref is not None
                d2 = du2[src]
                var = torch.bmm(d2, m_.read_var[b0:b1, :, k0:k1],
                                out=sc.take("variance" + tag, counts.shape, dt))
                var_ref = torch.bmm(d2, m_.read_ref[b0:b1, :, c0:c1])  # [nb, P·M, nc]
                if m_.adc_sigma_counts > 0:
                    var.add_(m_.adc_sigma_counts ** 2)
                cv.add_(var.sqrt_().view(nb, pm, nc, ncols).mul_(xv.permute(0, 2, 1, 3)))
                cv.sub_(var_ref.sqrt_().mul_(rv.permute(0, 2, 1)).unsqueeze(-1))
        elif draw:
            cv.add_(xv.permute(0, 2, 1, 3), alpha=m_.adc_sigma_counts)
        if not m_.ideal_adc:
            adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
        per_col = torch.matmul(pw, counts.view(nb, p, m * nc * ncols))  # [nb, 1, M·nc·ncols]
        per_arr = sc.take("per-array" + tag, (nb * nc, m, ncols), dt)
        per_arr.view(nb, nc, m, ncols).copy_(per_col.view(nb, m, nc, ncols).transpose(1, 2))
        if lay.order is None:
            torch.bmm(per_arr, m_.shift_add[j0:j1], out=out[j0:j1])
        else:
            out.index_copy_(0, lay.order[j0:j1], torch.bmm(per_arr, m_.shift_add[j0:j1]))

    workers = min(torch.get_num_threads(), len(pieces), _READ_THREADS)
    if workers <= 1 or a * pm * ncols < PIECE_ELEMENTS:
        for k in range(len(pieces)):
            read_piece(k, "", None)  # the draws on torch's threads when they are large
        return out
    # pieces on threads, one torch thread each (each piece's ops are too small to share)

    ticket = itertools.count()  # pieces taken in turn as threads come free (next() holds the GIL)

    def run(t: int) -> None:
        torch.set_num_threads(1)
        while (k := next(ticket)) < len(pieces):
            read_piece(k, str(t), 1)

    keep = torch.get_num_threads()
    try:
        for fut in [_read_pool().submit(run, t) for t in range(workers)]:
            fut.result()
    finally:
        torch.set_num_threads(keep)
    return out


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
    rounded as `group_read_mvm` rounds them, in the read's float dtype (integers: the caller
    sums them exactly, `layer_exec.scatter_sums`). The other mvms are the caller's."""
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
                out.append((grp, read_group(grp, st.model, x, ctx).round_()))
    return out


__all__ = ["BlockLayout", "GroupModel", "GroupState", "LayerGroup", "ReadScratch", "block_layout",
           "fused_group_reads", "gather_rows", "group_read_mvm", "layer_plan", "read_group",
           "read_pieces", "read_scratch"]
