"""The `xbar` dialect: the tiled-crossbar level, integer semantics (DESIGN.md section 4).

A quantized linear layer (a convolution on its unfolded `[C_in·k_h·k_w, C_out]`
matrix) becomes one `xbar.mvm` per logical tile, `xbar.accumulate` over the row
tiles of each column range, `xbar.concat` of the column ranges, and
`xbar.requant` (bias, fixed-point rescale, activation clamp). Values between
layers are integer tensors (`ui8` after a ReLU, else `si8`), whose real value is
`scale · q`; `xbar.quantize` / `xbar.dequantize` cross between float and integer
where a digital op needs floats. Data movement (reshape, permute, maxpool) stays
as `ann` ops, whose semantics are the same on integers.

An `xbar.mvm` is exact: `Σ_i x[i]·w[i][j]` over its rows. The ADC, bit slices and
devices appear one level down, in `cell`.

Rationale: docs/dialects/xbar.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase, Signedness

from anncc.ir._xdsl import (
    I64,
    Attribute,
    AttrParser,
    Dialect,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    IRDLOperation,
    Operation,
    ParametrizedAttribute,
    Printer,
    Pure,
    SSAValue,
    StringAttr,
    TensorType,
    irdl_attr_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from anncc.ir.attrs import (
    PROPS_IN_ATTR_DICT,
    IdentityMemo,
    f64_attr,
    i64_attr,
    ints,
    ints_of,
    shared_string_attr,
)
from anncc.ir.contract import accumulator_bound, signed_bits
from anncc.ir.fast_verify import irdl_op_fast
from anncc.ir.shapes import dims, dims_match, expect, fmt

ACC_BITS = 32  # an array's partial sums are int32 (tile splits rows to keep them so)
#: (bits, signed) of an accumulator tensor: si32, or si64 for layers whose worst case exceeds 32 bits.
ACC_TYPES = ((32, True), (64, True))


def int_type(bits: int, signed: bool) -> IntegerType:
    """`si<bits>` or `ui<bits>`: activation integers carry their signedness in the type."""
    return IntegerType(bits, Signedness.SIGNED if signed else Signedness.UNSIGNED)


def int_info(t: Attribute) -> tuple[int, bool] | None:
    """(bits, signed) of an integer tensor type, None for a float tensor."""
    if isinstance(t, TensorType) and isinstance(t.element_type, IntegerType):
        e = t.element_type
        return e.width.data, e.signedness.data != Signedness.UNSIGNED
    return None


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _expect_int(op: IRDLOperation, value: SSAValue, what: str) -> tuple[int, bool]:
    info = int_info(value.type)
    expect(info is not None, op.name, lambda: f"{what} must be an integer tensor, got {value.type}")
    assert info is not None
    return info


# --------------------------------------------------------------------------- attributes


@irdl_attr_definition
class TileAttr(ParametrizedAttribute):
    """`<rows x cols at row_offset, col_offset>`: the weight rows and columns one tile holds.

    Shared by `xbar.mvm` and `cell.mvm`; the tile reads `W[row_offset : row_offset + rows,
    col_offset : col_offset + cols]`.
    """

    name = "xbar.tile"
    rows: IntAttr
    cols: IntAttr
    row_offset: IntAttr
    col_offset: IntAttr

    def __init__(self, rows: int, cols: int, row_offset: int, col_offset: int):
        super().__init__(IntAttr(rows), IntAttr(cols), IntAttr(row_offset), IntAttr(col_offset))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            rows = parser.parse_shape_dimension(allow_dynamic=False)
            parser.parse_shape_delimiter()
            cols = parser.parse_shape_dimension(allow_dynamic=False)
            parser.parse_keyword("at", " after the tile size")
            r0 = parser.parse_integer(allow_negative=False)
            parser.parse_punctuation(",")
            c0 = parser.parse_integer(allow_negative=False)
        return (IntAttr(rows), IntAttr(cols), IntAttr(r0), IntAttr(c0))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.rows.data}x{self.cols.data} at "
                             f"{self.row_offset.data}, {self.col_offset.data}>")

    def bounds(self) -> tuple[int, int, int, int]:
        """(row_offset, col_offset, rows, cols)."""
        return self.row_offset.data, self.col_offset.data, self.rows.data, self.cols.data


def layer_of(op: IRDLOperation) -> str | None:
    """The layer an op was lowered from (its `layer` property), None for ops of no layer."""
    attr = op.properties.get("layer")
    return attr.data if isinstance(attr, StringAttr) else None


LAYER = "(`layer` $layer^)?"


# --------------------------------------------------------------------------- float <-> int


class TileBounds:
    """`rows`, `cols`, offsets and `bounds()` of an op whose `geometry` property is a `#xbar.tile`.

    Shared by `xbar.mvm` and `cell.mvm`, which hold the same logical tile.
    """

    @property
    def rows(self) -> int:
        return self.geometry.rows.data  # type: ignore[attr-defined]

    @property
    def cols(self) -> int:
        return self.geometry.cols.data  # type: ignore[attr-defined]

    @property
    def row_offset(self) -> int:
        return self.geometry.row_offset.data  # type: ignore[attr-defined]

    @property
    def col_offset(self) -> int:
        return self.geometry.col_offset.data  # type: ignore[attr-defined]

    def bounds(self) -> tuple[int, int, int, int]:
        """(row_offset, col_offset, rows, cols)."""
        return self.geometry.bounds()  # type: ignore[attr-defined]


@irdl_op_fast
class QuantizeOp(IRDLOperation):
    """q = clamp(round(x / scale), lo, hi) of the result's integer type (zero point 0)."""

    name = "xbar.quantize"
    input = operand_def(TensorType)
    scale = prop_def(FloatAttr)
    layer = opt_prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = "$input " + LAYER + " attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, scale: float, result_type: Attribute, layer: str | None = None):
        super().__init__(operands=[x], result_types=[result_type],
                         properties=_with_layer({"scale": f64_attr(scale)}, layer))

    def verify_(self) -> None:
        expect(int_info(self.input.type) is None, self.name, "input must be a float tensor")
        bits, _ = _expect_int(self, self.result, "result")
        expect(2 <= bits <= 16, self.name, lambda: f"activation bits must be in [2, 16], got {bits}")
        expect(self.scale.value.data > 0, self.name, "scale must be positive")
        expect(dims_match(dims(self.input.type), dims(self.result.type)), self.name,
               "result shape differs from input")


