"""The `ann` dialect: the graph level, one op per layer, float semantics.

Values are tensors whose first dimension is the dynamic batch (`?`). Weights
are `ann.weight` ops that reference the `WeightStore` by key and digest; small
constants (up to 4K elements) may be inline with `ann.constant`. Linear and
convolution weights keep PyTorch's layout (`[out, in]`, `[out, in/groups, *k]`)
and always have a bias operand (zeros when the model has none), so passes never
branch on its presence.

Rationale: docs/dialects/ann.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import BytesAttr, DenseIntOrFPElementsAttr, Signedness

from anncc.ir._xdsl import (
    Attribute,
    AttrParser,
    ConstantLike,
    DenseArrayBase,
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
    VerifyException,
    f32,
    f64,
    irdl_attr_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)

# Shared by the three dialects; defined in `anncc.ir.attrs`, re-exported for existing imports.
from anncc.ir.attrs import (  # noqa: E402, F401
    NARY_FORMAT,
    PROPS_IN_ATTR_DICT,
    UNARY_FORMAT,
    f64_attr,
    i64_attr,
    ints,
    ints_of,
)
from anncc.ir.fast_verify import irdl_op_fast
from anncc.ir.shapes import dims, dims_match, expect, fmt, numel
from anncc.ir.store import INLINE_LIMIT

# --------------------------------------------------------------------------- quantization


@dataclass(frozen=True)
class QuantParams:
    """What `quantize` decides for one analog layer (DESIGN.md section 4).

    Inputs are `in_bits` integers of scale `in_scale` (unsigned unless
    `in_signed`), weights symmetric `w_bits` integers with one scale per output
    channel, outputs `out_bits` integers of scale `out_scale`. The integer
    weights `[K, N]` (a convolution's unfolded, block-diagonal matrix) and the
    per-channel scales live in the store under `qweight` and `wscale`.
    """

    w_bits: int
    in_bits: int
    in_signed: bool
    in_scale: float
    out_bits: int
    out_signed: bool
    out_scale: float
    qweight: str
    qweight_digest: str
    wscale: str
    wscale_digest: str


_QUANT_INTS = ("w_bits", "in_bits", "in_signed", "out_bits", "out_signed")
_QUANT_FLOATS = ("in_scale", "out_scale")
_QUANT_STRS = ("qweight", "qweight_digest", "wscale", "wscale_digest")
QUANT_FIELDS = ("w_bits", "in_bits", "in_signed", "in_scale", "out_bits", "out_signed",
                "out_scale", "qweight", "qweight_digest", "wscale", "wscale_digest")


@irdl_attr_definition
class QuantAttr(ParametrizedAttribute):
    """`#ann.quant<w_bits = 4, in_bits = 8, ...>`: a layer's quantization, set by `quantize`."""

    name = "ann.quant"
    w_bits: IntAttr
    in_bits: IntAttr
    in_signed: IntAttr
    in_scale: FloatAttr
    out_bits: IntAttr
    out_signed: IntAttr
    out_scale: FloatAttr
    qweight: StringAttr
    qweight_digest: StringAttr
    wscale: StringAttr
    wscale_digest: StringAttr

    @staticmethod
    def from_params(q: QuantParams) -> QuantAttr:
        vals: list[Attribute] = []
        for f in QUANT_FIELDS:
            v = getattr(q, f)
            if f in _QUANT_INTS:
                vals.append(IntAttr(int(v)))
            elif f in _QUANT_FLOATS:
                vals.append(f64_attr(v))
            else:
                vals.append(StringAttr(v))
        return QuantAttr(*vals)

    def params(self) -> QuantParams:
        kw: dict[str, object] = {}
        for f in QUANT_FIELDS:
            a = getattr(self, f)
            if f in _QUANT_INTS:
                kw[f] = bool(a.data) if f.endswith("signed") else a.data
            elif f in _QUANT_FLOATS:
                kw[f] = a.value.data
            else:
                kw[f] = a.data
        return QuantParams(**kw)  # type: ignore[arg-type]

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        got: dict[str, Attribute] = {}

        def one() -> None:
            key = parser.parse_identifier()
            if key not in QUANT_FIELDS or key in got:
                parser.raise_error(f"unexpected or repeated field '{key}' in #ann.quant")
            parser.parse_punctuation("=")
            if key in _QUANT_STRS:
                got[key] = StringAttr(parser.parse_str_literal())
            elif key in _QUANT_FLOATS:
                got[key] = f64_attr(parser.parse_number())
            else:
                got[key] = IntAttr(parser.parse_integer())

        with parser.in_angle_brackets():
            parser.parse_comma_separated_list(parser.Delimiter.NONE, one)
        missing = [f for f in QUANT_FIELDS if f not in got]
        if missing:
            parser.raise_error(f"#ann.quant is missing {', '.join(missing)}")
        return tuple(got[f] for f in QUANT_FIELDS)

    def print_parameters(self, printer: Printer) -> None:
        parts = []
        for f in QUANT_FIELDS:
            a = getattr(self, f)
            if f in _QUANT_STRS:
                parts.append(f'{f} = "{a.data}"')
            elif f in _QUANT_FLOATS:
                parts.append(f"{f} = {a.value.data!r}")
            else:
                parts.append(f"{f} = {a.data}")
        printer.print_string("<" + ", ".join(parts) + ">")

    def verify(self) -> None:
        q = self.params()
        if not 2 <= q.w_bits <= 8:
            raise VerifyException(f"#ann.quant: w_bits must be in [2, 8], got {q.w_bits}")
        for what, b in (("in_bits", q.in_bits), ("out_bits", q.out_bits)):
            if not 2 <= b <= 16:
                raise VerifyException(f"#ann.quant: {what} must be in [2, 16], got {b}")
        if not (q.in_scale > 0 and q.out_scale > 0):
            raise VerifyException("#ann.quant: scales must be positive")


def quant_of(op: IRDLOperation) -> QuantParams | None:
    """The quantization `quantize` attached to an analog op, if any."""
    a = op.attributes.get("quant")
    return a.params() if isinstance(a, QuantAttr) else None


# --------------------------------------------------------------------------- constants


@irdl_op_fast
class WeightOp(IRDLOperation):
    """A tensor held in the WeightStore: `ann.weight "fc1.weight" digest "…" : tensor<…>`."""

    name = "ann.weight"
    key = prop_def(StringAttr)
    digest = prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(ConstantLike(), Pure())
    assembly_format = "$key `digest` $digest attr-dict `:` type($result)"

    def __init__(self, key: str, digest: str, type_: TensorType):
        # Operation.__init__ directly, as `cell.mvm` does: a chip has one per array, and the
        # IRDL builder's argument checks are the verifier's job (run after every conversion)
        Operation.__init__(self, properties={"key": StringAttr(key), "digest": StringAttr(digest)},
                           result_types=[type_])

    def verify_(self) -> None:
        shape = dims(self.result.type)
        expect(None not in shape, self.name, lambda: f"weight '{self.key.data}' must have a static shape")
        expect(self.key.data != "", self.name, "empty weight key")


@irdl_op_fast
class ConstantOp(IRDLOperation):
    """A small inline tensor (at most 4096 elements, or a splat of any size).

    Larger tensors belong in the WeightStore (`ann.weight`).
    """

    name = "ann.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)
    traits = traits_def(ConstantLike(), Pure())
    assembly_format = "$value attr-dict `:` type($result)"

    def __init__(self, array: np.ndarray, type_: TensorType):
        # packed bytes straight from numpy: from_list normalizes element by element (slow)
        arr = np.asarray(array).astype(numpy_dtype(type_.element_type), copy=False)
        n = numel(dims(type_))
        if arr.size == 1 and n != 1:
            arr = np.broadcast_to(arr.reshape(()), (n,))
        value = DenseIntOrFPElementsAttr(type_, BytesAttr(np.ascontiguousarray(arr).tobytes()))
        super().__init__(properties={"value": value}, result_types=[type_])

    def verify_(self) -> None:
        expect(self.value.type == self.result.type, self.name,
               lambda: f"value of type {self.value.type} does not match the result type {self.result.type}")
        n = numel(dims(self.result.type)) or 0
        expect(self.value.is_splat() or n <= INLINE_LIMIT, self.name,
               lambda: f"{n} elements inline exceed the limit of {INLINE_LIMIT}; use ann.weight")

    def to_numpy(self) -> np.ndarray:
        """The value as an array of the result's shape (float32, or int64 for integers)."""
        shape = [int(d) for d in dims(self.result.type)]
        raw = np.frombuffer(self.value.data.data, dtype=numpy_dtype(self.result.type.element_type))
        arr = raw.astype(np.float32 if raw.dtype.kind == "f" else np.int64)
        if arr.size == 1 and numel(shape) != 1:  # a splat: `dense<0.0>`
            return np.full(shape, arr.reshape(()), dtype=arr.dtype)
        return arr.reshape(shape)


def numpy_dtype(element: Attribute) -> np.dtype:
    """The little-endian numpy dtype xDSL packs a dense element type as."""
    if isinstance(element, IntegerType):
        width = element.width.data
        if width == 1:
            return np.dtype(np.bool_)
        kind = "u" if element.signedness.data == Signedness.UNSIGNED else "i"
        return np.dtype(f"<{kind}{max(1, width // 8)}")
    if element == f64:
        return np.dtype("<f8")
    if element == f32:
        return np.dtype("<f4")
    raise VerifyException(f"no numpy dtype for element type {element}")


# --------------------------------------------------------------------------- analog layers


@irdl_op_fast
class LinearOp(IRDLOperation):
    """y = x · Wᵀ + b over the last axis; W is [out, in] (PyTorch layout)."""

    name = "ann.linear"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, x: SSAValue, w: SSAValue, b: SSAValue, result_type: Attribute):
        super().__init__(operands=[x, w, b], result_types=[result_type])

    def verify_(self) -> None:
        x, w, b, y = (dims(v.type) for v in (self.input, self.weight, self.bias, self.result))
        expect(len(w) == 2, self.name, lambda: f"weight must be 2-D [out, in], got {fmt(w)}")
        expect(None not in w, self.name, lambda: f"weight {fmt(w)} must have a static shape")
        expect(b == [w[0]], self.name, lambda: f"bias {fmt(b)} does not match {w[0]} output features")
        expect(len(x) >= 2 and x[-1] in (None, w[1]), self.name,
               lambda: f"input {fmt(x)} has {x[-1]} features but the weight takes {w[1]}")
        expect(dims_match(y, x[:-1] + [w[0]]), self.name,
               lambda: f"result {fmt(y)} should be {fmt(x[:-1] + [w[0]])}")


