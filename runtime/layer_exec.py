"""Fused layer execution: the arrays of one layer run as a few batched tensor ops.

Pass `tile` lowers a layer to one `xbar.mvm` per tile (one `cell.mvm` per physical
array after `allocate-resistance`), an `xbar.accumulate` per column range that sums
its row tiles' partial sums, and an `xbar.concat` of the column ranges (absent when
there is one). Run op by op, a layer of thousands of small arrays costs thousands of
kernel calls: the ResNet-18-style example on rram is 101,008 arrays of 16×16 to 32×64,
and its xbar level took 1.8 s per batch of 8 where the float model takes 10 ms
(measured 1 Dec 2026, `bench/bench_speed.py`).

`Fusion` is one such pattern, found by `fused_plan`: every mvm result used once, by an
accumulate of the pattern; every accumulate used once, by the pattern's concat; every
mvm reading the same input value. The constant operands used by the pattern's mvms
alone (the level maps, the weight matrix) belong to it too. The interpreter runs the
whole pattern as one step where its last op stood (`run_fusion`), the others skipped:

- xbar level: the tiles grouped by shape; their input slices gathered with one index,
  one `torch.bmm` with the weight tiles, the partial sums scattered into the layer's
  columns with one `index_add_`;
- cell level, ideal devices: the same with each array's sensed levels
  (`cell_kernels.sensed_levels`) read through the contract's input planes, ADC and
  shift-add in `IdealRead`'s dtypes, or the collapsed weights where the ADC never
  alters a count (`cell_kernels.collapsed_weights`);
- cell level, analog: each layer group's batched read (`layer_read.read_group`).

Each partial sum is the integer the op-by-op run computes (the float products are
exact in the dtypes chosen from the contract's bounds; an analog read is the layer
group's read, which the op-by-op run also uses), and accumulate and concat are integer
sums, so the layer's result is identical. An mvm no batched path covers (a group of
one array, analog options the group read does not take, levels computed at run time)
runs through its own kernel inside the step. Tracing, `values` and kernel overrides
(training's differentiable twins) run op by op, and so does `fuse_layers=False` in
the run's options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from anncc.errors import AnnccError
from anncc.ir.contract import accumulator_bound, adc_read
from anncc.runtime.interpreter import ExecContext
from anncc.runtime.layer_read import gather_rows
from anncc.runtime.xbar_kernels import exact_float_dtype

Tensor = torch.Tensor

MVMS = ("xbar.mvm", "cell.mvm")
ACCUMULATE = "xbar.accumulate"
CONCAT = "xbar.concat"
CONSTANTS = ("ann.weight", "ann.constant")


@dataclass(eq=False)
class Fusion:
    """One layer's mvm → accumulate → concat pattern (module docstring), run as one step.

    `out` is the op whose result the step produces (the concat, or the accumulate
    when there is one column range); `ops` every op of the pattern in IR order;
    `col_of[mvm]` the first output column of that mvm's partial sums; `width` the
    output's columns. `cache` keeps what the step prepares once per weight store.
    """

    out: Any
    mvms: list[Any]
    ops: list[Any]
    col_of: dict[Any, int]
    width: int
    cache: dict[Any, Any] = field(default_factory=dict)


@dataclass
class FusedPlan:
    """The steps of a block: ops and `Fusion`s, in order, with the absorbed ops left out."""

    steps: list[Any]


def _sole_user(value: Any) -> Any:
    uses = list(value.uses)
    return uses[0].operation if len(uses) == 1 else None


def _fusion_at(op: Any, position: Mapping[Any, int]) -> Fusion | None:
    if op.name == CONCAT:
        accs = [v.owner for v in op.operands]
        if not all(getattr(a, "name", None) == ACCUMULATE and _sole_user(a.results[0]) is op
                   for a in accs):
            return None
    elif op.name == ACCUMULATE:
        user = _sole_user(op.results[0])
        if user is not None and user.name == CONCAT:
            return None  # part of the concat's pattern
        accs = [op]
    else:
        return None
    mvms: list[Any] = []
    col_of: dict[Any, int] = {}
    col = 0
    for a in accs:
        for v in a.operands:
            m = v.owner
            if getattr(m, "name", None) not in MVMS or _sole_user(v) is not a:
                return None
            col_of[m] = col
            mvms.append(m)
        col += int(a.results[0].type.get_shape()[-1])
    x = mvms[0].operands[0]
    if len({m.name for m in mvms}) != 1 or any(m.operands[0] is not x for m in mvms):
        return None
    members = set(mvms)
    consts = {}
    seen: set[Any] = set()  # each operand value examined once (a shared fault map has many uses)
    for m in mvms:
        for v in m.operands[1:]:
            if v in seen:
                continue
            seen.add(v)
            c = v.owner
            if getattr(c, "name", None) in CONSTANTS and all(u.operation in members for u in v.uses):
                consts[c] = None
    ops = sorted([*consts, *mvms, *accs, *([op] if op.name == CONCAT else [])],
                 key=position.__getitem__)
    return Fusion(op, mvms, ops, col_of, col)


def build_plan(block: Any) -> FusedPlan:
    """The fused steps of `block` (see `Fusion`)."""
    ops = list(block.ops)
    position = {op: i for i, op in enumerate(ops)}
    at: dict[Any, Fusion] = {}
    absorbed: set[Any] = set()
    for op in ops:
        if op.name in (CONCAT, ACCUMULATE):
            fu = _fusion_at(op, position)
            if fu is not None:
                at[op] = fu
                absorbed.update(fu.ops)
    steps = [at.get(op, op) for op in ops if op not in absorbed or op in at]
    return FusedPlan(steps)


_PLANS: dict[int, tuple[Any, tuple[Any, ...], FusedPlan]] = {}
_PLAN_SLOTS = 8


def _stamp(block: Any) -> tuple[Any, ...]:
    """The block's ops in order (the plan is rebuilt when they change)."""
    return tuple(block.ops)


