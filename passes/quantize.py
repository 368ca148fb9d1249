"""`quantize`: choose the integer representation of every analog layer (ann -> ann).

For each `ann.linear` / `ann.conv` it decides, following the integer contract
(DESIGN.md section 4), which it leaves unchanged (only the scales, clips and
bias are chosen here):
- input: `in_bits` integers, unsigned when the calibrated input is never
  negative (after a ReLU, or image pixels), else two's complement; one scale per
  tensor, `clip / q_max`, the clip chosen from the calibration histogram by
  `act-range` (`mse`, `percentile` or `minmax`);
- weights: symmetric `w_bits` integers in `[−(2^(w_bits−1)−1), 2^(w_bits−1)−1]`,
  one scale per output channel (`per-channel`) or per tensor; the clip is the
  ratio of max|w| that minimizes the quantization error weighted by the input's
  mean square (`weight-clip=mse`) or max|w| (`weight-clip=minmax`);
- bias (`bias-correct`, default off: measured to cost accuracy, docs/quantization.md):
  the float bias plus `E[x]·(W − Ŵ)`, which
  cancels the mean output shift of the weight rounding on the calibration set;
- output: the integer type and scale of the next analog layer's input when the
  output reaches exactly one analog layer through ReLU, max-pooling and
  reshapes (so integers pass between layers with no float step), else its own
  calibrated range.

The integer weight matrix `[K, N]` (a convolution's unfolded, block-diagonal
matrix) and the per-channel scales go into the store; the op gets a
`quant = #ann.quant<...>` attribute. With bias correction the layer's bias
operand becomes an `ann.weight` `<name>.bias.corrected` (what `tile` turns into
`bias_q`) and the float bias stays in the store under the op's `float_bias`
attribute; the driver's `ann` level uses the float bias again
(`restore_float_bias`), so it runs the float model.

The pass never runs the model: calibration statistics reach it as data in the
store (`passes/_calibration.py`), put there by the driver (`anncc.calibration`,
before `quantize` in `anncc.compile` and in `anncc-opt`).

Options: `w-bits` (2..8, default 4), `in-bits` (2..16, default 8),
`per-channel` (default true), `w-bits-per-layer` (`name=bits,...`, overriding
`w-bits` for the named layers), `weight-clip` (`mse`|`minmax`), `act-range`
(`mse`|`percentile`|`minmax`), `percentile` (default 99.99), `bias-correct`
(default false), `rounding` (`nearest`, or `gptq`: data-driven rounding at the
chosen scales, Frantar et al., arXiv:2210.17323, from the second moment of
each layer's calibration inputs), `calib` (a `.npy`/`.npz` of calibration inputs that the driver
runs before this pass; default the store's `calibration.input`, which the
compiler fills with the calibration set or the example inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

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
)
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
    WeightOp,
)
from anncc.passes._calibration import (
    ROUNDINGS,
    LayerCalibration,
    bias_correction,
    choose_range,
    gptq_round,
    minmax_scales,
    parse_bits_per_layer,
    qmax,
    quantize_with_scale,
    search_weight_clip,
)
from anncc.passes._store import store_of
from anncc.passes._util import LayerNamer, const_array, groups_of, weight_key, weight_matrix

CALIBRATION_KEY = "calibration.input"
#: The op attribute naming the store key of a bias-corrected layer's float bias.
FLOAT_BIAS_ATTR = "float_bias"
#: Ops an integer tensor passes through unchanged in scale (max-pool and data movement).
TRANSPARENT_OPS = (MaxPoolOp, ReshapeOp, PermuteOp)
FUSABLE_ACTIVATIONS = (ReluOp, Relu6Op)
WEIGHT_CLIPS = ("mse", "minmax")

__all__ = ["CALIBRATION_KEY", "FLOAT_BIAS_ATTR", "QuantizePass", "analog_layers", "fused_activation",
           "fused_output", "qmax", "quantize_weights", "restore_float_bias"]


def quantize_weights(m: np.ndarray, w_bits: int, per_channel: bool, clip: str = "minmax",
                     row_weight: np.ndarray | None = None, groups: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric integer weights of a `[K, N]` matrix and their scales `[N]`.

    `groups`: the matrix is block-diagonal (`weight_matrix` of a grouped convolution), and a
    per-channel clip search runs on each column's own rows only (its block, stacked side by side
    with the other groups' blocks). The rows left out are zeros, which round to zero and add
    exactly 0.0 to the column's error sum, taken row by row in the same order, so the scales are
    the same bit for bit; a depthwise convolution of C channels is searched over C times fewer
    weights (ConvNeXt-T-scale: its 7x7 depthwise layers were most of `quantize`'s 20.7 s).
    """
    if clip == "mse" and per_channel and groups > 1:
        k, n = m.shape
        rk, cn = k // groups, n // groups
        # each column's own rows, in their order: [rk, n], and their row weights alike
        compact = np.concatenate([m[g * rk:(g + 1) * rk, g * cn:(g + 1) * cn] for g in range(groups)],
                                 axis=1)
        rw = None if row_weight is None else np.repeat(row_weight.reshape(groups, rk).T, cn, axis=1)
        scale = search_weight_clip(compact, w_bits, True, rw)
    elif clip == "mse":
        scale = search_weight_clip(m, w_bits, per_channel, row_weight)
    else:
        scale = minmax_scales(m, w_bits, per_channel)
    return quantize_with_scale(m, scale, w_bits).astype(np.int8), scale


