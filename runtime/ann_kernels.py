"""Executable float semantics of the `ann` dialect: one torch call per op.

Each kernel calls the same torch function PyTorch's eager model uses, so an
`ann` run reproduces the model (the golden reference every lower level is
checked against). Batch sizes are free: kernels read shapes from the tensors,
never from the IR's dynamic batch dimension.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from anncc.ir._xdsl import Operation
from anncc.ir.ann import ConstantOp, ints_of
from anncc.ir.shapes import dims
from anncc.runtime.interpreter import ExecContext, kernel

Tensor = torch.Tensor


def _f(attr: Any) -> float:
    return float(attr.value.data)


def _i(attr: Any) -> int:
    return int(attr.value.data)


# --------------------------------------------------------------------------- constants


@kernel("ann.weight")
def weight(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return ctx.weight(op).to(ctx.dtype)


@kernel("ann.constant")
def constant(op: ConstantOp, args: list[Tensor], ctx: ExecContext) -> Tensor:
    key = ("ann.constant", op)
    if key not in ctx.cache:
        ctx.cache[key] = torch.from_numpy(op.to_numpy())
    value = ctx.cache[key]
    return value.to(ctx.dtype) if value.is_floating_point() else value


# --------------------------------------------------------------------------- analog layers


@kernel("ann.linear")
def linear(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x, w, b = args
    return F.linear(x, w, b)


@kernel("ann.conv")
def conv(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x, w, b = args
    fn = F.conv1d if w.dim() == 3 else F.conv2d
    return fn(x, w, b, stride=ints_of(op.stride), padding=ints_of(op.padding),
              dilation=ints_of(op.dilation), groups=_i(op.groups))


# --------------------------------------------------------------------------- elementwise


def _unary(fn: Any) -> Any:
    return lambda op, args, ctx: fn(args[0])


for _name, _fn in (("ann.relu", torch.relu), ("ann.relu6", F.relu6),
                   ("ann.sigmoid", torch.sigmoid), ("ann.tanh", torch.tanh),
                   ("ann.hardswish", F.hardswish)):
    kernel(_name)(_unary(_fn))


@kernel("ann.gelu")
def gelu(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return F.gelu(args[0], approximate=op.approximate.data)


@kernel("ann.leaky_relu")
def leaky_relu(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return F.leaky_relu(args[0], _f(op.negative_slope))


@kernel("ann.mul_scalar")
def mul_scalar(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return args[0] * _f(op.value)


@kernel("ann.add_scalar")
def add_scalar(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return args[0] + _f(op.value)


@kernel("ann.add")
def add(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return args[0] + args[1]


@kernel("ann.mul")
def mul(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return args[0] * args[1]


# --------------------------------------------------------------------------- pooling


@kernel("ann.maxpool")
def maxpool(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    k = ints_of(op.kernel)
    fn = F.max_pool1d if len(k) == 1 else F.max_pool2d
    return fn(args[0], k, ints_of(op.stride), ints_of(op.padding),
              ceil_mode=bool(_i(op.ceil_mode)))


@kernel("ann.avgpool")
def avgpool(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    k = ints_of(op.kernel)
    fn = F.avg_pool1d if len(k) == 1 else F.avg_pool2d
    return fn(args[0], k, ints_of(op.stride), ints_of(op.padding),
              ceil_mode=bool(_i(op.ceil_mode)), count_include_pad=bool(_i(op.count_include_pad)))


@kernel("ann.adaptive_avgpool")
def adaptive_avgpool(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    size = ints_of(op.output_size)
    fn = F.adaptive_avg_pool1d if len(size) == 1 else F.adaptive_avg_pool2d
    return fn(args[0], size)


@kernel("ann.mean")
def mean(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return args[0].mean(dim=ints_of(op.axes), keepdim=bool(_i(op.keepdim)))


# --------------------------------------------------------------------------- data movement


@kernel("ann.reshape")
def reshape(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x = args[0]
    return x.reshape([x.shape[0], *dims(op.result.type)[1:]])


@kernel("ann.permute")
def permute(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return args[0].permute(ints_of(op.perm))


@kernel("ann.concat")
def concat(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return torch.cat(args, dim=_i(op.axis))


@kernel("ann.slice")
def slice_(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    index = [slice(None)] * args[0].dim()
    index[_i(op.axis)] = slice(_i(op.start), _i(op.end), _i(op.step))
    return args[0][tuple(index)]


# --------------------------------------------------------------------------- normalization


@kernel("ann.batchnorm")
def batchnorm(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x, m, v, g, b = args
    return F.batch_norm(x, m, v, g, b, training=False, eps=_f(op.eps))


@kernel("ann.layer_norm")
def layer_norm(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x, w, b = args
    return F.layer_norm(x, list(w.shape), w, b, eps=_f(op.eps))


@kernel("ann.softmax")
def softmax(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return torch.softmax(args[0], dim=_i(op.axis))


@kernel("ann.matmul")
def matmul(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    return torch.matmul(args[0], args[1])


# --------------------------------------------------------------------------- model-zoo ops (issue 13)


for _name, _fn in (("ann.hardsigmoid", F.hardsigmoid), ("ann.silu", F.silu), ("ann.mish", F.mish)):
    kernel(_name)(_unary(_fn))


@kernel("ann.clamp")
def clamp(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    lo = None if op.min is None else _f(op.min)
    hi = None if op.max is None else _f(op.max)
    return torch.clamp(args[0], lo, hi)


@kernel("ann.batch_broadcast")
def batch_broadcast(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x, like = args
    return x.expand(like.shape[0], *x.shape[1:])


@kernel("ann.interpolate")
def interpolate(op: Operation, args: list[Tensor], ctx: ExecContext) -> Tensor:
    x = args[0]
    scales = None if op.scales is None else [float(s) for s in op.scales.get_values()]
    size = None if scales is not None else list(dims(op.result.type)[2:])
    aten = torch.ops.aten
    if op.mode.data == "bilinear":
        return aten.upsample_bilinear2d.vec(x, size, bool(_i(op.align_corners)), scales)
    fn = aten.upsample_nearest1d.vec if x.dim() == 3 else aten.upsample_nearest2d.vec
    return fn(x, size, scales)