def conv_output_size(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


@irdl_op_fast
class ConvOp(IRDLOperation):
    """N-d convolution (1-d or 2-d): x [B, C, *S], W [O, C/groups, *k], b [O]."""

    name = "ann.conv"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    stride = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    groups = prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, x, w, b, stride, padding, dilation, groups: int, result_type):
        super().__init__(
            operands=[x, w, b],
            properties={"stride": ints(stride), "padding": ints(padding),
                        "dilation": ints(dilation), "groups": i64_attr(groups)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x, w, b, y = (dims(v.type) for v in (self.input, self.weight, self.bias, self.result))
        nsp = len(w) - 2
        g = self.groups.value.data
        st, pd, dl = ints_of(self.stride), ints_of(self.padding), ints_of(self.dilation)
        expect(nsp in (1, 2), self.name, lambda: f"only 1-d and 2-d convolutions, weight is {fmt(w)}")
        expect(None not in w, self.name, lambda: f"weight {fmt(w)} must have a static shape")
        expect(len(x) == nsp + 2 and len(y) == nsp + 2, self.name,
               lambda: f"input {fmt(x)} / result {fmt(y)} rank does not fit a {nsp}-d convolution")
        expect(len(st) == len(pd) == len(dl) == nsp, self.name,
               "stride, padding and dilation need one entry per spatial dimension")
        expect(all(s >= 1 for s in st) and all(d >= 1 for d in dl) and all(p >= 0 for p in pd),
               self.name, "stride and dilation must be >= 1, padding >= 0")
        expect(g >= 1 and w[0] % g == 0, self.name,
               lambda: f"{w[0]} output channels not divisible by {g} groups")
        expect(x[1] == w[1] * g, self.name,
               lambda: f"input has {x[1]} channels, weight expects {w[1]}x{g} groups")
        expect(b == [w[0]], self.name, lambda: f"bias {fmt(b)} does not match {w[0]} output channels")
        want = [x[0], w[0]] + [
            conv_output_size(x[2 + i], w[2 + i], st[i], pd[i], dl[i]) if x[2 + i] else None
            for i in range(nsp)
        ]
        expect(dims_match(y, want), self.name, lambda: f"result {fmt(y)} should be {fmt(want)}")


# --------------------------------------------------------------------------- elementwise


def _same_type(op: IRDLOperation) -> None:
    expect(dims_match(dims(op.input.type), dims(op.result.type)), op.name,
           lambda: f"result {op.result.type} differs from input {op.input.type}")


class _Unary(IRDLOperation):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x: SSAValue, result_type: Attribute | None = None, **props: Attribute):
        super().__init__(operands=[x], result_types=[result_type or x.type], properties=props)

    def verify_(self) -> None:
        _same_type(self)


@irdl_op_fast
class ReluOp(_Unary):
    name = "ann.relu"


@irdl_op_fast
class Relu6Op(_Unary):
    name = "ann.relu6"


@irdl_op_fast
class SigmoidOp(_Unary):
    name = "ann.sigmoid"


@irdl_op_fast
class TanhOp(_Unary):
    name = "ann.tanh"


@irdl_op_fast
class HardswishOp(_Unary):
    name = "ann.hardswish"


@irdl_op_fast
class GeluOp(_Unary):
    """GELU; `approximate` is "none" (erf) or "tanh", as in PyTorch."""

    name = "ann.gelu"
    approximate = prop_def(StringAttr)

    def verify_(self) -> None:
        _same_type(self)
        expect(self.approximate.data in ("none", "tanh"), self.name,
               lambda: f"approximate must be 'none' or 'tanh', got '{self.approximate.data}'")


@irdl_op_fast
class LeakyReluOp(_Unary):
    name = "ann.leaky_relu"
    negative_slope = prop_def(FloatAttr)


@irdl_op_fast
class MulScalarOp(_Unary):
    """x · value (attention's 1/√d scale, a residual's constant factor)."""

    name = "ann.mul_scalar"
    value = prop_def(FloatAttr)


@irdl_op_fast
class AddScalarOp(_Unary):
    name = "ann.add_scalar"
    value = prop_def(FloatAttr)


def broadcast_shape(a: list[int | None], b: list[int | None]) -> list[int | None] | None:
    """NumPy broadcasting of two shapes, or None when they do not broadcast."""
    out: list[int | None] = []
    for i in range(max(len(a), len(b))):
        x = a[-1 - i] if i < len(a) else 1
        y = b[-1 - i] if i < len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1 or y == x or y is None:
            out.append(x)
        elif x is None:
            out.append(y)
        else:
            return None
    return out[::-1]


class _Binary(IRDLOperation):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, a: SSAValue, b: SSAValue, result_type: Attribute):
        super().__init__(operands=[a, b], result_types=[result_type])

    def verify_(self) -> None:
        a, b, y = dims(self.lhs.type), dims(self.rhs.type), dims(self.result.type)
        want = broadcast_shape(a, b)
        expect(want is not None, self.name, lambda: f"shapes {fmt(a)} and {fmt(b)} do not broadcast")
        expect(dims_match(y, want), self.name, lambda: f"result {fmt(y)} should be {fmt(want)}")


