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

from xdsl.dialects.builtin import DenseArrayBase, Signedness

from anncc.ir._xdsl import (
    Attribute,
    Dialect,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    IRDLOperation,
    Pure,
    SSAValue,
    StringAttr,
    TensorType,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from anncc.ir.ann import (
    NARY_FORMAT,
    PROPS_IN_ATTR_DICT,
    UNARY_FORMAT,
    f64_attr,
    i64_attr,
    ints,
    ints_of,
)
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


# --------------------------------------------------------------------------- float <-> int


@irdl_op_definition
class QuantizeOp(IRDLOperation):
    """q = clamp(round(x / scale), lo, hi) of the result's integer type (zero point 0)."""

    name = "xbar.quantize"
    input = operand_def(TensorType)
    scale = prop_def(FloatAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x: SSAValue, scale: float, result_type: Attribute):
        super().__init__(operands=[x], result_types=[result_type],
                         properties={"scale": f64_attr(scale)})

    def verify_(self) -> None:
        expect(int_info(self.input.type) is None, self.name, "input must be a float tensor")
        bits, _ = _expect_int(self, self.result, "result")
        expect(2 <= bits <= 16, self.name, lambda: f"activation bits must be in [2, 16], got {bits}")
        expect(self.scale.value.data > 0, self.name, "scale must be positive")
        expect(dims_match(dims(self.input.type), dims(self.result.type)), self.name,
               "result shape differs from input")


@irdl_op_definition
class DequantizeOp(IRDLOperation):
    """x = scale · q."""

    name = "xbar.dequantize"
    input = operand_def(TensorType)
    scale = prop_def(FloatAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, q: SSAValue, scale: float, result_type: Attribute):
        super().__init__(operands=[q], result_types=[result_type],
                         properties={"scale": f64_attr(scale)})

    def verify_(self) -> None:
        _expect_int(self, self.input, "input")
        expect(int_info(self.result.type) is None, self.name, "result must be a float tensor")
        expect(self.scale.value.data > 0, self.name, "scale must be positive")
        expect(dims_match(dims(self.input.type), dims(self.result.type)), self.name,
               "result shape differs from input")


# --------------------------------------------------------------------------- the layer


@irdl_op_definition
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
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x, kernel, stride, padding, dilation, result_type):
        super().__init__(operands=[x], result_types=[result_type], properties={
            "kernel": ints(kernel), "stride": ints(stride), "padding": ints(padding),
            "dilation": ints(dilation)})

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


@irdl_op_definition
class MvmOp(IRDLOperation):
    """One logical tile: psum[..., j] = Σ_{i<rows} x[..., row_offset+i] · W[row_offset+i, col_offset+j].

    `weight` is the layer's integer matrix `[K, N]`; `x` its full input `[..., K]`.
    `w_bits` and the input type bound the values; the result is int32.
    """

    name = "xbar.mvm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    tile = prop_def(StringAttr)
    row_offset = prop_def(IntegerAttr)
    col_offset = prop_def(IntegerAttr)
    rows = prop_def(IntegerAttr)
    cols = prop_def(IntegerAttr)
    w_bits = prop_def(IntegerAttr)
    acc_bits = opt_prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, x, w, tile: str, row_offset: int, col_offset: int, rows: int, cols: int,
                 w_bits: int, result_type, acc_bits: int | None = None):
        props = {"tile": StringAttr(tile), "row_offset": i64_attr(row_offset),
                 "col_offset": i64_attr(col_offset), "rows": i64_attr(rows), "cols": i64_attr(cols),
                 "w_bits": i64_attr(w_bits)}
        if acc_bits is not None:
            props["acc_bits"] = i64_attr(acc_bits)
        super().__init__(operands=[x, w], result_types=[result_type], properties=props)

    def bounds(self) -> tuple[int, int, int, int]:
        """(row_offset, col_offset, rows, cols)."""
        return (self.row_offset.value.data, self.col_offset.value.data,
                self.rows.value.data, self.cols.value.data)

    def verify_(self) -> None:
        verify_tile_bounds(self, self.input, self.weight, self.result, *self.bounds(),
                           self.w_bits.value.data)


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
    expect(rows >= 1 and cols >= 1 and r0 >= 0 and c0 >= 0, op.name,
           lambda: f"tile {rows}x{cols} at ({r0}, {c0}) must be non-empty with offsets >= 0")
    expect(r0 + rows <= w[0] and c0 + cols <= w[1], op.name,
           lambda: f"tile rows [{r0}, {r0 + rows}) x cols [{c0}, {c0 + cols}) exceed the {fmt(w)} weight")
    expect(x[-1] in (None, w[0]), op.name, lambda: f"input {fmt(x)} does not have the weight's {w[0]} rows")
    expect(int_info(y_val.type) == (ACC_BITS, True), op.name, "partial sums are si32")
    expect(dims_match(y, x[:-1] + [cols]), op.name,
           lambda: f"result {fmt(y)} should be {fmt(x[:-1] + [cols])}")


@irdl_op_definition
class AccumulateOp(IRDLOperation):
    """Digital sum of the partial sums of one column range over its row tiles."""

    name = "xbar.accumulate"
    partials = var_operand_def(TensorType)
    acc_bits = opt_prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, partials, result_type, acc_bits: int | None = None):
        props = {} if acc_bits is None else {"acc_bits": i64_attr(acc_bits)}
        super().__init__(operands=[list(partials)], result_types=[result_type], properties=props)

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


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """Concatenate column ranges along the last axis."""

    name = "xbar.concat"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, xs, result_type):
        super().__init__(operands=[list(xs)], result_types=[result_type])

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


@irdl_op_definition
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
    acc_bits = opt_prop_def(IntegerAttr)
    product_bits = opt_prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, acc, bias, multiplier, shift, zero_point: int, lo: int, hi: int,
                 out_scale: float, result_type, acc_bits: int | None = None,
                 product_bits: int | None = None):
        props = {"zero_point": i64_attr(zero_point), "lo": i64_attr(lo), "hi": i64_attr(hi),
                 "out_scale": f64_attr(out_scale)}
        if acc_bits is not None:
            props["acc_bits"] = i64_attr(acc_bits)
        if product_bits is not None:
            props["product_bits"] = i64_attr(product_bits)
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


XBAR = Dialect(
    "xbar",
    [QuantizeOp, DequantizeOp, UnfoldOp, MvmOp, AccumulateOp, ConcatOp, RequantOp],
    [],
)
