"""The cost of the ops that stay digital: float ops between `xbar.dequantize` and `xbar.quantize`.

Softmax, layer norm, attention's activation×activation matmuls, GELU/SiLU/Mish,
hard activations, elementwise adds and products (residuals, squeeze-excitation,
layer scale), pooling averages, interpolation and the (de)quantizations around
them do not run on the arrays. `digital_op_costs` counts, per op kind, the float
multiplies and adds of one inference (batch 1) and prices them with fp32
energies; the `estimate` pass stores the result under `digital_ops`, separate from
the array layers' costs (which keep their integer shift-add and requantize energy).

Counting conventions (an estimate, not a synthesis result):
- an exponential, tanh, erf, reciprocal or square root costs `TRANSCENDENTAL`
  (a range reduction plus a degree-4 polynomial: 5 multiplies and 5 adds);
- comparisons (ReLU, clamps, max pooling) count as adds;
- data movement (reshape, permute, slice, concat, broadcast) costs no arithmetic.

Energies: fp32 add 0.9 pJ, fp32 multiply 3.7 pJ at 45 nm, M. Horowitz, "Computing's
energy problem (and what we can do about it)", ISSCC 2014, DOI 10.1109/ISSCC.2014.6757323.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from anncc.ir._xdsl import ModuleOp, Operation
from anncc.ir.shapes import dims

FP32_ADD_J = 0.9e-12
FP32_MUL_J = 3.7e-12
TRANSCENDENTAL = (5, 5)  # (multiplies, adds) of one exp / tanh / erf / reciprocal / sqrt

# (multiplies, adds) per output element of elementwise ops
_T_MUL, _T_ADD = TRANSCENDENTAL
PER_ELEMENT: dict[str, tuple[int, int]] = {
    "ann.add": (0, 1), "ann.add_scalar": (0, 1), "ann.mul": (1, 0), "ann.mul_scalar": (1, 0),
    "ann.relu": (0, 1), "ann.relu6": (0, 2), "ann.clamp": (0, 2), "ann.leaky_relu": (1, 1),
    "ann.hardsigmoid": (1, 3), "ann.hardswish": (2, 3),
    "ann.sigmoid": (_T_MUL + 1, _T_ADD + 1), "ann.tanh": (_T_MUL, _T_ADD),
    "ann.silu": (_T_MUL + 2, _T_ADD + 1), "ann.gelu": (_T_MUL + 3, _T_ADD + 1),
    "ann.mish": (2 * _T_MUL + 1, 2 * _T_ADD + 1),
    # softmax: exp, sum, one reciprocal per row (counted per element), scale
    "ann.softmax": (_T_MUL + 1, _T_ADD + 1),
    # layer norm: mean, variance, normalize, affine (the row's rsqrt counted per element)
    "ann.layer_norm": (3, 4), "ann.batchnorm": (1, 1),
    "xbar.quantize": (1, 2), "xbar.dequantize": (1, 0),
}
MOVEMENT = {"ann.reshape", "ann.permute", "ann.slice", "ann.concat", "ann.batch_broadcast",
            "ann.weight", "ann.constant", "ann.interpolate"}


def _numel(value: Any) -> int:
    return math.prod(d or 1 for d in dims(value.type)[1:])


def op_counts(op: Operation) -> tuple[int, int] | None:
    """(multiplies, adds) of one digital float op for one inference, or None if not digital."""
    name = op.name
    if name in PER_ELEMENT:
        m, a = PER_ELEMENT[name]
        n = _numel(op.results[0])
        return m * n, a * n
    if name == "ann.matmul":
        k = dims(op.operands[0].type)[-1] or 1
        n = _numel(op.results[0])
        return n * k, n * (k - 1)
    if name in ("ann.mean", "ann.avgpool", "ann.adaptive_avgpool"):
        return _numel(op.results[0]), _numel(op.operands[0])
    if name == "ann.maxpool":
        return 0, _numel(op.operands[0])
    if name == "ann.interpolate":
        n = _numel(op.results[0])
        return (4 * n, 3 * n) if op.mode.data == "bilinear" else (0, 0)  # type: ignore[attr-defined]
    if name in MOVEMENT:
        return None
    return None


def digital_op_costs(module: ModuleOp) -> dict[str, Any]:
    """Per op kind: count, multiplies, adds and energy of one inference; and their totals."""
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for op in module.walk():
        counts = op_counts(op)
        if counts is None:
            continue
        m, a = counts
        k = kinds[op.name]
        k["ops"] += 1
        k["multiplies"] += m
        k["adds"] += a
        k["energy_j"] += m * FP32_MUL_J + a * FP32_ADD_J
    total = {key: sum(k[key] for k in kinds.values()) for key in ("ops", "multiplies", "adds", "energy_j")}
    return {"per_op": {name: dict(v) for name, v in sorted(kinds.items())}, "total": total,
            "energies": {"fp32_add_j": FP32_ADD_J, "fp32_mul_j": FP32_MUL_J,
                         "source": "Horowitz, ISSCC 2014, DOI 10.1109/ISSCC.2014.6757323"}}