@irdl_op_fast
class AddOp(_Binary):
    """Elementwise sum with broadcasting (residual connections)."""

    name = "ann.add"


@irdl_op_fast
class MulOp(_Binary):
    """Elementwise product with broadcasting (gating, squeeze-excitation)."""

    name = "ann.mul"


# --------------------------------------------------------------------------- pooling


class _Pool(IRDLOperation):
    input = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    stride = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    ceil_mode = prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x, kernel, stride, padding, result_type, ceil_mode: bool = False, **extra):
        super().__init__(
            operands=[x], result_types=[result_type],
            properties={"kernel": ints(kernel), "stride": ints(stride),
                        "padding": ints(padding), "ceil_mode": i64_attr(int(ceil_mode)), **extra},
        )

    def verify_(self) -> None:
        x, y = dims(self.input.type), dims(self.result.type)
        k, s, p = ints_of(self.kernel), ints_of(self.stride), ints_of(self.padding)
        nsp = len(k)
        expect(nsp in (1, 2) and len(s) == len(p) == nsp and len(x) == nsp + 2, self.name,
               lambda: f"kernel {k}, stride {s}, padding {p} do not fit input {fmt(x)}")
        expect(all(v >= 1 for v in k + s) and all(2 * pv <= kv for pv, kv in zip(p, k)),
               self.name, "kernel and stride must be >= 1 and padding at most half the kernel")
        ceil = bool(self.ceil_mode.value.data)
        want: list[int | None] = [x[0], x[1]]
        for i in range(nsp):
            if x[2 + i] is None:
                want.append(None)
                continue
            num = x[2 + i] + 2 * p[i] - k[i]
            o = (-(-num // s[i]) if ceil else num // s[i]) + 1
            if ceil and (o - 1) * s[i] >= x[2 + i] + p[i]:
                o -= 1
            want.append(o)
        expect(dims_match(y, want), self.name, lambda: f"result {fmt(y)} should be {fmt(want)}")


@irdl_op_fast
class MaxPoolOp(_Pool):
    name = "ann.maxpool"


@irdl_op_fast
class AvgPoolOp(_Pool):
    """Average pooling; `count_include_pad` as in PyTorch."""

    name = "ann.avgpool"
    count_include_pad = prop_def(IntegerAttr)


@irdl_op_fast
class AdaptiveAvgPoolOp(IRDLOperation):
    name = "ann.adaptive_avgpool"
    input = operand_def(TensorType)
    output_size = prop_def(DenseArrayBase)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x, output_size, result_type):
        super().__init__(operands=[x], result_types=[result_type],
                         properties={"output_size": ints(output_size)})

    def verify_(self) -> None:
        x, y, o = dims(self.input.type), dims(self.result.type), ints_of(self.output_size)
        expect(len(o) == len(x) - 2 and all(v >= 1 for v in o), self.name,
               lambda: f"output size {o} does not fit input {fmt(x)}")
        expect(dims_match(y, x[:2] + o), self.name, lambda: f"result {fmt(y)} should be {fmt(x[:2] + o)}")


# --------------------------------------------------------------------------- data movement


@irdl_op_fast
class ReshapeOp(IRDLOperation):
    """Reshape (flatten, view) keeping the batch dimension; the result type is the shape."""

    name = "ann.reshape"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = UNARY_FORMAT

    def __init__(self, x: SSAValue, result_type: Attribute):
        super().__init__(operands=[x], result_types=[result_type])

    def verify_(self) -> None:
        x, y = dims(self.input.type), dims(self.result.type)
        expect(None not in x[1:] and None not in y[1:], self.name,
               "only the batch dimension may be dynamic")
        expect(numel(x[1:]) == numel(y[1:]), self.name,
               lambda: f"cannot reshape {fmt(x)} into {fmt(y)}: element counts differ")


@irdl_op_fast
class PermuteOp(IRDLOperation):
    name = "ann.permute"
    input = operand_def(TensorType)
    perm = prop_def(DenseArrayBase)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x, perm, result_type):
        super().__init__(operands=[x], result_types=[result_type], properties={"perm": ints(perm)})

    def verify_(self) -> None:
        x, y, p = dims(self.input.type), dims(self.result.type), ints_of(self.perm)
        expect(sorted(p) == list(range(len(x))), self.name,
               lambda: f"{p} is not a permutation of {len(x)} axes")
        expect(dims_match(y, [x[i] for i in p]), self.name,
               lambda: f"result {fmt(y)} should be {fmt([x[i] for i in p])}")