@irdl_op_fast
class DequantizeOp(IRDLOperation):
    """x = scale · q."""

    name = "xbar.dequantize"
    input = operand_def(TensorType)
    scale = prop_def(FloatAttr)
    layer = opt_prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = "$input " + LAYER + " attr-dict `:` type($input) `->` type($result)"

    def __init__(self, q: SSAValue, scale: float, result_type: Attribute, layer: str | None = None):
        super().__init__(operands=[q], result_types=[result_type],
                         properties=_with_layer({"scale": f64_attr(scale)}, layer))

    def verify_(self) -> None:
        _expect_int(self, self.input, "input")
        expect(int_info(self.result.type) is None, self.name, "result must be a float tensor")
        expect(self.scale.value.data > 0, self.name, "scale must be positive")
        expect(dims_match(dims(self.input.type), dims(self.result.type)), self.name,
               "result shape differs from input")


# --------------------------------------------------------------------------- the layer


@irdl_op_fast
class UnfoldOp(IRDLOperation):
    """im2col of an integer feature map: [B, C, *S] -> [B, L, C·∏k] (zero padding).

    Row order within a patch is (channel, ky, kx), matching the weight matrix
    `W.reshape(O, -1).T` of `ann.conv`; L runs over output positions row-major.
    """

    name = "xbar.unfold"
    input = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    stride = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    layer = opt_prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = "$input " + LAYER + " attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x, kernel, stride, padding, dilation, result_type, layer: str | None = None):
        super().__init__(operands=[x], result_types=[result_type], properties=_with_layer({
            "kernel": ints(kernel), "stride": ints(stride), "padding": ints(padding),
            "dilation": ints(dilation)}, layer))

    def verify_(self) -> None:
        from anncc.ir.ann import conv_output_size

        _expect_int(self, self.input, "input")
        x, y = dims(self.input.type), dims(self.result.type)
        k, s, p, d = (ints_of(a) for a in (self.kernel, self.stride, self.padding, self.dilation))
        nsp = len(k)
        expect(nsp in (1, 2) and len(x) == nsp + 2 and len(s) == len(p) == len(d) == nsp,
               self.name, lambda: f"kernel {k} does not fit input {fmt(x)}")
        expect(all(v >= 1 for v in k + s + d) and all(v >= 0 for v in p), self.name,
               "kernel, stride and dilation must be >= 1, padding >= 0")
        expect(None not in x[1:], self.name, lambda: f"only the batch dimension of {fmt(x)} may be dynamic")
        positions = 1
        for i in range(nsp):
            size = conv_output_size(x[2 + i], k[i], s[i], p[i], d[i])
            expect(size >= 1, self.name, lambda: f"kernel {k} does not fit input {fmt(x)}")
            positions *= size
        patch = x[1]
        for kk in k:
            patch *= kk
        expect(dims_match(y, [x[0], positions, patch]), self.name,
               lambda: f"result {fmt(y)} should be {fmt([x[0], positions, patch])}")
        expect(self.input.type.element_type == self.result.type.element_type, self.name,
               "unfold keeps the element type")


