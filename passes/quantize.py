"""`quantize`: choose the integer representation of every analog layer (ann -> ann).

For each `ann.linear` / `ann.conv` it decides, following the integer contract
(DESIGN.md section 4):
- input: `in_bits` integers, unsigned when the calibrated input is never
  negative (after a ReLU, or image pixels), else two's complement; one scale per
  tensor, `max|x| / q_max` over the calibration inputs;
- weights: symmetric `w_bits` integers in `[−(2^(w_bits−1)−1), 2^(w_bits−1)−1]`,
  one scale per output channel (`per-channel`) or per tensor;
- output: the integer type and scale of the next analog layer's input when the
  output reaches exactly one analog layer through ReLU, max-pooling and
  reshapes (so integers pass between layers with no float step), else its own
  calibrated range.

The integer weight matrix `[K, N]` (a convolution's unfolded, block-diagonal
matrix) and the per-channel scales go into the store; the op gets a
`quant = #ann.quant<...>` attribute. The float IR is unchanged, so the `ann`
level still runs in float.

Options: `w-bits` (2..8, default 4), `in-bits` (2..16, default 8),
`per-channel` (default true), `calib` (a `.npy` of calibration inputs; default
the store's `calibration.input`, which the compiler fills with the example inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from anncc.errors import AnnccError
from anncc.ir._xdsl import Context, ModuleOp, ModulePass, Operation, SSAValue
from anncc.ir.ann import (
    ConvOp,
    LinearOp,
    MaxPoolOp,
    PermuteOp,
    QuantAttr,
    QuantParams,
    Relu6Op,
    ReluOp,
    ReshapeOp,
)
from anncc.passes._store import store_of
from anncc.passes._util import const_array, layer_name, weight_key, weight_matrix

CALIBRATION_KEY = "calibration.input"
#: Ops an integer tensor passes through unchanged in scale (max-pool and data movement).
TRANSPARENT_OPS = (MaxPoolOp, ReshapeOp, PermuteOp)
FUSABLE_ACTIVATIONS = (ReluOp, Relu6Op)


def qmax(bits: int, signed: bool) -> int:
    return (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1


def activation_params(x: torch.Tensor, bits: int) -> tuple[bool, float]:
    """(signed, scale) for an activation tensor from its calibrated values."""
    signed = bool((x < 0).any())
    peak = float(x.abs().max()) if x.numel() else 0.0
    return signed, max(peak, 1e-8) / qmax(bits, signed)


def quantize_weights(m: np.ndarray, w_bits: int, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric integer weights of a `[K, N]` matrix and their scales `[N]`."""
    q = qmax(w_bits, True)
    peak = np.abs(m).max(axis=0) if per_channel else np.full(m.shape[1], np.abs(m).max())
    scale = np.where(peak > 0, peak / q, 1.0).astype(np.float64)
    wq = np.clip(np.rint(m / scale), -q, q).astype(np.int8)
    return wq, scale


def single_user(value: SSAValue) -> Operation | None:
    uses = list(value.uses)
    return uses[0].operation if len(uses) == 1 else None


def fused_activation(op: Operation) -> Operation | None:
    """The ReLU/ReLU6 that is an analog op's only user (its requantization clamps instead)."""
    user = single_user(op.results[0])
    return user if isinstance(user, FUSABLE_ACTIVATIONS) else None


def fused_output(op: Operation) -> SSAValue:
    """The value an analog op's requantization produces: after a fusable activation if any."""
    act = fused_activation(op)
    return (act or op).results[0]


def analog_consumer(value: SSAValue) -> Operation | None:
    """The one analog layer `value` reaches through transparent ops, if there is exactly one."""
    while True:
        user = single_user(value)
        if isinstance(user, TRANSPARENT_OPS):
            value = user.results[0]
            continue
        if isinstance(user, (LinearOp, ConvOp)) and user.input == value:
            return user
        return None


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """Quantize every analog layer; see the module docstring for the options."""

    name = "quantize"
    w_bits: int = 4
    in_bits: int = 8
    per_channel: bool = True
    calib: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not 2 <= self.w_bits <= 8:
            raise AnnccError(f"quantize: w-bits must be in [2, 8], got {self.w_bits}")
        if not 2 <= self.in_bits <= 16:
            raise AnnccError(f"quantize: in-bits must be in [2, 16], got {self.in_bits}")
        store = store_of(op)
        values = self._calibrate(op, store)
        layers = [o for o in op.walk() if isinstance(o, (LinearOp, ConvOp))]
        for index, layer in enumerate(layers):
            self._quantize_layer(layer, index, values, store)

    def _calibrate(self, module: ModuleOp, store) -> dict:
        from anncc.runtime.interpreter import ExecContext, run_module

        if self.calib:
            try:
                calib = np.load(self.calib, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise AnnccError(f"quantize: cannot read calibration file {self.calib}: {e}") from None
        elif CALIBRATION_KEY in store:
            calib = np.asarray(store.get(CALIBRATION_KEY))
        else:
            raise AnnccError("quantize needs calibration inputs",
                             hint=f"give calib=FILE.npy or store them under '{CALIBRATION_KEY}'")
        values: dict = {}
        with torch.no_grad():
            run_module(module, store, [torch.as_tensor(np.asarray(calib, dtype=np.float32))],
                       ExecContext(store=store), values=values)
        return values

    def _quantize_layer(self, layer: LinearOp | ConvOp, index: int, values: dict, store) -> None:
        name = layer_name(layer, index)
        w = const_array(layer.weight, store)
        if w is None:
            raise AnnccError(f"quantize: layer '{name}' has a weight that is not a constant")
        in_signed, in_scale = activation_params(values[layer.input], self.in_bits)
        wq, wscale = quantize_weights(weight_matrix(layer, w.astype(np.float64)), self.w_bits,
                                      self.per_channel)
        out_value = fused_output(layer)
        consumer = analog_consumer(out_value)
        target = values[consumer.input] if consumer is not None else values[out_value]
        out_signed, out_scale = activation_params(target, self.in_bits)
        base = weight_key(layer, f"{name}.weight")
        qkey, skey = store.unique_key(f"{base}.q"), store.unique_key(f"{base}.wscale")
        qdig, sdig = store.add(qkey, wq), store.add(skey, wscale)
        layer.attributes["quant"] = QuantAttr.from_params(QuantParams(
            w_bits=self.w_bits, in_bits=self.in_bits, in_signed=in_signed, in_scale=in_scale,
            out_bits=self.in_bits, out_signed=out_signed, out_scale=out_scale,
            qweight=qkey, qweight_digest=qdig, wscale=skey, wscale_digest=sdig))
