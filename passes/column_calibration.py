"""Per-column (per output channel) affine calibration folded into the requantization constants.

A layer's analog accumulator `a_j` (the input of its `xbar.requant`, after every
array of the layer is read and shift-added) deviates from the intended one
`acc_j` by what the devices do to column j: IR drop shrinks it, drift and
variation scale it, a reference column or an op-amp offsets it. A per-column
affine correction

    acc_j ≈ c_j · a_j + d_j                                   (gain c_j, offset d_j)

costs nothing in the periphery when it is folded into the per-channel
requantization that follows (`anncc.ir.contract.requantize`,
`y = clamp((((acc + b)·M + 2^(S−1)) >> S) + zp, lo, hi)`):

    (c·a + d + b)·M·2^−S = (a + (b + d)/c) · (c·M)·2^−S,

so the calibrated constants are

    b'_j = round((b_j + d_j) / c_j),      (M'_j, S'_j) = requant_multiplier(c_j · M_j · 2^−S_j),

with the multiplier re-derived at the channel's own multiplier width (its bit
length), so the product bound `requant_product_bound` stays within what `tile`
allowed (`product_bits` is raised if the new bias needs it, and a bias beyond
int32 or a product beyond int64 is an error naming the layer). Only the
constants change: the IR is the same ops, so the runtime's golden model
(`runtime/golden.py`), the RTL (`backends/verilog`, which reads the constants
from the IR) and the runtime's analog reads stay bit-exact with one another.
Rounding the bias adds at most half an accumulator LSB per channel; the
re-derived 31-bit multiplier is within 2^−30 of `c·M·2^−S`.

This module only folds given corrections into a `cell` module
(`fold_column_calibration`); fitting them from the runtime's analog outputs
is `anncc.runtime.column_calibration`. A correction is data
(`ColumnCorrection`), so a pass never imports the runtime.

Cost in the periphery: none (the requant already multiplies and adds per
channel). A polynomial correction is not built: it would need a second
multiplier per channel and an extra accumulator-width product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from anncc.errors import AnnccError
from anncc.ir.contract import INT64_MAX, requant_multiplier, requant_product_bound, signed_bits

#: int32 range of a requantization bias.
_I32 = (-(1 << 31), (1 << 31) - 1)


@dataclass(frozen=True)
class ColumnCorrection:
    """One layer's per-channel correction `acc ≈ gain · a + offset` (float arrays [C])."""

    gain: np.ndarray
    offset: np.ndarray

    def __post_init__(self) -> None:
        g = np.asarray(self.gain, dtype=np.float64).reshape(-1)
        o = np.asarray(self.offset, dtype=np.float64).reshape(-1)
        if g.shape != o.shape or not (np.all(np.isfinite(g)) and np.all(np.isfinite(o))):
            raise AnnccError("a column correction needs finite gain and offset of one length")
        if np.any(g <= 0):
            raise AnnccError("a column correction's gains must be > 0")
        object.__setattr__(self, "gain", g)
        object.__setattr__(self, "offset", o)