@irdl_op_fast
class ConcatOp(IRDLOperation):
    name = "ann.concat"
    inputs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, xs, axis: int, result_type):
        super().__init__(operands=[list(xs)], result_types=[result_type],
                         properties={"axis": i64_attr(axis)})

    def verify_(self) -> None:
        shapes = [dims(v.type) for v in self.inputs]
        y = dims(self.result.type)
        ax = self.axis.value.data
        expect(len(shapes) >= 1 and 0 <= ax < len(y), self.name, lambda: f"axis {ax} out of range")
        total = 0
        for s in shapes:
            expect(len(s) == len(y) and dims_match(s[:ax] + s[ax + 1:], y[:ax] + y[ax + 1:]),
                   self.name, lambda: f"input {fmt(s)} does not fit result {fmt(y)} along axis {ax}")
            total += s[ax] or 0
        expect(y[ax] is None or y[ax] == total, self.name, lambda: f"axis {ax} sums to {total}, not {y[ax]}")


@irdl_op_fast
class SliceOp(IRDLOperation):
    """Elements `start, start+step, … < end` along one non-batch axis (split, chunk, select)."""

    name = "ann.slice"
    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    start = prop_def(IntegerAttr)
    end = prop_def(IntegerAttr)
    step = prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x: SSAValue, axis: int, start: int, end: int, step: int,
                 result_type: Attribute):
        super().__init__(operands=[x], result_types=[result_type],
                         properties={"axis": i64_attr(axis), "start": i64_attr(start),
                                     "end": i64_attr(end), "step": i64_attr(step)})

    def verify_(self) -> None:
        x, y = dims(self.input.type), dims(self.result.type)
        ax, start, end, step = (a.value.data for a in (self.axis, self.start, self.end, self.step))
        expect(0 <= ax < len(x), self.name, lambda: f"axis {ax} out of range for {fmt(x)}")
        expect(step >= 1 and 0 <= start < end, self.name,
               lambda: f"need 0 <= start < end and step >= 1, got {start}:{end}:{step}")
        expect(x[ax] is None or end <= x[ax], self.name, lambda: f"end {end} exceeds axis size {x[ax]}")
        want = list(x)
        want[ax] = -(-(end - start) // step)
        expect(dims_match(y, want), self.name, lambda: f"result {fmt(y)} should be {fmt(want)}")


@irdl_op_fast
class MeanOp(IRDLOperation):
    """Mean over `axes` (global average pooling written as `x.mean((2, 3))`)."""

    name = "ann.mean"
    input = operand_def(TensorType)
    axes = prop_def(DenseArrayBase)
    keepdim = prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x: SSAValue, axes, keepdim: bool, result_type: Attribute):
        super().__init__(operands=[x], result_types=[result_type],
                         properties={"axes": ints(axes), "keepdim": i64_attr(int(keepdim))})

    def verify_(self) -> None:
        x, y, axes = dims(self.input.type), dims(self.result.type), ints_of(self.axes)
        expect(len(axes) >= 1 and len(set(axes)) == len(axes)
               and all(0 <= a < len(x) for a in axes), self.name,
               lambda: f"axes {axes} must be distinct axes of {fmt(x)}")
        keep = bool(self.keepdim.value.data)
        if keep:
            want = [1 if i in axes else d for i, d in enumerate(x)]
        else:
            want = [d for i, d in enumerate(x) if i not in axes]
        expect(dims_match(y, want), self.name, lambda: f"result {fmt(y)} should be {fmt(want)}")


