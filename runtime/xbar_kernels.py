"""Executable semantics of the `xbar` dialect: the integer contract, exactly.

Integer tensors are `torch.int64`. Matrix products run in float64, which is
exact while every partial sum stays below 2^53 (a 4096-row tile of 8-bit inputs
and 8-bit weights reaches 2^28). Requantization follows gemmlowp: products in
int64, a rounding term `2^(S−1)`, an arithmetic shift.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from anncc.ir.ann import ints_of
from anncc.ir.contract import accumulator_bound, requantize
from anncc.ir.xbar import int_info, int_range
from anncc.runtime.interpreter import kernel


def _int_bounds(t) -> tuple[int, int]:
    info = int_info(t)
    assert info is not None
    return int_range(*info)


@kernel("xbar.quantize")
def quantize(op, args, ctx):
    lo, hi = _int_bounds(op.result.type)
    q = torch.round(args[0].double() / op.scale.value.data)  # half to even, as numpy's rint
    return q.clamp(lo, hi).to(torch.int64)


@kernel("xbar.dequantize")
def dequantize(op, args, ctx):
    return (args[0].double() * op.scale.value.data).to(ctx.dtype)


def unfold_int(x: torch.Tensor, kernel_size, stride, padding, dilation) -> torch.Tensor:
    """im2col: [B, C, *S] -> [B, L, C·∏k], rows (channel, ky, kx), exact on integers."""
    if len(kernel_size) == 1:  # 1-d as 2-d with a unit height
        x = x.unsqueeze(2)
        kernel_size, stride = [1, *kernel_size], [1, *stride]
        padding, dilation = [0, *padding], [1, *dilation]
    # float32 holds activation integers (at most 16 bits) exactly
    cols = F.unfold(x.float(), kernel_size, dilation=dilation, padding=padding, stride=stride)
    return cols.transpose(1, 2).round().to(torch.int64)


@kernel("xbar.unfold")
def unfold(op, args, ctx):
    return unfold_int(args[0], ints_of(op.kernel), ints_of(op.stride), ints_of(op.padding),
                      ints_of(op.dilation))


FLOAT32_EXACT = 1 << 24  # every integer of magnitude up to 2^24 is a float32


def int_matmul(x: torch.Tensor, w: torch.Tensor, bound: int | None = None) -> torch.Tensor:
    """Exact integer product through floating point.

    `bound` is an upper bound on every |partial sum| (and on |x|, |w|); below
    2^24 float32 holds every intermediate exactly and is several times faster,
    else float64 (exact below 2^53).
    """
    dt = exact_float_dtype(bound)
    return torch.matmul(x.to(dt), w.to(dt)).round().to(torch.int64)


def exact_float_dtype(bound: int | None) -> torch.dtype:
    """float32 when every integer up to `bound` is one (below 2^24), else float64."""
    return torch.float32 if bound is not None and bound < FLOAT32_EXACT else torch.float64


@kernel("xbar.mvm")
def mvm(op, args, ctx):
    x, w = args
    r0, c0, rows, cols = op.bounds()
    in_bits, signed = int_info(op.input.type)
    return int_matmul(x[..., r0:r0 + rows], w[r0:r0 + rows, c0:c0 + cols],
                      accumulator_bound(rows, in_bits, signed, op.w_bits.value.data))


@kernel("xbar.accumulate")
def accumulate(op, args, ctx):
    out = args[0]
    for p in args[1:]:
        out = out + p
    return out


@kernel("xbar.concat")
def concat(op, args, ctx):
    return torch.cat(args, dim=-1)


@kernel("xbar.requant")
def requant(op, args, ctx):
    acc, bias, mult, shift = args
    return requantize(acc, bias, mult, shift, op.zero_point.value.data, op.lo.value.data,
                      op.hi.value.data)