def analog_layers(module: ModuleOp) -> list[tuple[int, str, LinearOp | ConvOp]]:
    """(index, unique name, op) of every analog layer, in the order calibration and quantize share."""
    namer = LayerNamer()
    layers = [o for o in module.walk() if isinstance(o, (LinearOp, ConvOp))]
    return [(i, namer(o, i), o) for i, o in enumerate(layers)]


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
    w_bits_per_layer: str = ""
    weight_clip: str = "mse"
    act_range: str = "mse"
    percentile: float = 99.99
    bias_correct: bool = False
    rounding: str = "nearest"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not 2 <= self.w_bits <= 8:
            raise AnnccError(f"quantize: w-bits must be in [2, 8], got {self.w_bits}")
        if not 2 <= self.in_bits <= 16:
            raise AnnccError(f"quantize: in-bits must be in [2, 16], got {self.in_bits}")
        if self.weight_clip not in WEIGHT_CLIPS:
            raise AnnccError(f"quantize: unknown weight-clip '{self.weight_clip}'",
                             hint=f"one of {', '.join(WEIGHT_CLIPS)}")
        if self.rounding not in ROUNDINGS:
            raise AnnccError(f"quantize: unknown rounding '{self.rounding}'",
                             hint=f"one of {', '.join(ROUNDINGS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise AnnccError(f"quantize: percentile must be in (50, 100], got {self.percentile}")
        store = store_of(op)
        layers = analog_layers(op)
        per_layer = parse_bits_per_layer(self.w_bits_per_layer)
        unknown = sorted(set(per_layer) - {name for _, name, _ in layers})
        if unknown:
            raise AnnccError(f"quantize: w-bits-per-layer names unknown layer(s) {', '.join(unknown)}",
                             hint=f"layers: {', '.join(name for _, name, _ in layers)}")
        calib, names = {}, {layer: name for _, name, layer in layers}
        for index, name, layer in layers:
            c = LayerCalibration.load(store, index, name)
            if c is None:
                raise AnnccError(
                    f"quantize: no calibration statistics for layer '{name}'",
                    hint="the driver computes them (anncc.compile, anncc-opt with calib=FILE or the "
                         f"store's '{CALIBRATION_KEY}'); see anncc.calibration.calibrate")
            calib[layer] = c
        for _index, name, layer in layers:
            self._quantize_layer(layer, name, per_layer.get(name, self.w_bits), calib, names, store)

    def _range(self, stats, layer: str, what: str) -> tuple[bool, float]:
        clip = choose_range(stats, self.in_bits, self.act_range, self.percentile, layer, what)
        return stats.signed, clip / qmax(self.in_bits, stats.signed)

    def _quantize_layer(self, layer: LinearOp | ConvOp, name: str, w_bits: int,
                        calib: dict, names: dict, store) -> None:
        c = calib[layer]
        w = const_array(layer.weight, store)
        if w is None:
            raise AnnccError(f"quantize: layer '{name}' has a weight that is not a constant")
        in_signed, in_scale = self._range(c.inp, name, "input")
        m = weight_matrix(layer, w.astype(np.float64))
        if c.in_sq.shape != (m.shape[0],):
            raise AnnccError(f"quantize: calibration statistics of layer '{name}' do not match "
                             f"its {m.shape[0]} inputs; recalibrate")
        wq, wscale = quantize_weights(m, w_bits, self.per_channel, self.weight_clip, c.in_sq,
                                      groups_of(layer))
        if self.rounding == "gptq":
            if c.in_xx is None:
                raise AnnccError(f"quantize: rounding=gptq needs the input second moments of layer "
                                 f"'{name}'", hint="calibrate with anncc.calibration.calibrate(..., "
                                 "hessian=True) (anncc.compile does when rounding='gptq')")
            wq = gptq_round(m, wscale, w_bits, c.in_xx, groups_of(layer)).astype(np.int8)
        out_value = fused_output(layer)
        consumer = analog_consumer(out_value)
        if consumer is not None:
            out_signed, out_scale = self._range(calib[consumer].inp, names[consumer], "input")
        else:
            out_signed, out_scale = self._range(c.out, name, "output")
        base = weight_key(layer, f"{name}.weight")
        qkey, skey = store.unique_key(f"{base}.q"), store.unique_key(f"{base}.wscale")
        qdig, sdig = store.add(qkey, wq), store.add(skey, wscale)
        layer.attributes["quant"] = QuantAttr.from_params(QuantParams(
            w_bits=w_bits, in_bits=self.in_bits, in_signed=in_signed, in_scale=in_scale,
            out_bits=self.in_bits, out_signed=out_signed, out_scale=out_scale,
            qweight=qkey, qweight_digest=qdig, wscale=skey, wscale_digest=sdig))
        bias = self._correct_bias(layer, name, m, wq * wscale, c, store) if self.bias_correct \
            else _float_bias(layer, name, store)
        check_bias_range(bias, in_scale * wscale, name)

    def _correct_bias(self, layer, name: str, m: np.ndarray, m_hat: np.ndarray,
                      c: LayerCalibration, store) -> np.ndarray:
        bias = _float_bias(layer, name, store)
        corrected = bias + bias_correction(m, m_hat, c.in_mean)
        fkey = store.unique_key(f"{name}.bias.float")
        store.add(fkey, bias.astype(np.float32))
        ckey = store.unique_key(f"{name}.bias.corrected")
        _set_bias(layer, ckey, store.add(ckey, corrected.astype(np.float32)))
        layer.attributes[FLOAT_BIAS_ATTR] = StringAttr(fkey)
        return corrected


def _float_bias(layer: LinearOp | ConvOp, name: str, store) -> np.ndarray:
    bias = const_array(layer.bias, store)
    if bias is None:
        raise AnnccError(f"quantize: layer '{name}' has a bias that is not a constant")
    return bias.astype(np.float64)


#: The largest |bias_q| (int32, DESIGN.md section 4).
BIAS_Q_MAX = 2**31 - 1


def check_bias_range(bias: np.ndarray, eff_scale: np.ndarray, layer: str) -> None:
    """Refuse a bias that its accumulator scale `s_x·s_w` cannot hold in int32 (it would saturate)."""
    need = np.abs(bias) / eff_scale
    worst = int(np.argmax(need)) if need.size else 0
    if need.size and not need[worst] <= BIAS_Q_MAX:
        raise AnnccError(
            f"quantize: layer '{layer}': bias {bias[worst]:.3g} of output {worst} is "
            f"{need[worst]:.3g} accumulator steps (s_x·s_w = {eff_scale[worst]:.3g}), beyond int32",
            hint="the layer's inputs or weights are degenerate (tiny) next to its bias")


def _set_bias(layer: LinearOp | ConvOp, key: str, digest: str) -> None:
    w = WeightOp(key, digest, layer.bias.type)
    hint = layer.results[0].name_hint
    w.results[0].name_hint = f"{hint}_bias" if hint else None
    Rewriter().insert_op(w, InsertPoint.before(layer))
    layer.operands = [layer.input, layer.weight, w.results[0]]


def restore_float_bias(module: ModuleOp) -> None:
    """Give every bias-corrected layer its float bias again (the float `ann` level runs the model)."""
    store = store_of(module)
    for layer in [o for o in module.walk() if isinstance(o, (LinearOp, ConvOp))]:
        attr = layer.attributes.get(FLOAT_BIAS_ATTR)
        if isinstance(attr, StringAttr):
            _set_bias(layer, attr.data, store.digest(attr.data))
            del layer.attributes[FLOAT_BIAS_ATTR]