# --------------------------------------------------------------------------- normalization


@irdl_op_fast
class BatchNormOp(IRDLOperation):
    """Eval-mode batch norm over axis 1; `fold-batchnorm` removes it."""

    name = "ann.batchnorm"
    input = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    gamma = operand_def(TensorType)
    beta = operand_def(TensorType)
    eps = prop_def(FloatAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, x, mean, var, gamma, beta, eps: float):
        super().__init__(operands=[x, mean, var, gamma, beta], result_types=[x.type],
                         properties={"eps": f64_attr(eps)})

    def verify_(self) -> None:
        x = dims(self.input.type)
        expect(len(x) >= 2, self.name, lambda: f"input {fmt(x)} has no channel axis")
        for v in (self.mean, self.var, self.gamma, self.beta):
            expect(dims(v.type) == [x[1]], self.name,
                   lambda: f"statistics {v.type} do not match {x[1]} channels")
        _same_type(self)
        expect(self.eps.value.data > 0, self.name, "eps must be positive")


@irdl_op_fast
class LayerNormOp(IRDLOperation):
    """Layer norm over the trailing axes that `weight` spans (digital)."""

    name = "ann.layer_norm"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    eps = prop_def(FloatAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, x, w, b, eps: float):
        super().__init__(operands=[x, w, b], result_types=[x.type], properties={"eps": f64_attr(eps)})

    def verify_(self) -> None:
        x, w, b = dims(self.input.type), dims(self.weight.type), dims(self.bias.type)
        expect(w == b and len(w) <= len(x) and dims_match(x[len(x) - len(w):], w), self.name,
               lambda: f"normalized shape {fmt(w)} does not match the trailing axes of {fmt(x)}")
        _same_type(self)


