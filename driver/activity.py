"""Input-bit activity measured on the calibration inputs, for the `estimate` pass.

    act, n = measure_input_activity(xbar_module, store, x, dac_bits=1)   # {layer: [a_0, a_1, ...]}
    set_input_activity(cell_module, act, samples=n, dac_bits=1)         # before `estimate`

An array's cell energy per read is `V_read² · t_read · Σ_i d_i² · G_i` over the
rows `i`, with `d_i` the row's DAC drive as a fraction of `V_read` (0 or 1 for
bit-serial inputs). Its mean over the calibration set, per input plane `t` of a
layer, is the layer's **input-bit activity** `a_t = mean(d²)`: for 1-bit DACs the
fraction of 1-bits in plane `t`. It is measured on the integer inputs each
analog layer (`xbar.mvm`) receives when the tiled `xbar` level runs on (at most
`MAX_SAMPLES` of) the calibration inputs, split into planes by the contract's
`input_planes`. The driver runs the model (the `estimate` pass imports no
runtime) and leaves the result as the module attribute `anncc.input_activity`;
without it `estimate` takes 0.5 per plane and says so in its assumptions.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from anncc.ir._xdsl import ModuleOp, StringAttr

#: The module attribute `estimate` reads (JSON: {"layers": {layer: [a_t, ...]}, "samples": n, ...}).
ACTIVITY_ATTR = "anncc.input_activity"
#: At most this many calibration inputs are run to measure the activity.
MAX_SAMPLES = 64
#: Inputs per interpreter run.
BATCH = 8
#: At most this many elements of one layer's input per batch are split into planes (a seeded
#: random subset beyond that: the activity is a mean, and a ResNet's unfolded inputs are large).
MAX_ELEMENTS = 1 << 18
#: The run stops adding calibration inputs past this many multiply-accumulates (at least one input).
MAC_BUDGET = 1 << 30


def measure_input_activity(xbar_module: ModuleOp, store: Any, inputs: Any, dac_bits: int,
                           max_samples: int = MAX_SAMPLES) -> tuple[dict[str, list[float]], int]:
    """Per analog layer, the mean squared DAC drive of each input plane (LSB plane first); inputs run.

    `xbar_module` is the tiled `xbar` level; `inputs` float model inputs, of which the
    first `max_samples` are run, fewer where they would exceed `MAC_BUDGET` multiply-
    accumulates (at least one). Layers are keyed by their `layer` attribute.
    """
    import torch

    from anncc.ir.contract import input_planes
    from anncc.ir.xbar import MvmOp, int_info
    from anncc.runtime.interpreter import ExecContext, run_module

    first: dict[str, Any] = {}
    macs = 0
    for op in xbar_module.walk():
        if isinstance(op, MvmOp):
            first.setdefault(op.layer.data, op)
            dims = [int(d) for d in op.input.type.get_shape()[1:-1]]
            macs += math.prod(d if d > 0 else 1 for d in dims) * op.bounds()[2] * op.bounds()[3]
    x = np.asarray(inputs, dtype=np.float32)[:max(1, min(max_samples, MAC_BUDGET // max(macs, 1)))]
    full = float((1 << dac_bits) - 1)
    gen = torch.Generator().manual_seed(0)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    with torch.no_grad():
        for start in range(0, len(x), BATCH):
            values: dict = {}
            run_module(xbar_module, store, [torch.from_numpy(x[start:start + BATCH])],
                       ExecContext(store=store), values=values, kernels={"xbar.mvm": _RowTileMvm()})
            for name, op in first.items():
                info = int_info(op.input.type)
                if info is None or op.input not in values:
                    continue
                bits, signed = info
                xq = values[op.input].reshape(-1)
                if xq.numel() > MAX_ELEMENTS:
                    xq = xq[torch.randint(xq.numel(), (MAX_ELEMENTS,), generator=gen)]
                planes, _ = input_planes(xq.to(torch.int64), bits, signed, dac_bits)
                s = ((planes.to(torch.float64) / full) ** 2).sum(dim=1).numpy()
                sums[name] = sums.get(name, 0.0) + s
                counts[name] = counts.get(name, 0) + int(xq.numel())
    activity = {name: [float(v) / counts[name] for v in sums[name]] for name in sums if counts[name]}
    return activity, len(x)


class _RowTileMvm:
    """`xbar.mvm` with one product per row tile: `x[..., rows] @ w[rows, :]`, sliced per column tile.

    The same exact partial sums as the `xbar.mvm` kernel, in one call per row tile
    instead of one per array (a ResNet-18 has ~18k arrays and ~700 row tiles).
    """

    def __init__(self) -> None:
        self.cache: dict[tuple[int, int, int, int], tuple[Any, Any, Any]] = {}

    def __call__(self, op: Any, args: Any, ctx: Any) -> Any:
        from anncc.ir.contract import accumulator_bound
        from anncc.ir.xbar import int_info
        from anncc.runtime.xbar_kernels import int_matmul

        x, w = args
        r0, c0, rows, cols = op.bounds()
        key = (id(x), id(w), r0, rows)
        hit = self.cache.get(key)
        if hit is None:
            in_bits, signed = int_info(op.input.type)
            bound = accumulator_bound(rows, in_bits, signed, op.w_bits.value.data)
            hit = self.cache[key] = (x, w, int_matmul(x[..., r0:r0 + rows], w[r0:r0 + rows], bound))
        return hit[2][..., c0:c0 + cols]


def set_input_activity(module: ModuleOp, activity: dict[str, list[float]], samples: int,
                       dac_bits: int) -> None:
    """Attach the measured activity to `module` for the `estimate` pass."""
    module.attributes[ACTIVITY_ATTR] = StringAttr(json.dumps(
        {"layers": activity, "samples": int(samples), "dac_bits": int(dac_bits),
         "source": f"measured on {samples} calibration inputs at the xbar level"}, sort_keys=True))


def attach_measured_activity(levels: dict[str, ModuleOp], module: ModuleOp, store: Any,
                             calibration: Any, dac_bits: int) -> None:
    """Measure on the `xbar` level in `levels` and attach to `module`; nothing without either."""
    xbar = levels.get("xbar")
    if xbar is None or calibration is None:
        return
    x = np.asarray(calibration, dtype=np.float32)
    if x.ndim == 0 or len(x) == 0:
        return
    activity, samples = measure_input_activity(xbar, store, x, dac_bits)
    if activity:
        set_input_activity(module, activity, samples, dac_bits)