def calibrated_constants(bias: Any, mult: Any, shift: Any, corr: ColumnCorrection, layer: str = ""
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bias', M', S') int32 per channel from the layer's constants and its correction."""
    b = np.asarray(bias, dtype=np.int64).reshape(-1)
    m = np.asarray(mult, dtype=np.int64).reshape(-1)
    s = np.asarray(shift, dtype=np.int64).reshape(-1)
    n = b.size
    if not (m.size == n and s.size == n and corr.gain.size == n):
        raise AnnccError(f"column calibration of layer '{layer}': {corr.gain.size} corrections "
                         f"for {n} channels")
    nb = np.empty(n, dtype=np.int64)
    nm = np.empty(n, dtype=np.int64)
    ns = np.empty(n, dtype=np.int64)
    for j in range(n):
        c, d = float(corr.gain[j]), float(corr.offset[j])
        nb[j] = int(np.floor((b[j] + d) / c + 0.5))
        if int(m[j]) == 0:  # a dead channel stays dead
            nm[j], ns[j] = 0, int(s[j])
            continue
        real = c * int(m[j]) * 2.0 ** -int(s[j])
        bits = max(2, int(abs(int(m[j]))).bit_length())
        try:
            nm[j], ns[j] = requant_multiplier(real, bits)
        except ValueError as e:
            raise AnnccError(f"column calibration of layer '{layer}', channel {j}: {e}") from None
    if nb.min(initial=0) < _I32[0] or nb.max(initial=0) > _I32[1]:
        raise AnnccError(f"column calibration of layer '{layer}': a calibrated bias exceeds int32")
    return nb.astype(np.int32), nm.astype(np.int32), ns.astype(np.int32)


def fold_column_calibration(module: Any, store: Any, corrections: Mapping[str, ColumnCorrection]
                            ) -> dict[str, dict[str, Any]]:
    """Rewrite the `xbar.requant` constants of every layer in `corrections`, in place.

    `module` is a `cell` (or `xbar`) level module and `store` its weight store
    (new constants go into it, old ones that lose their last use are erased).
    Returns per layer the largest |change| of bias and of the real multiplier.
    An unknown layer name is an error.
    """
    from anncc.ir._xdsl import FuncOp, IntegerAttr, Operation
    from anncc.ir.xbar import ACC_BITS, RequantOp, int_type
    from anncc.passes._util import ConstantPool, const_array

    requants = {op.layer.data: op for op in module.walk() if isinstance(op, RequantOp)}
    unknown = sorted(set(corrections) - set(requants))
    if unknown:
        raise AnnccError(f"column calibration: no layer {', '.join(map(repr, unknown))}",
                         hint=f"layers: {', '.join(requants)}")
    out: dict[str, dict[str, Any]] = {}
    pools: dict[int, Any] = {}
    for layer, corr in corrections.items():
        rq = requants[layer]
        b, m, s = (const_array(v, store) for v in (rq.bias, rq.multiplier, rq.shift))
        if b is None or m is None or s is None:
            raise AnnccError(f"column calibration of layer '{layer}': its requant constants "
                             "are not constants")
        nb, nm, ns = calibrated_constants(b, m, s, corr, layer)
        acc_bound = 1 << (int(rq.acc_bits.value.data) - 1)
        bias_bound = int(np.abs(nb.astype(np.int64)).max(initial=0))
        product = max((requant_product_bound(acc_bound, bias_bound, int(mm), int(ss))
                       for mm, ss in zip(nm, ns)), default=0)
        if product > INT64_MAX:
            raise AnnccError(f"column calibration of layer '{layer}': requantization product "
                             f"{product} exceeds int64")
        fn = rq.parent_op()
        while fn is not None and not isinstance(fn, FuncOp):
            fn = fn.parent_op()
        if fn is None:
            raise AnnccError(f"column calibration of layer '{layer}': requant outside a function")
        pool = pools.setdefault(id(fn), ConstantPool(store, fn.body.block))
        old = list(rq.operands)
        si32 = int_type(ACC_BITS, True)
        new = [pool.get(arr, si32, f"{layer}.{what}.calibrated")
               for what, arr in (("bias_q", nb), ("multiplier", nm), ("shift", ns))]
        rq.operands = [old[0], *new]
        # xbar.requant's product_bits bounds the RTL's register; keep it >= what it must hold
        bits = max(int(rq.product_bits.value.data), signed_bits(product))
        rq.product_bits = IntegerAttr(bits, rq.product_bits.type)
        for v in old[1:]:
            owner = v.owner
            if not v.uses and isinstance(owner, Operation):
                owner.detach()
                owner.erase()
        real_old = m.astype(np.float64) * np.exp2(-s.astype(np.float64))
        real_new = nm.astype(np.float64) * np.exp2(-ns.astype(np.float64))
        out[layer] = {"max_bias_change": int(np.abs(nb.astype(np.int64) - b.astype(np.int64)).max()),
                      "max_multiplier_ratio": float(np.max(np.abs(real_new / np.where(
                          real_old == 0, 1.0, real_old) - 1.0), initial=0.0)),
                      "product_bits": bits}
    return out


__all__ = ["ColumnCorrection", "calibrated_constants", "fold_column_calibration"]