@irdl_op_fast
class SoftmaxOp(IRDLOperation):
    name = "ann.softmax"
    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x, axis: int):
        super().__init__(operands=[x], result_types=[x.type], properties={"axis": i64_attr(axis)})

    def verify_(self) -> None:
        _same_type(self)
        rank = len(dims(self.input.type))
        expect(0 <= self.axis.value.data < rank, self.name,
               lambda: f"axis {self.axis.value.data} out of range")


@irdl_op_fast
class MatmulOp(IRDLOperation):
    """Activation × activation product (attention's QKᵀ and AV): kept digital.

    Both operands change with every input, so there is nothing to program into
    an array; the `mode = "digital"` marker says so in the printed IR.
    """

    name = "ann.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    mode = prop_def(StringAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = NARY_FORMAT

    def __init__(self, a, b, result_type):
        super().__init__(operands=[a, b], result_types=[result_type],
                         properties={"mode": StringAttr("digital")})

    def verify_(self) -> None:
        a, b, y = dims(self.lhs.type), dims(self.rhs.type), dims(self.result.type)
        expect(self.mode.data == "digital", self.name, "activation matmuls are digital")
        expect(len(a) >= 2 and len(b) >= 2, self.name,
               lambda: f"operands {fmt(a)} and {fmt(b)} must have rank >= 2")
        expect(a[-1] is None or b[-2] is None or a[-1] == b[-2], self.name,
               lambda: f"inner dimensions of {fmt(a)} and {fmt(b)} differ")
        batch = broadcast_shape(a[:-2], b[:-2])
        expect(batch is not None, self.name, lambda: f"batch dims of {fmt(a)} and {fmt(b)} do not broadcast")
        expect(dims_match(y, (batch or []) + [a[-2], b[-1]]), self.name,
               lambda: f"result {fmt(y)} should be {fmt((batch or []) + [a[-2], b[-1]])}")