def _same_ops(block: Any, stamp: tuple[Any, ...]) -> bool:
    """Whether the block's ops are still `stamp`'s objects in its order.

    Walks xDSL's op list comparing identities against the stored tuple, which costs
    about a sixth of building a new stamp to compare (3.5 against 23.6 ms for a linked
    list of 300,000 objects, about a cell level of 101,008 arrays, checked every run).
    """
    op = getattr(block, "_first_op", None)
    if op is None or not hasattr(op, "_next_op"):
        ops = _stamp(block)
        return len(ops) == len(stamp) and all(a is b for a, b in zip(ops, stamp, strict=True))
    for expected in stamp:
        if op is not expected:
            return False
        op = op._next_op
    return op is None


def fused_plan(block: Any) -> FusedPlan:
    """`build_plan(block)`, kept for the block's next runs while its ops are the same objects."""
    hit = _PLANS.get(id(block))
    if hit is not None and hit[0] is block and _same_ops(block, hit[1]):
        return hit[2]
    plan = build_plan(block)
    _PLANS[id(block)] = (block, _stamp(block), plan)
    while len(_PLANS) > _PLAN_SLOTS:
        _PLANS.pop(next(iter(_PLANS)))
    return plan


# ------------------------------------------------------------------------------ running a fusion


def _value(v: Any, env: Mapping[Any, Any], ctx: ExecContext) -> Tensor:
    from anncc.runtime.analog import operand_tensor

    hit = env.get(v)
    return hit if hit is not None else operand_tensor(v, ctx)


def _per_op(fu: Fusion, m: Any, env: Mapping[Any, Any], ctx: ExecContext, kernels: Mapping) -> Tensor:
    """One mvm through its own kernel (the operands the step absorbed looked up directly)."""
    return kernels[m.name](m, [_value(v, env, ctx) for v in m.operands], ctx)


def _scatter(out: Tensor, part: Tensor, c0: Tensor) -> None:
    """out [M, N] += the partial sums part [A, M, cols] at columns c0_a .. c0_a + cols − 1."""
    a, m, cols = part.shape
    idx = (c0.view(-1, 1) + torch.arange(cols)).reshape(-1)
    out.index_add_(1, idx, part.transpose(0, 1).reshape(m, a * cols))