def _with_layer(props: dict[str, Attribute], layer: str | None) -> dict[str, Attribute]:
    if layer is not None:
        props["layer"] = StringAttr(layer)
    return props


def _i64(v: int) -> IntegerAttr:
    return i64_attr(v)


#: The part of `xbar.mvm` and `cell.mvm` that says which weights a tile holds.
TILE_FORMAT = "`tile` $tile $geometry `layer` $layer `w_bits` $w_bits `acc_bits` $acc_bits"


@irdl_op_fast
class MvmOp(TileBounds, IRDLOperation):
    """One logical tile: psum[..., j] = Σ_{i<rows} x[..., row_offset+i] · W[row_offset+i, col_offset+j].

    `weight` is the layer's integer matrix `[K, N]`; `x` its full input `[..., K]`.
    `w_bits` and the input type bound the values; `acc_bits` is the worst-case
    width of the tile's sum (`contract.accumulator_bound`), at most 32: the
    result is si32.

        %p = xbar.mvm %x, %w tile "fc.r0c0" <128x64 at 0, 0> layer "fc" w_bits 4 acc_bits 23
               : (tensor<?x784xui8>, tensor<784x10xsi8>) -> tensor<?x64xsi32>
    """

    name = "xbar.mvm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    tile = prop_def(StringAttr)
    geometry = prop_def(TileAttr)
    layer = prop_def(StringAttr)
    w_bits = prop_def(IntegerAttr[I64])
    acc_bits = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = ("$input `,` $weight " + TILE_FORMAT
                       + " attr-dict `:` functional-type(operands, results)")

    def __init__(self, x, w, tile: str, row_offset: int, col_offset: int, rows: int, cols: int,
                 w_bits: int, result_type, *, layer: str, acc_bits: int | None = None):
        if acc_bits is None:
            info = int_info(x.type)
            assert info is not None, "xbar.mvm input must be an integer tensor"
            acc_bits = signed_bits(accumulator_bound(rows, info[0], info[1], w_bits))
        # Operation.__init__ directly, as cell.mvm (one op per tile; the verifier checks it)
        Operation.__init__(self, operands=[x, w], result_types=[result_type], properties={
            "tile": StringAttr(tile), "geometry": TileAttr(rows, cols, row_offset, col_offset),
            "layer": shared_string_attr(layer), "w_bits": _i64(w_bits), "acc_bits": _i64(acc_bits)})

    # typed accessors (ints) of the tile geometry
    def verify_(self) -> None:
        props, (x, w) = self.properties, self._operands
        verify_tile_once(self, (x.type, w.type, self.results[0].type, props["w_bits"],
                                props["acc_bits"]), self._verify_all)

    def _verify_all(self) -> None:
        verify_tile_bounds(self, self.input, self.weight, self.result, *self.bounds(),
                           self.w_bits.value.data)
        verify_acc_bits(self, self.rows, self.w_bits.value.data, self.acc_bits.value.data)


def verify_acc_bits(op: IRDLOperation, rows: int, w_bits: int, acc_bits: int) -> None:
    """acc_bits covers the tile's worst case and fits its si32 result."""
    info = int_info(op.operands[0].type)
    if info is None:
        return
    need = signed_bits(accumulator_bound(rows, info[0], info[1], w_bits))
    expect(need <= acc_bits <= ACC_BITS, op.name,
           lambda: f"acc_bits {acc_bits} must cover the worst case of {rows} rows ({need} bits) "
                   f"and fit the si{ACC_BITS} partial sum")