ANALOG_OPS = (LinearOp, ConvOp)
ACTIVATIONS = (ReluOp, Relu6Op, SigmoidOp, TanhOp, HardswishOp, GeluOp, LeakyReluOp)

ANN = Dialect(
    "ann",
    [
        WeightOp, ConstantOp, LinearOp, ConvOp, ReluOp, Relu6Op, SigmoidOp, TanhOp,
        HardswishOp, GeluOp, LeakyReluOp, MulScalarOp, AddScalarOp, AddOp, MulOp, MaxPoolOp,
        AvgPoolOp, AdaptiveAvgPoolOp, ReshapeOp, PermuteOp, ConcatOp, SliceOp, MeanOp,
        BatchNormOp, LayerNormOp, SoftmaxOp, MatmulOp,
    ],
    [QuantAttr],
)


# --------------------------------------------------------------------------- model-zoo ops (issue 13)
# Digital ops the frontend needs for MobileNetV3, EfficientNet, ViT and segmentation heads.
# They run in float between `xbar.dequantize` and `xbar.quantize` at the lower levels.


@irdl_op_fast
class HardsigmoidOp(_Unary):
    """relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate)."""

    name = "ann.hardsigmoid"


@irdl_op_fast
class SiluOp(_Unary):
    """x · sigmoid(x) (EfficientNet's swish)."""

    name = "ann.silu"


