"""`tile` (ann -> xbar): partition every quantized layer into logical tiles of the array size.

A logical tile holds `rows × cols` weights. On the physical array each weight
needs `2 · n_slices` columns (a differential pair, each bit-sliced into
`n_slices = ⌈(w_bits−1)/bits_per_cell⌉` cells), plus one reference column and
the spare rows and columns reserved for redundancy, so

    rows = array_rows − spare_rows
    cols = ⌊(array_cols − 1 − spare_cols) / (2 · n_slices)⌋.

A layer's `[K, N]` matrix is covered by column ranges of `cols` and, in each,
row ranges of `rows`: one `xbar.mvm` per tile, `xbar.accumulate` over the row
ranges, `xbar.concat` over the column ranges, `xbar.requant` (bias, fixed-point
rescale, fused ReLU/ReLU6 clamp). A grouped convolution's matrix is
block-diagonal: tiles bundle whole groups and skip the zero blocks. A
convolution is `xbar.unfold` (im2col) before and a permute/reshape after.

Between layers values stay integers: max-pool, reshape, permute and ReLU
of a dequantized value are moved onto the integers, and a layer whose input
comes straight from the previous layer's requantization with the same type
and scale takes it with no float step. Other digital ops (add, softmax, layer
norm, pooling averages, attention) run in float between `xbar.dequantize` and
`xbar.quantize`.

Array size per layer (sized to the parasitics). Unless `rows`/`cols`, or the
user's own `array_rows`/`array_cols` (a target override or target file), fix
it, each layer gets its own physical array size: powers of two from the target's
`array_rows × array_cols` (never above the target's maximum) down to 16
(`_irdrop_sizing.MIN_SIDE`), preferring the fewest arrays, then the highest
`g_max`, then the smaller array, among the sizes whose **exact** worst-column
IR-drop error (`passes/_irdrop_sizing.py`: the layer's densest array at its
programmed levels, all its rows driven, solved on `runtime.mesh.ArrayMesh`) is
within the budget (`irdrop-budget`, default the target's `irdrop_budget`). If no
size meets it, the one with the least error; `allocate-resistance` then warns
(or fails with `strict`). The choice per layer is the module attribute
`anncc.array_sizing` (JSON: layer -> `LayerChoice`), which
`allocate-resistance` reads.

Options: `rows`, `cols` (the physical array; 0 = sized per layer as above),
`bits-per-cell` (0 = the target's), `spare-rows`, `spare-cols` (reserved for
`insert-redundancy`), `irdrop-budget` (0 = the target's), `target` (default:
the module's `anncc.target`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from anncc.errors import AnnccError
from anncc.ir._xdsl import (
    Context,
    InsertPoint,
    ModuleOp,
    ModulePass,
    Operation,
    Rewriter,
    SSAValue,
    StringAttr,
    dce,
)
from anncc.ir.ann import (
    ConvOp,
    LinearOp,
    MaxPoolOp,
    PermuteOp,
    Relu6Op,
    ReluOp,
    ReshapeOp,
    WeightOp,
    quant_of,
)
from anncc.ir.contract import (
    INT64_MAX,
    accumulator_bound,
    n_slices_for,
    requant_multiplier,
    requant_product_bound,
    signed_bits,
    slice_levels,
)
from anncc.ir.shapes import tensor
from anncc.ir.store import WeightStore
from anncc.ir.xbar import (
    ACC_BITS,
    AccumulateOp,
    ConcatOp,
    DequantizeOp,
    MvmOp,
    QuantizeOp,
    RequantOp,
    UnfoldOp,
    int_info,
    int_range,
    int_type,
)
from anncc.passes._store import store_of
from anncc.passes._util import (
    ConstantPool,
    LayerNamer,
    conv_geometry,
    func_blocks,
    groups_of,
    layer_name,
    static_dims,
)
from anncc.passes.quantize import fused_activation

MOVABLE_OPS = (MaxPoolOp, ReshapeOp, PermuteOp, ReluOp)


@dataclass(frozen=True)
class TileShape:
    """The logical tile an array holds once slicing, polarity and spares are counted."""

    rows: int
    cols: int
    n_slices: int

    @staticmethod
    def for_array(array_rows: int, array_cols: int, w_bits: int, bits_per_cell: int,
                  spare_rows: int, spare_cols: int) -> TileShape:
        n_slices = n_slices_for(w_bits, bits_per_cell)
        rows = array_rows - spare_rows
        cols = (array_cols - 1 - spare_cols) // (2 * n_slices)
        if rows < 1 or cols < 1:
            raise AnnccError(
                f"tile: a {array_rows}x{array_cols} array with {spare_rows} spare rows and "
                f"{spare_cols} spare columns cannot hold one {w_bits}-bit weight "
                f"({n_slices} slices x 2 polarities + a reference column)")
        return TileShape(rows, cols, n_slices)


@dataclass(frozen=True)
class LayerBounds:
    """Worst-case integer widths of one layer (DESIGN.md section 4), from bit widths and fan-in.

    `array_rows`: the most rows an array may sum without leaving its si32 partial
    sum; `acc_bits`: the layer accumulator (all row tiles of a column range);
    `acc_type_bits`: the accumulator's tensor type (32, or 64 above 32 bits);
    `mult_bits`: requantization multiplier bits that keep `(acc + bias)·M + 2^(S−1)`
    within int64.
    """

    array_rows: int
    acc_bound: int
    acc_bits: int
    acc_type_bits: int
    mult_bits: int

    @staticmethod
    def of(layer: str, fan_in: int, in_bits: int, in_signed: bool, w_bits: int,
           bias_bound: int) -> LayerBounds:
        per_row = accumulator_bound(1, in_bits, in_signed, w_bits)
        array_rows = PSUM_MAX // per_row
        if array_rows < 1:
            raise AnnccError(f"tile: layer '{layer}': one {in_bits}-bit input times a {w_bits}-bit "
                             f"weight ({per_row}) exceeds the si32 partial sum")
        acc = accumulator_bound(fan_in, in_bits, in_signed, w_bits)
        acc_bits = signed_bits(acc)
        if acc_bits > 64:
            raise AnnccError(f"tile: layer '{layer}': worst-case accumulator |acc| <= {acc} needs "
                             f"{acc_bits} bits, above int64")
        total_bits = (acc + bias_bound).bit_length()
        mult_bits = min(31, 62 - total_bits)
        if mult_bits < MIN_MULT_BITS:
            raise AnnccError(
                f"tile: layer '{layer}': worst-case requantization product (|acc + bias| <= "
                f"{acc + bias_bound}, {total_bits} bits) leaves {mult_bits} multiplier bits in int64 "
                f"(need {MIN_MULT_BITS}); lower in-bits, w-bits or the fan-in")
        return LayerBounds(array_rows, acc, acc_bits, 32 if acc_bits <= 32 else 64, mult_bits)


#: Module attribute: each layer's chosen array size, g_max and IR-drop figures (JSON).
SIZING_ATTR = "anncc.array_sizing"

#: The largest partial sum of one array (si32).
PSUM_MAX = (1 << 31) - 1
#: Fewest multiplier bits tile accepts for requantization (relative error 2^-15).
MIN_MULT_BITS = 16

ColumnRange = tuple[int, int, list[tuple[int, int]]]


def tile_ranges(k: int, n: int, groups: int, shape: TileShape) -> list[ColumnRange]:
    """Column ranges `(c0, width, [(r0, height), ...])` covering a `[K, N]` matrix.

    With groups, the matrix is block-diagonal and tiles bundle whole groups.
    """
    out: list[tuple[int, int, list[tuple[int, int]]]] = []
    kg, ng = k // groups, n // groups
    if groups > 1 and kg <= shape.rows and ng <= shape.cols:
        per = min(shape.rows // kg, shape.cols // ng)
        for g0 in range(0, groups, per):
            gn = min(per, groups - g0)
            out.append((g0 * ng, gn * ng, [(g0 * kg, gn * kg)]))
        return out
    for g in range(groups):
        for c0 in range(g * ng, (g + 1) * ng, shape.cols):
            width = min(shape.cols, (g + 1) * ng - c0)
            rows = [(r0, min(shape.rows, (g + 1) * kg - r0))
                    for r0 in range(g * kg, (g + 1) * kg, shape.rows)]
            out.append((c0, width, rows))
    return out


@dataclass(frozen=True)
class TilePass(ModulePass):
    """ann -> xbar tiling; see the module docstring for the options."""

    name = "tile"
    rows: int = 0
    cols: int = 0
    bits_per_cell: int = 0
    spare_rows: int = 0
    spare_cols: int = 0
    irdrop_budget: float = 0.0
    target: str = ""

    def geometry(self, module: ModuleOp) -> tuple[int, int, int]:
        rows, cols, bpc = self.rows, self.cols, self.bits_per_cell
        if not (rows and cols and bpc):
            from anncc.passes._target import target_of

            t = target_of(module, self.target)
            rows, cols = rows or t.array_rows, cols or t.array_cols
            bpc = bpc or t.bits_per_cell
        if rows < 1 or cols < 2 or not 1 <= bpc <= 4:
            raise AnnccError(f"tile: need rows >= 1, cols >= 2, bits-per-cell in [1, 4] "
                             f"(got {rows}, {cols}, {bpc})")
        return rows, cols, bpc

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from anncc.passes._target import target_of

        store = store_of(op)
        array_rows, array_cols, bpc = self.geometry(op)
        tgt = target_of(op, self.target)
        budget = self.irdrop_budget or float(tgt.irdrop_budget)
        fixed = _user_array_size(op, self.target)
        fixed_rows, fixed_cols = self.rows or fixed[0], self.cols or fixed[1]
        sizing: dict[str, dict] = {}
        rw = Rewriter()
        layer_index = 0
        namer = LayerNamer()
        for block in func_blocks(op):
            pool = ConstantPool(store, block)
            for o in list(block.ops):
                if isinstance(o, MOVABLE_OPS):
                    _move_onto_integers(o, rw)
                elif isinstance(o, (LinearOp, ConvOp)):
                    q = quant_of(o)
                    if q is None:
                        raise AnnccError(f"tile: layer '{layer_name(o, layer_index)}' is not "
                                         "quantized; run 'quantize' first")
                    name = namer(o, layer_index)
                    wq = store.get(q.qweight, q.qweight_digest)
                    choice = self._size_layer(name, np.asarray(wq), groups_of(o), q, tgt, bpc,
                                              array_rows, array_cols, budget, fixed_rows, fixed_cols)
                    sizing[name] = choice.to_json()
                    shape = TileShape.for_array(choice.array_rows, choice.array_cols, q.w_bits, bpc,
                                                self.spare_rows, self.spare_cols)
                    self._lower_layer(o, name, q, shape, pool, rw)
                    layer_index += 1
        if sizing:
            op.attributes[SIZING_ATTR] = StringAttr(json.dumps(sizing, sort_keys=True))
        dce(op)  # xDSL: pure ops whose results are unused (stale quantizes, dequantizes)

    # ----------------------------------------------------------------- array size
    def _size_layer(self, name: str, wq: np.ndarray, groups: int, q, tgt, bpc: int,
                    nominal_rows: int, nominal_cols: int, budget: float, fixed_rows: int = 0,
                    fixed_cols: int = 0):
        """This layer's array size and g_max (module docstring; `_irdrop_sizing.choose_layer`)."""
        from anncc.passes import _irdrop_sizing as sz

        k, n = wq.shape
        n_slices = n_slices_for(q.w_bits, bpc)
        per_row = accumulator_bound(1, q.in_bits, q.in_signed, q.w_bits)
        psum_rows = max(1, PSUM_MAX // per_row)
        # one level sum per weight, and 2-D prefix sums: any tile's total level in O(1)
        lv_sum = level_sums(wq, n_slices, bpc)
        pre = np.zeros((k + 1, n + 1), dtype=np.int64)
        pre[1:, 1:] = lv_sum.cumsum(0).cumsum(1)

        def tiling(r: int, c: int):
            try:
                shape = TileShape.for_array(r, c, q.w_bits, bpc, self.spare_rows, self.spare_cols)
            except AnnccError:
                return None
            if shape.rows > psum_rows:
                shape = TileShape(psum_rows, shape.cols, shape.n_slices)
            best, count = None, 0
            for ci, (c0, width, row_ranges) in enumerate(tile_ranges(k, n, groups, shape)):
                for ri, (r0, h) in enumerate(row_ranges):
                    count += 1
                    tot = (pre[r0 + h, c0 + width] - pre[r0, c0 + width] - pre[r0 + h, c0]
                           + pre[r0, c0])
                    if best is None or tot > best[0]:
                        best = (tot, r0, h, c0, width, f"{name}.r{ri}c{ci}")
            assert best is not None
            _, r0, h, c0, width, tile = best
            levels = slice_levels(wq[r0:r0 + h, c0:c0 + width], n_slices, bpc).reshape(h, -1)
            return count, levels, tile

        need_cols = n * 2 * n_slices + 1 + self.spare_cols
        least_cols = 2 * n_slices + 1 + self.spare_cols
        rows = sz.candidate_sides(nominal_rows, min(k, psum_rows) + self.spare_rows, fixed_rows,
                                  self.spare_rows + 1)
        cols = sz.candidate_sides(nominal_cols, need_cols, fixed_cols, least_cols)
        try:
            return sz.choose_layer([(r, c) for r in rows for c in cols], tiling, tgt, budget)
        except ValueError:
            raise AnnccError(f"tile: layer '{name}': no array of at most {nominal_rows}x"
                             f"{nominal_cols} holds one {q.w_bits}-bit weight") from None

    # ----------------------------------------------------------------- one layer
    def _lower_layer(self, op, name: str, q, shape: TileShape, pool: ConstantPool,
                     rw: Rewriter) -> None:
        store = pool.store
        wq = store.get(q.qweight, q.qweight_digest)
        wscale = np.asarray(store.get(q.wscale, q.wscale_digest), dtype=np.float64)
        k, n = wq.shape
        bias = _bias(op, store)
        eff = q.in_scale * wscale
        bias_q = np.clip(np.rint(bias / eff), -(2**31), 2**31 - 1).astype(np.int32)
        bounds = LayerBounds.of(name, k // groups_of(op), q.in_bits, q.in_signed, q.w_bits,
                                int(np.abs(bias_q.astype(np.int64)).max(initial=0)))
        if shape.rows > bounds.array_rows:  # split rows so each array's partial sum fits si32
            shape = TileShape(bounds.array_rows, shape.cols, shape.n_slices)
        in_t = int_type(q.in_bits, q.in_signed)
        xq = _integer_input(op.input, q.in_scale, in_t, op, rw, name)
        if isinstance(op, ConvOp):
            kern, stride, pad, dil = conv_geometry(op)
            x_dims = static_dims(xq)
            out_sp = static_dims(op.results[0])[2:]
            positions = int(np.prod(out_sp))
            unfold = UnfoldOp(xq, kern, stride, pad, dil, tensor([x_dims[0], positions, k], in_t),
                              layer=name)
            unfold.results[0].name_hint = f"{name}_cols"
            rw.insert_op(unfold, InsertPoint.before(op))
            mat_in = unfold.results[0]
        else:
            mat_in = xq
        lead = static_dims(mat_in)[:-1]
        w_op = WeightOp(q.qweight, q.qweight_digest, tensor([k, n], int_type(8, True)))
        rw.insert_op(w_op, InsertPoint.before(op))
        si32_t, acc_el = int_type(ACC_BITS, True), int_type(bounds.acc_type_bits, True)
        psum_types: dict[int, Any] = {}

        def psum_t(width: int) -> Any:  # one type per tile width (building one per tile is slow)
            if width not in psum_types:
                psum_types[width] = tensor(lead + [width], si32_t)
            return psum_types[width]

        acc_t = lambda width: tensor(lead + [width], acc_el)  # noqa: E731
        col_results = []
        for ci, (c0, width, row_ranges) in enumerate(tile_ranges(k, n, groups_of(op), shape)):
            partials = []
            for ri, (r0, height) in enumerate(row_ranges):
                tile_bits = signed_bits(accumulator_bound(height, q.in_bits, q.in_signed, q.w_bits))
                mvm = MvmOp(mat_in, w_op.results[0], f"{name}.r{ri}c{ci}", r0, c0, height, width,
                            q.w_bits, psum_t(width), layer=name, acc_bits=tile_bits)
                mvm.results[0].name_hint = f"{name}_r{ri}c{ci}"
                rw.insert_op(mvm, InsertPoint.before(op))
                partials.append(mvm.results[0])
            fan_in = min(sum(h for _, h in row_ranges), k // groups_of(op))
            acc = AccumulateOp(partials, acc_t(width), layer=name, acc_bits=signed_bits(
                accumulator_bound(fan_in, q.in_bits, q.in_signed, q.w_bits)))
            rw.insert_op(acc, InsertPoint.before(op))
            col_results.append(acc.results[0])
        if len(col_results) > 1:
            cat = ConcatOp(col_results, acc_t(n), layer=name)
            rw.insert_op(cat, InsertPoint.before(op))
            acc_val = cat.results[0]
        else:
            acc_val = col_results[0]
        # requantization: per channel (acc + bias)·M >> S, fused activation clamp
        try:
            ms = [requant_multiplier(e / q.out_scale, bounds.mult_bits) for e in eff]
        except ValueError as e:
            raise AnnccError(f"tile: layer '{name}': {e}") from None
        bias_bound = int(np.abs(bias_q.astype(np.int64)).max(initial=0))
        product = max(requant_product_bound(bounds.acc_bound, bias_bound, m, s) for m, s in ms)
        if product > INT64_MAX:  # mult_bits was chosen so that this cannot happen
            raise AnnccError(f"tile: layer '{name}': requantization product {product} exceeds int64")
        mult = np.array([m for m, _ in ms], dtype=np.int32)
        shift = np.array([s for _, s in ms], dtype=np.int32)
        out_t = int_type(q.out_bits, q.out_signed)
        lo, hi = int_range(q.out_bits, q.out_signed)
        act = fused_activation(op)
        if act is not None:
            lo = max(lo, 0)
            if isinstance(act, Relu6Op):
                hi = min(hi, int(round(6.0 / q.out_scale)))
        si32 = int_type(ACC_BITS, True)
        operands = [pool.get(arr, si32, f"{name}.{what}")
                    for what, arr in (("bias_q", bias_q), ("multiplier", mult), ("shift", shift))]
        req = RequantOp(acc_val, *operands, 0, lo, hi, q.out_scale, tensor(lead + [n], out_t),
                        layer=name, acc_bits=bounds.acc_bits, product_bits=signed_bits(product))
        req.results[0].name_hint = f"{name}_q"
        rw.insert_op(req, InsertPoint.before(op))
        yq = req.results[0]
        if isinstance(op, ConvOp):
            b_dim = lead[0]
            perm = PermuteOp(yq, [0, 2, 1], tensor([b_dim, n, lead[1]], out_t))
            rw.insert_op(perm, InsertPoint.before(op))
            out_dims = static_dims(op.results[0])
            resh = ReshapeOp(perm.results[0], tensor(out_dims, out_t))
            rw.insert_op(resh, InsertPoint.before(op))
            yq = resh.results[0]
            yq.name_hint = f"{name}_q"
        final = act if act is not None else op
        deq = DequantizeOp(yq, q.out_scale, final.results[0].type, layer=name)
        deq.results[0].name_hint = final.results[0].name_hint
        rw.insert_op(deq, InsertPoint.before(op))
        final.results[0].replace_all_uses_with(deq.results[0])
        if act is not None:
            rw.erase_op(act)
        rw.erase_op(op)


def level_sums(wq: np.ndarray, n_slices: int, bits_per_cell: int) -> np.ndarray:
    """Per weight, the sum of its cells' levels over slices and polarities [K, N] (int64):
    `slice_levels(wq, ...).sum(axis=(2, 3))` without the [K, N, slices, 2] array (one
    polarity of a differential pair is level 0, the other holds |w| sliced)."""
    a = np.abs(np.asarray(wq).astype(np.int64))
    mask = (1 << bits_per_cell) - 1
    out = a & mask
    for k in range(1, n_slices):
        out += (a >> (k * bits_per_cell)) & mask
    return out


def _user_array_size(module: ModuleOp, target: str) -> tuple[int, int]:
    """(rows, cols) the user set on the target (override or target file), 0 where not set."""
    from anncc.passes._target import OVERRIDES_ATTR, TARGET_ATTR

    ov = module.attributes.get(OVERRIDES_ATTR)
    name = module.attributes.get(TARGET_ATTR)
    if not isinstance(ov, StringAttr) or (target and isinstance(name, StringAttr)
                                          and target != name.data):
        return 0, 0
    data = json.loads(ov.data)
    return int(data.get("array_rows", 0) or 0), int(data.get("array_cols", 0) or 0)


def _bias(op, store: WeightStore) -> np.ndarray:
    from anncc.passes._util import const_array

    b = const_array(op.bias, store)
    if b is None:
        raise AnnccError("tile: a layer's bias is not a constant")
    return b.astype(np.float64)


def _integer_input(x: SSAValue, scale: float, want_t, at: Operation, rw: Rewriter,
                   layer: str) -> SSAValue:
    """`x` as integers of type `want_t` and `scale`: reuse a dequantize's source when it matches."""
    src = x.owner
    if (isinstance(src, DequantizeOp) and src.scale.value.data == scale
            and src.input.type.element_type == want_t):
        return src.input
    q = QuantizeOp(x, scale, tensor(static_dims(x), want_t), layer=layer)
    q.results[0].name_hint = f"{x.name_hint}_q" if x.name_hint else None
    rw.insert_op(q, InsertPoint.before(at))
    return q.results[0]


def _move_onto_integers(op: Operation, rw: Rewriter) -> None:
    """Run max-pool / reshape / permute / ReLU on the integers behind a dequantize."""
    src = op.operands[0].owner
    if not isinstance(src, DequantizeOp):
        return
    q = src.input
    info = int_info(q.type)
    assert info is not None
    res_t = tensor(static_dims(op.results[0]), q.type.element_type)
    new = type(op).create(operands=[q], result_types=[res_t], properties=dict(op.properties),
                          attributes=dict(op.attributes))
    new.results[0].name_hint = f"{op.results[0].name_hint}_q" if op.results[0].name_hint else None
    rw.insert_op(new, InsertPoint.before(op))
    deq = DequantizeOp(new.results[0], src.scale.value.data, op.results[0].type)
    deq.results[0].name_hint = op.results[0].name_hint
    rw.insert_op(deq, InsertPoint.before(op))
    op.results[0].replace_all_uses_with(deq.results[0])
    rw.erase_op(op)