def verify_tile_offsets(op, w: list, r0: int, c0: int, rows: int, cols: int) -> None:
    """The tile is non-empty and lies inside the `w` [K, N] weight (part of `verify_tile_bounds`)."""
    expect(rows >= 1 and cols >= 1 and r0 >= 0 and c0 >= 0, op.name,
           lambda: f"tile {rows}x{cols} at ({r0}, {c0}) must be non-empty with offsets >= 0")
    expect(r0 + rows <= w[0] and c0 + cols <= w[1], op.name,
           lambda: f"tile rows [{r0}, {r0 + rows}) x cols [{c0}, {c0 + cols}) exceed the {fmt(w)} weight")


#: `xbar.mvm` / `cell.mvm` checks passed (True), by the attribute objects and tile size they read:
#: every other tile of a layer (the same types and attribute instances) only needs its offsets checked.
TILES_PASSED = IdentityMemo()


def verify_tile_once(op, objects: tuple, full) -> None:
    """Run `full()` (the op's whole verifier) unless it passed for these attribute `objects`
    (what it reads besides the tile's geometry; the weight is operand 1) and this tile size;
    then only the offsets depend on this op (`verify_tile_offsets`). A failing op gives the
    message `full()` gives: its other checks passed on these very objects."""
    r0, c0, rows, cols = op.properties["geometry"].bounds()
    objects = (op.name, *objects)
    if TILES_PASSED.get(objects, (rows, cols)):
        verify_tile_offsets(op, dims(op._operands[1].type), r0, c0, rows, cols)  # noqa: SLF001
        return
    full()
    TILES_PASSED.put(objects, (rows, cols), True)


def verify_tile_bounds(op, x_val, w_val, y_val, r0, c0, rows, cols, w_bits) -> None:
    """Shared by xbar.mvm and cell.mvm: the tile lies inside the weight, types fit."""
    x, w, y = dims(x_val.type), dims(w_val.type), dims(y_val.type)
    _expect_int(op, x_val, "input")
    wb, _ = _expect_int(op, w_val, "weight")
    expect(2 <= w_bits <= 8 and wb >= w_bits, op.name,
           lambda: f"w_bits must be in [2, 8] and fit the weight type, got {w_bits} in {w_val.type}")
    expect(len(w) == 2, op.name, lambda: f"weight must be a [K, N] matrix, got {fmt(w)}")
    expect(None not in w, op.name, lambda: f"weight {fmt(w)} must have a static shape")
    expect(len(x) >= 1, op.name, lambda: f"input {x_val.type} must have a feature axis")
    verify_tile_offsets(op, w, r0, c0, rows, cols)
    expect(x[-1] in (None, w[0]), op.name, lambda: f"input {fmt(x)} does not have the weight's {w[0]} rows")
    expect(int_info(y_val.type) == (ACC_BITS, True), op.name, "partial sums are si32")
    expect(dims_match(y, x[:-1] + [cols]), op.name,
           lambda: f"result {fmt(y)} should be {fmt(x[:-1] + [cols])}")


@irdl_op_fast
class AccumulateOp(IRDLOperation):
    """Digital sum of the partial sums of one column range over its row tiles."""

    name = "xbar.accumulate"
    partials = var_operand_def(TensorType)
    layer = prop_def(StringAttr)
    acc_bits = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = ("$partials `layer` $layer `acc_bits` $acc_bits attr-dict `:` "
                       "functional-type(operands, results)")

    def __init__(self, partials, result_type, *, layer: str, acc_bits: int):
        super().__init__(operands=[list(partials)], result_types=[result_type],
                         properties={"layer": StringAttr(layer), "acc_bits": _i64(acc_bits)})

    def verify_(self) -> None:
        expect(len(self.partials) >= 1, self.name, "needs at least one partial sum")
        y = dims(self.result.type)
        out = int_info(self.result.type)
        expect(out in ACC_TYPES, self.name, "the accumulator is si32 or si64")
        for p in self.partials:
            pi = int_info(p.type)
            expect(pi in ACC_TYPES and out is not None and pi is not None and pi[0] <= out[0]
                   and dims_match(dims(p.type), y), self.name,
                   lambda: f"partial sum {p.type} does not match result {self.result.type}")
        bits = self.acc_bits.value.data
        expect(out is not None and 1 <= bits <= out[0], self.name,
               lambda: f"acc_bits {bits} must be in [1, {out[0] if out else 0}] (the result type)")