@irdl_op_fast
class MishOp(_Unary):
    """x · tanh(softplus(x))."""

    name = "ann.mish"


@irdl_op_fast
class ClampOp(_Unary):
    """Clamp to [min, max]; a missing bound is open (hardtanh, clamp with other bounds than ReLU/ReLU6)."""

    name = "ann.clamp"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)

    def verify_(self) -> None:
        _same_type(self)
        lo = None if self.min is None else self.min.value.data
        hi = None if self.max is None else self.max.value.data
        expect(lo is not None or hi is not None, self.name, "needs a min or a max")
        expect(lo is None or hi is None or lo <= hi, self.name, lambda: f"min {lo} > max {hi}")


@irdl_op_fast
class BatchBroadcastOp(IRDLOperation):
    """A batch-independent tensor (a class token, a weight [1, ...]) repeated along `like`'s batch.

    `input` has batch dimension 1; the result has `like`'s (dynamic) batch. It is
    how a parameter joins activations (`torch.cat([cls_token.expand(n, -1, -1), x])`).
    """

    name = "ann.batch_broadcast"
    input = operand_def(TensorType)
    like = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = NARY_FORMAT

    def __init__(self, x: SSAValue, like: SSAValue, result_type: Attribute):
        super().__init__(operands=[x, like], result_types=[result_type])

    def verify_(self) -> None:
        x, like, y = dims(self.input.type), dims(self.like.type), dims(self.result.type)
        expect(len(x) >= 1 and x[0] == 1, self.name, lambda: f"input {fmt(x)} must have batch 1")
        expect(len(like) >= 1 and dims_match(y, [like[0], *x[1:]]), self.name,
               lambda: f"result {fmt(y)} should be {fmt([like[0] if like else None, *x[1:]])}")


@irdl_op_fast
class InterpolateOp(IRDLOperation):
    """Resize over the spatial axes (`F.interpolate`): `mode` "nearest" or "bilinear".

    The result type gives the output size; `scales` (optional, per spatial axis)
    are the scale factors PyTorch uses to map output to input coordinates when
    the model gave `scale_factor` (they differ from size ratios for fractional scales).
    """

    name = "ann.interpolate"
    input = operand_def(TensorType)
    mode = prop_def(StringAttr)
    align_corners = prop_def(IntegerAttr)
    scales = opt_prop_def(DenseArrayBase)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    irdl_options = PROPS_IN_ATTR_DICT
    assembly_format = UNARY_FORMAT

    def __init__(self, x: SSAValue, mode: str, align_corners: bool,
                 scales: Sequence[float] | None, result_type: Attribute):
        props: dict[str, Attribute] = {"mode": StringAttr(mode),
                                       "align_corners": i64_attr(int(align_corners))}
        if scales is not None:
            props["scales"] = DenseArrayBase.from_list(f64, [float(s) for s in scales])
        super().__init__(operands=[x], result_types=[result_type], properties=props)

    def verify_(self) -> None:
        x, y = dims(self.input.type), dims(self.result.type)
        mode = self.mode.data
        ranks = {"nearest": (3, 4), "bilinear": (4,)}
        expect(mode in ranks, self.name, lambda: f"mode '{mode}' is not one of {list(ranks)}")
        expect(len(x) == len(y) and len(x) in ranks.get(mode, ()), self.name,
               lambda: f"{mode} cannot resize {fmt(x)} into {fmt(y)}")
        expect(dims_match(x[:2], y[:2]), self.name, lambda: f"result {fmt(y)} changes batch or channels")
        if self.scales is not None:
            expect(len(self.scales.get_values()) == len(x) - 2, self.name, "one scale per spatial axis")


ANN = Dialect("ann", [*ANN.operations, HardsigmoidOp, SiluOp, MishOp, ClampOp, BatchBroadcastOp,
                      InterpolateOp], list(ANN.attributes))
