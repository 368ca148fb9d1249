"""Input-bit activity measured on the calibration inputs, for the `estimate` pass.

    act = measure_input_activity(xbar_module, store, x, dac_bits=1)   # {layer: [a_0, a_1, ...]}
    set_input_activity(cell_module, act, samples=len(x))             # before `estimate`

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
from typing import Any

import numpy as np

from anncc.ir._xdsl import ModuleOp, StringAttr

#: The module attribute `estimate` reads (JSON: {"layers": {layer: [a_t, ...]}, "samples": n, ...}).
ACTIVITY_ATTR = "anncc.input_activity"
#: At most this many calibration inputs are run to measure the activity.
MAX_SAMPLES = 64
#: Inputs per interpreter run.
BATCH = 32
#: Input elements split into planes at a time.
CHUNK = 1 << 20


def measure_input_activity(xbar_module: ModuleOp, store: Any, inputs: Any, dac_bits: int,
                           max_samples: int = MAX_SAMPLES) -> dict[str, list[float]]:
    """Per analog layer, the mean squared DAC drive of each input plane (LSB plane first).

    `xbar_module` is the tiled `xbar` level; `inputs` float model inputs (the first
    `max_samples` are used). Layers are keyed by their `layer` attribute.
    """
    import torch

    from anncc.ir.contract import input_planes
    from anncc.ir.xbar import MvmOp, int_info
    from anncc.runtime.interpreter import ExecContext, run_module

    x = np.asarray(inputs, dtype=np.float32)[:max_samples]
    first: dict[str, Any] = {}
    for op in xbar_module.walk():
        if isinstance(op, MvmOp) and op.layer.data not in first:
            first[op.layer.data] = op
    full = float((1 << dac_bits) - 1)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    with torch.no_grad():
        for start in range(0, len(x), BATCH):
            values: dict = {}
            run_module(xbar_module, store, [torch.from_numpy(x[start:start + BATCH])],
                       ExecContext(store=store), values=values)
            for name, op in first.items():
                info = int_info(op.input.type)
                if info is None or op.input not in values:
                    continue
                bits, signed = info
                xq = values[op.input].to(torch.int64).reshape(-1)
                for lo in range(0, xq.numel(), CHUNK):  # [planes, chunk] at a time, not [planes, all]
                    planes, _ = input_planes(xq[lo:lo + CHUNK], bits, signed, dac_bits)
                    s = ((planes.to(torch.float64) / full) ** 2).sum(dim=1).numpy()
                    sums[name] = sums.get(name, 0.0) + s
                counts[name] = counts.get(name, 0) + int(xq.numel())
    return {name: [float(v) / counts[name] for v in sums[name]] for name in sums if counts[name]}


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
    activity = measure_input_activity(xbar, store, x, dac_bits)
    if activity:
        set_input_activity(module, activity, min(len(x), MAX_SAMPLES), dac_bits)