@irdl_op_fast
class ConcatOp(IRDLOperation):
    """Concatenate column ranges along the last axis."""

    name = "xbar.concat"
    inputs = var_operand_def(TensorType)
    layer = prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = "$inputs `layer` $layer attr-dict `:` functional-type(operands, results)"

    def __init__(self, xs, result_type, *, layer: str):
        super().__init__(operands=[list(xs)], result_types=[result_type],
                         properties={"layer": StringAttr(layer)})

    def verify_(self) -> None:
        y = dims(self.result.type)
        expect(len(y) >= 1, self.name, lambda: f"result {self.result.type} has no column axis")
        total = 0
        for v in self.inputs:
            d = dims(v.type)
            expect(dims_match(d[:-1], y[:-1]), self.name, lambda: f"{fmt(d)} does not fit {fmt(y)}")
            expect(v.type.element_type == self.result.type.element_type, self.name,
                   lambda: f"input {v.type} and result {self.result.type} element types differ")
            total += d[-1] or 0
        expect(y[-1] == total, self.name, lambda: f"columns sum to {total}, result has {y[-1]}")


@irdl_op_fast
class RequantOp(IRDLOperation):
    """y = clamp((((acc + bias)·M + 2^(S−1)) >> S) + zp, lo, hi), per output channel (last axis).

    gemmlowp-style fixed point: `bias` int32, multiplier `M` int32 and shift `S`
    per channel, products in int64, `>>` arithmetic. A fused ReLU is `lo = zp`.
    """

    name = "xbar.requant"
    input = operand_def(TensorType)
    bias = operand_def(TensorType)
    multiplier = operand_def(TensorType)
    shift = operand_def(TensorType)
    zero_point = prop_def(IntegerAttr)
    lo = prop_def(IntegerAttr)
    hi = prop_def(IntegerAttr)
    out_scale = prop_def(FloatAttr)
    layer = prop_def(StringAttr)
    acc_bits = prop_def(IntegerAttr[I64])
    product_bits = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = ("operands `layer` $layer `acc_bits` $acc_bits `product_bits` $product_bits "
                       "attr-dict `:` functional-type(operands, results)")

    def __init__(self, acc, bias, multiplier, shift, zero_point: int, lo: int, hi: int,
                 out_scale: float, result_type, *, layer: str, acc_bits: int, product_bits: int):
        props = {"zero_point": i64_attr(zero_point), "lo": i64_attr(lo), "hi": i64_attr(hi),
                 "out_scale": f64_attr(out_scale), "layer": StringAttr(layer),
                 "acc_bits": _i64(acc_bits), "product_bits": _i64(product_bits)}
        super().__init__(operands=[acc, bias, multiplier, shift], result_types=[result_type],
                         properties=props)

    def verify_(self) -> None:
        x, y = dims(self.input.type), dims(self.result.type)
        expect(int_info(self.input.type) in ACC_TYPES, self.name, "input must be si32 or si64")
        expect(len(x) >= 1, self.name, lambda: f"input {self.input.type} has no channel axis")
        n = x[-1]
        for v, what in ((self.bias, "bias"), (self.multiplier, "multiplier"), (self.shift, "shift")):
            expect(dims(v.type) == [n], self.name, lambda: f"{what} {v.type} must have {n} channels")
            expect(int_info(v.type) == (ACC_BITS, True), self.name, lambda: f"{what} must be si32")
        bits, signed = _expect_int(self, self.result, "result")
        rlo, rhi = int_range(bits, signed)
        lo, hi = self.lo.value.data, self.hi.value.data
        expect(lo <= hi, self.name, lambda: f"clamp [{lo}, {hi}] is empty (lo > hi)")
        expect(rlo <= lo <= hi <= rhi, self.name,
               lambda: f"clamp [{lo}, {hi}] must lie within the "
                       f"{self.result.type.element_type} range [{rlo}, {rhi}]")
        expect(dims_match(x, y), self.name, lambda: f"result {fmt(y)} differs from input {fmt(x)}")
        expect(self.out_scale.value.data > 0, self.name, "out_scale must be positive")
        ab, pb = self.acc_bits.value.data, self.product_bits.value.data
        expect(1 <= ab <= 64 and 1 <= pb <= 64, self.name,
               lambda: f"acc_bits {ab} and product_bits {pb} must be in [1, 64]")


XBAR = Dialect(
    "xbar",
    [QuantizeOp, DequantizeOp, UnfoldOp, MvmOp, AccumulateOp, ConcatOp, RequantOp],
    [TileAttr],
)