def scatter_sums(out: Tensor, part: Tensor, c0: Tensor) -> None:
    """out [M, N] (int64) += the rounded partial sums part [A, M, cols] (floats holding
    integers) at columns c0_a .. c0_a + cols − 1: `_scatter` of `part` as int64, exactly.

    A tiled layer's arrays (in a grid over columns base, base + cols, …: row block by row
    block, or column block by column block) are summed over the row blocks in float64 first,
    which is exact (integers far below 2^53), so only [C, M, cols] is converted and added
    where `_scatter` converted and index-added all of [A, M, cols] (72 arrays' partial sums
    of 102,400 input vectors × 32 columns, a layer1 group of the ResNet-18-style chip at batch
    100: 1.19 → 0.65 s on 2 threads, measured 1 Dec 2026). Other layouts go through `_scatter`.
    """
    a, m, cols = part.shape
    c0l = c0.tolist()
    base = c0l[0]
    run = next((k for k, c in enumerate(c0l) if c != base), a)  # arrays in the first column block
    if run == 1:  # row block by row block: C arrays side by side, then the next row block
        c = c0l.index(base, 1) if c0l.count(base) > 1 else a
        blocks, sum_dim = [base + k * cols for k in range(c)] * (a // c), 0
        shape = (a // c, c, m, cols)
    else:  # column block by column block: R arrays of one column block, then the next
        c = a // run
        blocks, sum_dim = [base + k * cols for k in range(c) for _ in range(run)], 1
        shape = (c, run, m, cols)
    if c0l != blocks or base + c * cols > out.shape[1]:  # (a list of another length too)
        _scatter(out, part.to(torch.int64), c0)
        return
    sums = part.view(shape).sum(sum_dim, dtype=torch.float64)  # [C, M, cols], exact
    out[:, base:base + c * cols].view(m, c, cols).add_(sums.transpose(0, 1).to(torch.int64))


def _groups(items: list[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = {}
    for key, m in items:
        out.setdefault(key, []).append(m)
    return out


def _partition(geos: list[tuple[int, int, int, int, int]], shape: tuple[int, int]) -> bool:
    """Whether tiles (r0, c0, rows, cols, output column) cover the [K, N] matrix exactly once,
    each at its own columns of the output (then the layer is one product)."""
    k, n = shape
    cover = torch.zeros((k, n), dtype=torch.int32)
    for r0, c0, rows, cols, col in geos:
        if col != c0 or r0 < 0 or c0 < 0 or r0 + rows > k or c0 + cols > n:
            return False
        cover[r0:r0 + rows, c0:c0 + cols] += 1
    return bool((cover == 1).all())


def _xbar_prepare(fu: Fusion, env: Mapping[Any, Any], ctx: ExecContext) -> list[tuple[Any, ...]]:
    """Batches of the layer's tiles: (rows, row offsets, output columns, weight tiles
    [A, rows, cols] in the float dtype exact at their bound) per tile shape, or one
    (None, None, None, weights [K, N]) when the tiles partition the weight matrix."""
    from anncc.ir.xbar import int_info

    w = _value(fu.mvms[0].operands[1], env, ctx)
    info = int_info(fu.mvms[0].input.type)
    assert info is not None
    in_bits, signed = info
    items, geos = [], []
    for m in fu.mvms:
        r0, c0, rows, cols = m.bounds()
        items.append(((rows, cols, m.w_bits.value.data), (r0, c0, fu.col_of[m])))
        geos.append((r0, c0, rows, cols, fu.col_of[m]))
    w_bits = {key[2] for key, _ in items}
    if len(w_bits) == 1 and _partition(geos, tuple(w.shape)):
        dt = exact_float_dtype(accumulator_bound(w.shape[0], in_bits, signed, w_bits.pop()))
        return [(None, None, None, w.to(dt))]
    prep = []
    for (rows, cols, wb), geo in _groups(items).items():
        g = torch.tensor(geo, dtype=torch.int64)
        dt = exact_float_dtype(accumulator_bound(rows, in_bits, signed, wb))
        ri = (g[:, 0].view(-1, 1) + torch.arange(rows)).view(-1, rows, 1)
        ci = (g[:, 1].view(-1, 1) + torch.arange(cols)).view(-1, 1, cols)
        prep.append((rows, g[:, 0], g[:, 2], w[ri, ci].to(dt)))
    return prep


def _product(out: Tensor, x2: Tensor, batch: tuple[Any, ...]) -> None:
    """out += the integer products of one batch of `_xbar_prepare`'s form."""
    rows, r0, col, wt = batch
    if rows is None:  # the whole layer: one product
        out += torch.matmul(x2[:, :wt.shape[0]].to(wt.dtype), wt).round_().to(torch.int64)
        return
    xs = gather_rows(x2, r0, rows).to(wt.dtype)                           # [A, M, rows]
    _scatter(out, torch.bmm(xs, wt).round_().to(torch.int64), col)


def _xbar_step(fu: Fusion, x2: Tensor, env: Mapping[Any, Any], ctx: ExecContext, out: Tensor) -> None:
    key = ("xbar", id(ctx.store))
    hit = fu.cache.get(key)
    if hit is None or hit[0] is not ctx.store:
        hit = (ctx.store, _xbar_prepare(fu, env, ctx))
        fu.cache[key] = hit
    for batch in hit[1]:
        _product(out, x2, batch)


@dataclass
class _IdealGroup:
    """Arrays of one fusion read alike (same shape, bits and ADC), prepared for one batched read."""

    f: Any                 # the first array's ArrayParams (everything but offsets and data)
    r0: Tensor
    col: Tensor
    sel: Tensor | None     # [A, rows, ncols] sensed levels in `dtype`, None when collapsed
    w_eff: Tensor | None   # [A, rows, cols] collapsed weights (exact in their float dtype)
    dtype: torch.dtype
    plane_dtype: torch.dtype
    sa: Tensor | None


#: Arrays prepared together for an ideal read (bounds the int64 level stacks' memory).
PREPARE_CHUNK = 2048


def _ideal_prepare(fu: Fusion, env: Mapping[Any, Any], ctx: ExecContext
                   ) -> tuple[list[_IdealGroup], list[Any], Tensor | None]:
    """The fusion's arrays grouped for batched ideal reads (batched `sensed_levels` and
    collapse test), the mvms left to their own kernel, and the whole layer's collapsed
    weights when one product computes it (`_collapsed_layer`; then no groups)."""
    from anncc.runtime.cell_kernels import IdealRead, collapsed_batch, sensed_levels_batch

    tensors: dict[Any, Tensor] = {}

    def val(v: Any) -> Tensor:  # shared constants (fault maps, column maps) loaded once
        t = tensors.get(v)
        if t is None:
            t = tensors[v] = _value(v, env, ctx)
        return t

    items = []
    alone = []
    geos: list[tuple[int, ...]] = []
    for m in fu.mvms:
        try:
            args = [val(v) for v in m.operands[2:]]
        except AnnccError:  # levels computed at run time: the op's own kernel
            alone.append(m)
            continue
        f = m.params()
        key = (f.rows, f.cols, f.n_slices, f.bits_per_cell, f.in_bits, f.in_signed, f.dac_bits,
               f.adc_bits, f.adc_shift, f.array_rows, f.array_cols)
        items.append((key, (m, f, args)))
        geos.append((f.row_offset, f.col_offset, f.rows, f.cols, fu.col_of[m]))
    groups = []
    for members in _groups(items).values():
        f = members[0][1]
        dtype, plane_dtype, sa = IdealRead.arithmetic(f)
        bound = accumulator_bound(f.rows, f.in_bits, bool(f.in_signed), f.n_slices * f.bits_per_cell + 1)
        w_dtype = exact_float_dtype(bound)  # as cell_mvm's int_matmul
        for i in range(0, len(members), PREPARE_CHUNK):
            part = members[i:i + PREPARE_CHUNK]
            lv, cm, rm, fm = ([a[k] for _, _, a in part] for k in range(4))
            sel = sensed_levels_batch(
                torch.stack(lv), torch.stack([c.reshape(-1) for c in cm]), torch.stack(rm),
                torch.stack([x.expand(y.shape) for x, y in zip(fm, lv)]),
                torch.tensor([p.ref_col for _, p, _ in part]), f.bits_per_cell)
            ok, w_eff = collapsed_batch(sel, f)
            r0 = torch.tensor([p.row_offset for _, p, _ in part], dtype=torch.int64)
            col = torch.tensor([fu.col_of[m] for m, _, _ in part], dtype=torch.int64)
            if bool(ok.any()):
                groups.append(_IdealGroup(f, r0[ok], col[ok], None, w_eff[ok].to(w_dtype), dtype,
                                          plane_dtype, None))
            if not bool(ok.all()):
                bad = ~ok
                groups.append(_IdealGroup(f, r0[bad], col[bad], sel[bad].to(dtype), None, dtype,
                                          plane_dtype, sa))
    full = _collapsed_layer(fu, groups, geos) if not alone else None
    return ([], alone, full) if full is not None else (groups, alone, None)


def _collapsed_layer(fu: Fusion, groups: list[_IdealGroup], geos: list[tuple[int, ...]]
                     ) -> Tensor | None:
    """When every array collapses and the tiles partition the weight matrix: the layer's
    collapsed weights [K, N] in the float dtype exact at the layer's bound (one product)."""
    if not groups or any(g.w_eff is None for g in groups):
        return None
    k, n = (int(d) for d in fu.mvms[0].operands[1].type.get_shape())
    if not _partition(geos, (k, n)):
        return None
    f = groups[0].f
    w = torch.zeros((k, n), dtype=torch.int64)
    for g in groups:
        assert g.w_eff is not None
        a, rows, cols = g.w_eff.shape
        ri = (g.r0.view(-1, 1) + torch.arange(rows)).view(a, rows, 1)
        ci = (g.col.view(-1, 1) + torch.arange(cols)).view(a, 1, cols)
        w[ri, ci] = g.w_eff.round().to(torch.int64)
    bound = accumulator_bound(k, f.in_bits, bool(f.in_signed),
                              max(g.f.n_slices * g.f.bits_per_cell for g in groups) + 1)
    return w.to(exact_float_dtype(bound))


def _ideal_step(fu: Fusion, x2: Tensor, env: Mapping[Any, Any], ctx: ExecContext, out: Tensor,
                kernels: Mapping) -> None:
    from anncc.runtime.analog import digit_planes

    key = ("ideal", id(ctx.store))
    hit = fu.cache.get(key)
    if hit is None or hit[0] is not ctx.store:
        hit = (ctx.store, *_ideal_prepare(fu, env, ctx))
        fu.cache[key] = hit
    _, groups, alone, full = hit
    if full is not None:
        _product(out, x2, (None, None, None, full))
    for g in groups:
        f = g.f
        xs = gather_rows(x2, g.r0, f.rows)                                   # [A, M, rows]
        if g.w_eff is not None:  # the collapsed product, in the dtype its bound allows
            part = torch.bmm(xs.to(g.w_eff.dtype), g.w_eff).round_().to(torch.int64)
        else:
            assert g.sel is not None and g.sa is not None
            planes, weights = digit_planes(xs, f.in_bits, bool(f.in_signed), f.dac_bits, g.dtype)
            p, a, m, rows = planes.shape
            counts = torch.bmm(planes.transpose(0, 1).reshape(a, p * m, rows), g.sel)
            adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
            pw = torch.tensor(weights, dtype=g.plane_dtype).view(1, 1, p)
            per_col = torch.matmul(pw, counts.to(g.plane_dtype).view(a, p, -1)).view(a, m, -1)
            part = torch.matmul(per_col.to(g.sa.dtype), g.sa).round_().to(torch.int64)
        _scatter(out, part, g.col)
    for m in alone:
        _add_alone(fu, m, env, ctx, out, kernels)


def _add_alone(fu: Fusion, m: Any, env: Mapping[Any, Any], ctx: ExecContext, out: Tensor,
               kernels: Mapping) -> None:
    part = _per_op(fu, m, env, ctx, kernels)
    c = fu.col_of[m]
    out[:, c:c + part.shape[-1]] += part.reshape(out.shape[0], -1)


def _analog_step(fu: Fusion, x: Tensor, env: Mapping[Any, Any], ctx: ExecContext, out: Tensor,
                 kernels: Mapping) -> None:
    from anncc.runtime.layer_read import fused_group_reads

    done = fused_group_reads(fu.mvms, x, ctx, lambda m: [_value(v, env, ctx) for v in m.operands])
    for grp, part in done:
        scatter_sums(out, part, torch.tensor([fu.col_of[m] for m in grp.ops], dtype=torch.int64))
    covered = {m for grp, _ in done for m in grp.ops}
    for m in fu.mvms:
        if m not in covered:
            _add_alone(fu, m, env, ctx, out, kernels)


def run_fusion(fu: Fusion, env: Mapping[Any, Any], ctx: ExecContext, kernels: Mapping) -> Tensor:
    """The result of `fu.out`, computed for the whole pattern at once (module docstring)."""
    x = env[fu.mvms[0].operands[0]]
    lead = tuple(x.shape[:-1])
    x2 = x.reshape(-1, x.shape[-1])
    out = torch.zeros((x2.shape[0], fu.width), dtype=torch.int64)
    with torch.no_grad():
        if fu.mvms[0].name == "xbar.mvm":
            _xbar_step(fu, x2, env, ctx, out)
        elif not ctx.analog:
            _ideal_step(fu, x2, env, ctx, out, kernels)
        else:
            _analog_step(fu, x, env, ctx, out, kernels)
    return out.reshape(*lead, fu.width)


def fusion_enabled(ctx: ExecContext) -> bool:
    return bool(ctx.options.get("fuse_layers", True))


__all__ = ["Fusion", "FusedPlan", "build_plan", "fused_plan", "fusion_enabled", "run_fusion", "scatter_sums"]
