"""The dispatch table from ATen op to ann builder (torch-mlir's fx_importer pattern).

A builder takes the importer, the fx node and its schema-bound `Args`, emits
ann ops, and returns what the node imports to (see `values.py`). It raises
`Unsupported(reason)` when this use of the op has no ann mapping; the importer
records it and goes on. Both levels of the export IR are covered: the
high-level ops `torch.export.export` keeps (`linear`, `conv2d`, `batch_norm`,
`matmul`) and the core-ATen ops they decompose into (`addmm`, `convolution`,
`_native_batch_norm_legit_no_training`, `bmm`).

Every activation keeps the batch on axis 0, so the builders check that no op
moves it (permute), merges it (reshape), reduces over it, or broadcasts a
constant along it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import fx
from torch._ops import OpOverload

from anncc.frontend.values import Constant, Permuted, Unavailable, Unsupported
from anncc.ir._xdsl import SSAValue, StringAttr, f32
from anncc.ir.ann import (
    AdaptiveAvgPoolOp,
    AddOp,
    AddScalarOp,
    AvgPoolOp,
    BatchBroadcastOp,
    BatchNormOp,
    ClampOp,
    ConcatOp,
    ConvOp,
    GeluOp,
    HardsigmoidOp,
    HardswishOp,
    InterpolateOp,
    LayerNormOp,
    LeakyReluOp,
    LinearOp,
    MatmulOp,
    MaxPoolOp,
    MeanOp,
    MishOp,
    MulOp,
    MulScalarOp,
    PermuteOp,
    Relu6Op,
    ReluOp,
    ReshapeOp,
    SigmoidOp,
    SiluOp,
    SliceOp,
    SoftmaxOp,
    TanhOp,
    f64_attr,
    i64_attr,
)
from anncc.ir.shapes import dims, tensor

if TYPE_CHECKING:
    from anncc.frontend.importer import Args, ProgramImporter

Builder = Callable[["ProgramImporter", fx.Node, "Args"], Any]
ATEN_TABLE: dict[OpOverload, Builder] = {}
aten = torch.ops.aten


def handles(*targets: OpOverload) -> Callable[[Builder], Builder]:
    """Register a builder for one or more ATen overloads."""

    def register(fn: Builder) -> Builder:
        for t in targets:
            ATEN_TABLE[t] = fn
        return fn

    return register


def rank(v: SSAValue) -> int:
    return len(dims(v.type))


def batch_axis_check(axis: int, r: int, what: str) -> int:
    """Normalize a possibly negative axis of a rank-`r` activation; axis 0 is the batch."""
    if not -r <= axis < r:
        raise Unsupported(f"{what} axis {axis} is out of range for rank {r}")
    axis %= r
    if axis == 0:
        raise Unsupported(f"{what} along axis 0, the batch dimension")
    return axis


# --------------------------------------------------------------------------- identities


@handles(aten.clone.default, aten.alias.default, aten.detach.default,
         aten.lift_fresh_copy.default, aten.contiguous.default)
def _identity(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    return a["self"]


@handles(aten._to_copy.default, aten.to.dtype, aten.to.dtype_layout, aten.type_as.default)
def _to(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    imp.type_of(node)  # refuses a conversion to a non-float dtype
    return a["self"]


@handles(aten.dropout.default, aten.feature_dropout.default, aten.alpha_dropout.default,
         aten.native_dropout.default)
def _dropout(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    if a["train"] and a["p"]:
        raise Unsupported("dropout in training mode (call model.eval() before exporting)")
    if node.target == aten.native_dropout.default:
        return a["input"], Unavailable("dropout mask")
    return a["input"]


@handles(aten.sym_size.int)
def _sym_size(imp: ProgramImporter, node: fx.Node, a: Args) -> int:
    return imp.example_shape(node.args[0])[a["dim"]]  # type: ignore[arg-type]


@handles(aten.expand.default)
def _expand(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    if imp.example_shape(node) != imp.example_shape(node.args[0]):  # type: ignore[arg-type]
        raise Unsupported("expand that broadcasts an activation")
    return x


# --------------------------------------------------------------------------- activations


def _unary(op_cls: type, imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return imp.emit(op_cls(a.act("self")), node)


for _target, _cls in ((aten.relu.default, ReluOp), (aten.relu6.default, Relu6Op),
                      (aten.sigmoid.default, SigmoidOp), (aten.tanh.default, TanhOp),
                      (aten.hardswish.default, HardswishOp),
                      (aten.hardsigmoid.default, HardsigmoidOp), (aten.silu.default, SiluOp),
                      (aten.mish.default, MishOp)):
    ATEN_TABLE[_target] = partial(_unary, _cls)


@handles(aten.hardtanh.default, aten.clamp.default)
def _clamp(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    lo, hi = (a["min_val"], a["max_val"]) if "min_val" in a.values else (a["min"], a["max"])
    x = a.act("self")
    if lo == 0 and hi == 6:
        return imp.emit(Relu6Op(x), node)
    if lo == 0 and hi is None:
        return imp.emit(ReluOp(x), node)
    if lo is None and hi is None:
        return x
    if not all(v is None or isinstance(v, int | float) for v in (lo, hi)):
        raise Unsupported("clamp with tensor bounds")
    props = {k: f64_attr(v) for k, v in (("min", lo), ("max", hi)) if v is not None}
    return imp.emit(ClampOp(x, **props), node)


@handles(aten.clamp_min.default, aten.clamp_max.default)
def _clamp_min(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    if node.target == aten.clamp_min.default:
        if a["min"] == 0:
            return imp.emit(ReluOp(x), node)
        return imp.emit(ClampOp(x, min=f64_attr(float(a["min"]))), node)
    return imp.emit(ClampOp(x, max=f64_attr(float(a["max"]))), node)


@handles(aten.leaky_relu.default)
def _leaky_relu(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return imp.emit(LeakyReluOp(a.act("self"), negative_slope=f64_attr(a["negative_slope"])), node)


@handles(aten.gelu.default)
def _gelu(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return imp.emit(GeluOp(a.act("self"), approximate=StringAttr(a["approximate"])), node)


# --------------------------------------------------------------------------- arithmetic


def _scalar(v: Any, like: SSAValue) -> float | None:
    """`v` as a Python float when it is a scalar for an op on `like`, else None."""
    if isinstance(v, bool | int | float):
        return float(v)
    if isinstance(v, Constant) and v.tensor.numel() == 1 and v.tensor.dim() <= rank(like):
        return float(v.tensor.item())
    return None


def _operand(imp: ProgramImporter, v: Any, like: SSAValue) -> SSAValue:
    """A tensor operand of an elementwise op on the activation `like`."""
    if isinstance(v, SSAValue):
        if rank(v) != rank(like):
            raise Unsupported("broadcasting two activations of different rank moves the batch axis")
        return v
    if not isinstance(v, Constant):
        raise Unsupported(f"operand of type {type(v).__name__}")
    if v.tensor.dim() > rank(like) or (v.tensor.dim() == rank(like) and v.shape[0] != 1):
        raise Unsupported(f"a constant of shape {v.shape} broadcasts along the batch axis")
    return imp.weight(v)


def _negate(imp: ProgramImporter, v: Any, name: str) -> Any:
    if isinstance(v, SSAValue):
        return imp.emit(MulScalarOp(v, value=f64_attr(-1.0)), name=name + "_neg")
    if isinstance(v, Constant):
        return imp.constant(-v.tensor, v.key + ".neg")
    return -v


def _scale(imp: ProgramImporter, v: Any, factor: float, name: str) -> Any:
    if factor == 1:
        return v
    if isinstance(v, SSAValue):
        return imp.emit(MulScalarOp(v, value=f64_attr(factor)), name=name + "_scaled")
    if isinstance(v, Constant):
        return imp.constant(v.tensor * factor, v.key + ".scaled")
    return v * factor


def _sum(imp: ProgramImporter, node: fx.Node, x: Any, y: Any) -> SSAValue:
    """x + y with at least one activation (addition commutes exactly in IEEE floats)."""
    if not isinstance(x, SSAValue):
        x, y = y, x
    s = _scalar(y, x)
    if s is not None:
        return imp.emit(AddScalarOp(x, value=f64_attr(s)), node)
    return imp.emit(AddOp(x, _operand(imp, y, x), imp.type_of(node)), node)


def _product(imp: ProgramImporter, node: fx.Node, x: Any, y: Any) -> SSAValue:
    if not isinstance(x, SSAValue):
        x, y = y, x
    s = _scalar(y, x)
    if s is not None:
        return imp.emit(MulScalarOp(x, value=f64_attr(s)), node)
    return imp.emit(MulOp(x, _operand(imp, y, x), imp.type_of(node)), node)


@handles(aten.add.Tensor, aten.add.Scalar)
def _add(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return _sum(imp, node, a["self"], _scale(imp, a["other"], a["alpha"], imp.base_name(node)))


@handles(aten.sub.Tensor, aten.sub.Scalar)
def _sub(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    other = _negate(imp, _scale(imp, a["other"], a["alpha"], imp.base_name(node)), imp.base_name(node))
    return _sum(imp, node, a["self"], other)


@handles(aten.rsub.Scalar, aten.rsub.Tensor)
def _rsub(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    # rsub(self, other, alpha) = other - alpha * self
    mine = _negate(imp, _scale(imp, a["self"], a["alpha"], imp.base_name(node)), imp.base_name(node))
    return _sum(imp, node, mine, a["other"])


@handles(aten.neg.default)
def _neg(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return imp.emit(MulScalarOp(a.act("self"), value=f64_attr(-1.0)), node)


@handles(aten.mul.Tensor, aten.mul.Scalar)
def _mul(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return _product(imp, node, a["self"], a["other"])


@handles(aten.div.Tensor, aten.div.Scalar)
def _div(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x, y = a["self"], a["other"]
    if not isinstance(x, SSAValue) or isinstance(y, SSAValue):
        raise Unsupported("division by an activation")
    if isinstance(y, Constant):
        return _product(imp, node, x, imp.constant(1.0 / y.tensor.double(), y.key + ".reciprocal"))
    return _product(imp, node, x, 1.0 / float(y))


# --------------------------------------------------------------------------- analog layers


def _zeros(imp: ProgramImporter, n: int, weight: Constant) -> Constant:
    base = weight.key.removesuffix(".weight")
    return imp.constant(torch.zeros(n), base + ".bias")


def _bias_vector(imp: ProgramImporter, b: Constant | None, n: int, weight: Constant,
                 scale: float = 1.0) -> Constant:
    if b is None or scale == 0:
        return _zeros(imp, n, weight)
    if b.tensor.numel() not in (1, n):
        raise Unsupported(f"bias of shape {b.shape} for {n} output features")
    if b.tensor.dim() == 1 and b.tensor.numel() == n and scale == 1:
        return b
    return imp.constant(b.tensor.expand(n).reshape(n) * scale if b.tensor.numel() == 1
                        else b.tensor.reshape(n) * scale, b.key)


def _linear_layer(imp: ProgramImporter, node: fx.Node, x: SSAValue, w: Constant,
                  b: Constant | None, bias_scale: float = 1.0) -> SSAValue:
    """ann.linear with weight `w` [out, in] (PyTorch layout) and always a bias."""
    if w.tensor.dim() != 2:
        raise Unsupported(f"linear weight of shape {w.shape}; expected [out, in]")
    if rank(x) < 2:
        raise Unsupported("linear layer on an activation without a feature axis")
    bias = _bias_vector(imp, b, w.shape[0], w, bias_scale)
    return imp.emit(LinearOp(x, imp.weight(w), imp.weight(bias), imp.type_of(node)), node)


def _transposed(imp: ProgramImporter, m: Constant, factor: float = 1.0) -> Constant:
    """`mᵀ · factor`, reusing the original weight when `m` is a folded transpose of it."""
    if m.tensor.dim() != 2:
        raise Unsupported(f"matrix operand of shape {m.shape}; expected 2-D")
    if m.transpose_of is not None and factor == 1:
        return m.transpose_of
    return imp.constant(m.tensor.t().contiguous() * factor, m.key + ".t")


@handles(aten.linear.default)
def _linear(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    w = a.const("weight", "a linear layer's weight")
    return _linear_layer(imp, node, a.act("input"), w, a.opt_const("bias", "a linear layer's bias"))


@handles(aten.addmm.default)
def _addmm(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    # addmm(bias, x, Wᵀ, beta, alpha) = beta * bias + alpha * x @ Wᵀ
    w = _transposed(imp, a.const("mat2", "addmm's matrix"), float(a["alpha"]))
    bias = a.const("self", "addmm's bias")
    return _linear_layer(imp, node, a.act("mat1"), w, bias, float(a["beta"]))


@handles(aten.mm.default, aten.matmul.default, aten.bmm.default)
def _matmul(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    lhs, rhs = a["self"], a[next(k for k in ("mat2", "other") if k in a.values)]
    if isinstance(lhs, SSAValue) and isinstance(rhs, Constant) and rhs.tensor.dim() == 2:
        return _linear_layer(imp, node, lhs, _transposed(imp, rhs), None)
    if not (isinstance(lhs, SSAValue) and isinstance(rhs, SSAValue)):
        raise Unsupported("a matrix product of a constant with an activation on its left")
    if rank(lhs) != rank(rhs) or rank(lhs) < 3:
        raise Unsupported("a matrix product of activations must have equal ranks >= 3 "
                          "(rank 2 would contract over the batch axis)")
    return imp.emit(MatmulOp(lhs, rhs, imp.type_of(node)), node)


@handles(aten.scaled_dot_product_attention.default)
def _attention(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    """softmax(Q·Kᵀ·scale)·V as ann ops: permute, matmul, mul_scalar, softmax, matmul."""
    q, k, v = a.act("query"), a.act("key"), a.act("value")
    if a["dropout_p"] or a["enable_gqa"]:
        raise Unsupported("attention with dropout or grouped queries")
    mask = a["attn_mask"]
    if mask is not None and not isinstance(mask, Constant):
        raise Unsupported("an attention mask computed from the input: anncc needs a constant mask")
    r = rank(q)
    if r < 3 or rank(k) != r or rank(v) != r:
        raise Unsupported("attention operands must have equal ranks >= 3")
    qd, kd = dims(q.type), dims(k.type)
    scale = a["scale"] if a["scale"] is not None else 1.0 / math.sqrt(qd[-1])
    perm = [*range(r - 2), r - 1, r - 2]
    kt = imp.emit(PermuteOp(k, perm, tensor([kd[i] for i in perm], f32)), name=imp.base_name(node) + "_kt")
    scores_type = tensor([*qd[:-1], kd[-2]], f32)
    scores = imp.emit(MatmulOp(q, kt, scores_type), name=imp.base_name(node) + "_scores")
    scaled = imp.emit(MulScalarOp(scores, value=f64_attr(scale)), name=imp.base_name(node) + "_scaled")
    L, S = qd[-2], kd[-2]
    bias = _attention_bias(mask, bool(a["is_causal"]), L, S)  # type: ignore[arg-type]
    if bias is not None:
        c = imp.constant(bias.reshape([1] * max(0, r - bias.dim()) + list(bias.shape))
                         if bias.dim() < r else bias, imp.base_name(node) + ".mask")
        scaled = imp.emit(AddOp(scaled, _operand(imp, c, scaled), scaled.type),
                          name=imp.base_name(node) + "_masked")
    weights = imp.emit(SoftmaxOp(scaled, r - 1), name=imp.base_name(node) + "_weights")
    return imp.emit(MatmulOp(weights, v, imp.type_of(node)), node)


def _attention_bias(mask: Constant | None, causal: bool, L: int, S: int) -> torch.Tensor | None:
    """The additive float mask of `scaled_dot_product_attention` (a boolean mask's False is -inf)."""
    bias = None
    if mask is not None:
        t = mask.tensor
        bias = (torch.zeros(t.shape).masked_fill(~t, float("-inf")) if t.dtype == torch.bool
                else t.to(torch.float32))
    if causal:
        keep = torch.ones(L, S, dtype=torch.bool).tril()
        c = torch.zeros(L, S).masked_fill(~keep, float("-inf"))
        bias = c if bias is None else bias + c
    return bias


def _conv_padding(padding: Any, w: Constant, dilation: list[int], n: int) -> list[int]:
    if padding == "valid":
        return [0] * n
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
        if any(t % 2 for t in total):
            raise Unsupported("padding='same' with an even kernel needs asymmetric padding")
        return [t // 2 for t in total]
    vals = [int(padding)] if isinstance(padding, int) else [int(p) for p in padding]
    return vals * n if len(vals) == 1 else vals


@handles(aten.conv1d.default, aten.conv2d.default, aten.conv1d.padding, aten.conv2d.padding,
         aten.convolution.default)
def _conv(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("input")
    w = a.const("weight", "a convolution's weight")
    if w.tensor.dim() not in (3, 4):
        raise Unsupported(f"{w.tensor.dim() - 2}-d convolution; ann has 1-d and 2-d")
    if a.values.get("transposed"):
        raise Unsupported("transposed convolution")
    n = w.tensor.dim() - 2
    stride, dilation = a.ints("stride", n), a.ints("dilation", n)
    padding = _conv_padding(a["padding"], w, dilation, n)
    bias = _bias_vector(imp, a.opt_const("bias", "a convolution's bias"), w.shape[0], w)
    op = ConvOp(x, imp.weight(w), imp.weight(bias), stride, padding, dilation, int(a["groups"]),
                imp.type_of(node))
    return imp.emit(op, node)


# --------------------------------------------------------------------------- normalization


def _stat(imp: ProgramImporter, a: Args, name: str, n: int, fill: float, node: fx.Node) -> SSAValue:
    c = a.opt_const(name, f"batch norm's {name}")
    if c is None:
        c = imp.constant(torch.full((n,), fill), f"{imp.base_name(node)}.{name}")
    return imp.weight(c)


def _batchnorm(imp: ProgramImporter, node: fx.Node, a: Args, training: bool) -> SSAValue:
    if training:
        raise Unsupported("batch norm in training mode (call model.eval() before exporting)")
    x = a.act("input")
    if rank(x) < 2:
        raise Unsupported("batch norm on an activation without a channel axis")
    n = dims(x.type)[1]
    mean = imp.weight(a.const("running_mean", "batch norm's running mean"))
    var = imp.weight(a.const("running_var", "batch norm's running variance"))
    gamma = _stat(imp, a, "weight", n, 1.0, node)
    beta = _stat(imp, a, "bias", n, 0.0, node)
    return imp.emit(BatchNormOp(x, mean, var, gamma, beta, float(a["eps"])), node)


@handles(aten.batch_norm.default)
def _batch_norm(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return _batchnorm(imp, node, a, bool(a["training"]))


@handles(aten._native_batch_norm_legit_no_training.default, aten.native_batch_norm.default)
def _native_batch_norm(imp: ProgramImporter, node: fx.Node, a: Args) -> tuple:
    y = _batchnorm(imp, node, a, bool(a.values.get("training", False)))
    return y, Unavailable("batch norm's saved mean"), Unavailable("batch norm's saved inverse std")


def _layernorm(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("input")
    shape = [int(d) for d in a["normalized_shape"]]
    if len(shape) >= rank(x):
        raise Unsupported("layer norm over the batch axis")
    w = a.opt_const("weight", "layer norm's weight") or imp.constant(torch.ones(shape),
                                                                     f"{imp.base_name(node)}.weight")
    b = a.opt_const("bias", "layer norm's bias") or imp.constant(torch.zeros(shape),
                                                                 f"{imp.base_name(node)}.bias")
    return imp.emit(LayerNormOp(x, imp.weight(w), imp.weight(b), float(a["eps"])), node)


@handles(aten.layer_norm.default)
def _layer_norm(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return _layernorm(imp, node, a)


@handles(aten.native_layer_norm.default)
def _native_layer_norm(imp: ProgramImporter, node: fx.Node, a: Args) -> tuple:
    return (_layernorm(imp, node, a), Unavailable("layer norm's mean"),
            Unavailable("layer norm's inverse std"))


@handles(aten.softmax.int, aten._softmax.default)
def _softmax(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    return imp.emit(SoftmaxOp(x, batch_axis_check(int(a["dim"]), rank(x), "softmax")), node)


# --------------------------------------------------------------------------- pooling


def _pool_args(a: Args, x: SSAValue) -> tuple[list[int], list[int], list[int]]:
    n = rank(x) - 2
    if n not in (1, 2):
        raise Unsupported(f"pooling over {n} spatial axes; ann pools 1-d and 2-d")
    kernel = a.ints("kernel_size", n)
    stride = a.ints("stride", n) if a["stride"] else kernel
    return kernel, stride, a.ints("padding", n)


@handles(aten.max_pool1d.default, aten.max_pool2d.default, aten.max_pool2d_with_indices.default)
def _max_pool(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    x = a.act("self")
    kernel, stride, padding = _pool_args(a, x)
    if any(d != 1 for d in a.ints("dilation", len(kernel))):
        raise Unsupported("dilated max pooling")
    with_indices = node.target == aten.max_pool2d_with_indices.default
    y = imp.emit(MaxPoolOp(x, kernel, stride, padding,
                           imp.type_of(node, 0 if with_indices else None), bool(a["ceil_mode"])),
                 node)
    return (y, Unavailable("max-pool indices")) if with_indices else y


@handles(aten.avg_pool1d.default, aten.avg_pool2d.default)
def _avg_pool(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    kernel, stride, padding = _pool_args(a, x)
    if a.values.get("divisor_override") is not None:
        raise Unsupported("average pooling with divisor_override")
    op = AvgPoolOp(x, kernel, stride, padding, imp.type_of(node), bool(a["ceil_mode"]),
                   count_include_pad=i64_attr(int(bool(a["count_include_pad"]))))
    return imp.emit(op, node)


@handles(aten.adaptive_avg_pool1d.default, aten.adaptive_avg_pool2d.default,
         aten._adaptive_avg_pool2d.default)
def _adaptive_avg_pool(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    out = imp.type_of(node)
    return imp.emit(AdaptiveAvgPoolOp(x, dims(out)[2:], out), node)


@handles(aten.mean.dim)
def _mean(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    if not a["dim"]:
        raise Unsupported("mean over all axes, including the batch")
    axes = sorted({batch_axis_check(int(d), rank(x), "mean") for d in a["dim"]})
    return imp.emit(MeanOp(x, axes, bool(a["keepdim"]), imp.type_of(node)), node)


# --------------------------------------------------------------------------- data movement


@handles(aten.view.default, aten._unsafe_view.default, aten.reshape.default,
         aten.flatten.using_ints, aten.unflatten.int, aten.squeeze.dim, aten.squeeze.dims,
         aten.squeeze.default, aten.unsqueeze.default)
def _reshape(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    before, after = imp.example_shape(node.args[0]), imp.example_shape(node)  # type: ignore[arg-type]
    if not after or after[0] != before[0] or math.prod(after[1:]) != math.prod(before[1:]):
        raise Unsupported(f"reshape from {before} to {after} changes the batch axis")
    if after == before:
        return x
    return imp.emit(ReshapeOp(x, imp.type_of(node)), node)


def _permutation(imp: ProgramImporter, node: fx.Node, x: SSAValue | Permuted,
                 perm: list[int]) -> SSAValue | Permuted:
    """`x.permute(perm)`; one that moves the batch axis stays lazy (`Permuted`) until another
    permutation moves it back (`x.transpose(0, 1)` around sequence-first attention)."""
    if isinstance(x, Permuted):
        src, before = x.source, list(x.perm)
    elif isinstance(x, SSAValue):
        src, before = x, list(range(rank(x)))
    else:
        raise Unsupported(f"permutation of a {type(x).__name__}")
    r = rank(src)
    perm = [before[int(p) % r] for p in perm]
    if perm[0] != 0:
        return Permuted(src, tuple(perm))
    if perm == list(range(r)):
        return src
    return imp.emit(PermuteOp(src, perm, imp.type_of(node)), node)


def _rank_of(x: Any) -> int:
    return rank(x.source) if isinstance(x, Permuted) else rank(x)


@handles(aten.permute.default)
def _permute(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    return _permutation(imp, node, a["self"], list(a["dims"]))


@handles(aten.transpose.int)
def _transpose(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    x = a["self"]
    perm = list(range(_rank_of(x)))
    i, j = int(a["dim0"]) % len(perm), int(a["dim1"]) % len(perm)
    perm[i], perm[j] = perm[j], perm[i]
    return _permutation(imp, node, x, perm)


@handles(aten.t.default, aten.numpy_T.default)
def _t(imp: ProgramImporter, node: fx.Node, a: Args) -> Any:
    x = a["self"]
    return _permutation(imp, node, x, list(range(_rank_of(x)))[::-1])


@handles(aten.cat.default)
def _cat(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    xs = list(a["tensors"])
    like = next((x for x in xs if isinstance(x, SSAValue)), None)
    if like is None:
        raise Unsupported("concatenation without an activation")
    xs = [x if isinstance(x, SSAValue) else _batch_broadcast(imp, node, x, like) for x in xs]
    axis = batch_axis_check(int(a["dim"]), rank(xs[0]), "concatenation")
    if len(xs) == 1:
        return xs[0]
    return imp.emit(ConcatOp(xs, axis, imp.type_of(node)), node)


def _batch_broadcast(imp: ProgramImporter, node: fx.Node, c: Any, like: SSAValue) -> SSAValue:
    """A constant (class token, positional embedding) repeated along `like`'s batch axis."""
    if not isinstance(c, Constant):
        raise Unsupported(f"concatenating a {type(c).__name__} with activations")
    if c.tensor.dim() != rank(like) or c.shape[0] != 1:
        raise Unsupported(f"a constant of shape {c.shape} joins activations of rank {rank(like)}: "
                          "it needs batch 1 (the exported batch is repeated at run time)")
    out = tensor([None, *c.shape[1:]], f32)
    return imp.emit(BatchBroadcastOp(imp.weight(c), like, out), name=f"{c.origin or c.key}.broadcast")


def _slice(imp: ProgramImporter, x: SSAValue, axis: int, start: int, end: int, step: int,
           name: str) -> SSAValue:
    shape = dims(x.type)
    out = list(shape)
    out[axis] = -(-(end - start) // step)
    return imp.emit(SliceOp(x, axis, start, end, step, tensor(out, x.type.element_type)), name=name)


@handles(aten.slice.Tensor)
def _slice_tensor(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    x = a.act("self")
    size = imp.example_shape(node.args[0])  # type: ignore[arg-type]
    r = len(size)
    axis = int(a["dim"]) % r
    n = size[axis]
    start, end, step = a["start"], a["end"], int(a["step"])
    start = 0 if start is None else min(max(start + n if start < 0 else start, 0), n)
    end = n if end is None else min(max(end + n if end < 0 else end, 0), n)
    if start == 0 and end == n and step == 1:
        return x
    batch_axis_check(axis, r, "slice")
    if end <= start:
        raise Unsupported("an empty slice")
    return _slice(imp, x, axis, start, end, step, imp.base_name(node))


def _select(imp: ProgramImporter, node: fx.Node, x: SSAValue, axis: int, index: int,
            name: str) -> SSAValue:
    r = rank(x)
    axis = batch_axis_check(axis, r, "select")
    n = dims(x.type)[axis]
    index = index + n if index < 0 else index
    piece = _slice(imp, x, axis, index, index + 1, 1, name + "_slice")
    out = [d for i, d in enumerate(dims(x.type)) if i != axis]
    return imp.emit(ReshapeOp(piece, tensor(out, x.type.element_type)), name=name)


@handles(aten.select.int)
def _select_int(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    return _select(imp, node, a.act("self"), int(a["dim"]), int(a["index"]), imp.base_name(node))


@handles(aten.unbind.int)
def _unbind(imp: ProgramImporter, node: fx.Node, a: Args) -> tuple:
    x = a.act("self")
    axis = batch_axis_check(int(a["dim"]), rank(x), "unbind")
    n = dims(x.type)[axis]
    return tuple(_select(imp, node, x, axis, i, imp.base_name(node)) for i in range(n))


def _split_sizes(node: fx.Node, a: Args, n: int) -> list[int]:
    if node.target == aten.split_with_sizes.default:
        return [int(s) for s in a["split_sizes"]]
    if node.target == aten.chunk.default:
        each = -(-n // int(a["chunks"]))
    else:
        each = int(a["split_size"])
    return [min(each, n - i) for i in range(0, n, each)]


@handles(aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default)
def _split(imp: ProgramImporter, node: fx.Node, a: Args) -> tuple:
    x = a.act("self")
    axis = batch_axis_check(int(a["dim"]), rank(x), "split")
    sizes = _split_sizes(node, a, dims(x.type)[axis])
    pieces, start = [], 0
    for s in sizes:
        pieces.append(_slice(imp, x, axis, start, start + s, 1, imp.base_name(node)))
        start += s
    return tuple(pieces)


# --------------------------------------------------------------------------- resizing


@handles(aten.upsample_nearest1d.vec, aten.upsample_nearest2d.vec, aten.upsample_bilinear2d.vec)
def _upsample(imp: ProgramImporter, node: fx.Node, a: Args) -> SSAValue:
    """F.interpolate(mode="nearest" | "bilinear"), as in segmentation heads (digital)."""
    x = a.act("input")
    bilinear = node.target == aten.upsample_bilinear2d.vec
    scales = a["scale_factors"]
    op = InterpolateOp(x, "bilinear" if bilinear else "nearest",
                       bool(a["align_corners"]) if bilinear else False,
                       None if scales is None else [float(v) for v in scales], imp.type_of(node))
    return imp.emit(op, node)
