"""Calibration in the driver: run the model on calibration inputs, hand `quantize` the statistics.

    x = load_calibration("calib.npz")          # .npy, or .npz with 'x' (or one array)
    calibrate(module, store, x)                # before the `quantize` pass

`quantize` (a pass) never runs the model; the driver does it here with the
runtime's interpreter and leaves one `LayerCalibration` per analog layer in the
weight store (`anncc.passes._calibration`), so `passes/` does not import
`runtime/`. `anncc.compile` calls `calibrate` right before `quantize` (on the
module as `quantize` sees it, after `fold-batchnorm`); `anncc-opt` does the
same for a `quantize{calib=FILE}` in its pipeline.

Fewer than `MIN_SAMPLES` calibration inputs give a warning: activation ranges
from one example input (the old default) clip most other inputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from anncc.errors import AnnccError

#: Calibration sets smaller than this draw a warning.
MIN_SAMPLES = 32
#: Inputs per interpreter run during calibration.
BATCH = 128
#: At most this many values of one activation per batch go into its histogram (its max always does).
SUBSAMPLE = 1 << 20


class CalibrationWarning(UserWarning):
    """A calibration set that is likely too small to choose activation ranges from."""


def load_calibration(path: str | Path) -> np.ndarray:
    """Calibration inputs from `.npy` or `.npz` (array 'x', 'calib', 'inputs' or the only array).

    Read through `anncc.inputs.read_calibration`, the one place where user files enter
    (allow-listed dtypes, sizes checked before reading, finite values).
    """
    from anncc.inputs import read_calibration

    return read_calibration(str(path), None)


def check_sample_count(x: np.ndarray, source: str) -> None:
    """Warn when fewer than `MIN_SAMPLES` calibration inputs are used."""
    n = int(x.shape[0]) if x.ndim else 1
    if n < MIN_SAMPLES:
        warnings.warn(f"calibrating on {n} input{'s' * (n != 1)} ({source}); activation ranges "
                      f"need at least {MIN_SAMPLES}: pass calib= / --calib FILE.npy|.npz",
                      CalibrationWarning, stacklevel=3)


def calibrate(module: Any, store: Any, inputs: Any, batch: int = BATCH, hessian: bool = False) -> None:
    """Run `module` on `inputs` and store each analog layer's `LayerCalibration` for `quantize`.

    `hessian`: also record `E[x xᵀ]` of each layer's matrix input per group (for `rounding=gptq`).
    """
    import torch

    from anncc.passes._calibration import LayerCalibration, RangeStats
    from anncc.passes.quantize import analog_layers, fused_output
    from anncc.runtime.interpreter import ExecContext, run_module

    x = np.asarray(inputs, dtype=np.float32)
    layers = analog_layers(module)
    name_of = {i: name for i, name, _ in layers}
    acc: dict[int, dict[str, Any]] = {i: {"in": [], "out": [], "sum": 0.0, "sq": 0.0, "n": 0, "xx": 0.0}
                                      for i, _, _ in layers}
    with torch.no_grad():
        for start in range(0, max(len(x), 1), batch):
            values: dict = {}
            run_module(module, store, [torch.from_numpy(x[start:start + batch])],
                       ExecContext(store=store), values=values)
            for i, _, op in layers:
                a = acc[i]
                xin = values[op.input]
                a["in"].append(_subsample(xin))
                a["out"].append(_subsample(values[fused_output(op)]))
                s1, s2, n = _row_moments(op, xin)
                a["sum"], a["sq"], a["n"] = a["sum"] + s1, a["sq"] + s2, a["n"] + n
                if hessian:
                    a["xx"] = a["xx"] + _second_moment(op, xin, name_of[i])
    for i, name, _ in layers:
        a = acc[i]
        n = max(a["n"], 1)
        LayerCalibration(RangeStats.of(np.concatenate(a["in"])), RangeStats.of(np.concatenate(a["out"])),
                         np.asarray(a["sum"] / n, dtype=np.float64),
                         np.asarray(a["sq"] / n, dtype=np.float64),
                         np.asarray(a["xx"] / n, dtype=np.float64) if hessian else None).save(store, i, name)


def prepare_quantize(module: Any, store: Any, calib_file: str = "", source: str = "",
                     hessian: bool = False) -> None:
    """Calibrate for a `quantize` pass: from `calib_file` if given, else the store's inputs."""
    from anncc.passes.quantize import CALIBRATION_KEY

    if calib_file:
        x = load_calibration(calib_file)
        source = calib_file
    elif CALIBRATION_KEY in store:
        x = np.asarray(store.get(CALIBRATION_KEY), dtype=np.float32)
        source = source or f"the store's '{CALIBRATION_KEY}'"
    else:
        raise AnnccError("quantize needs calibration inputs",
                         hint=f"give calib=FILE.npy or store them under '{CALIBRATION_KEY}'")
    check_sample_count(x, source)
    calibrate(module, store, x, hessian=hessian)


def _subsample(t: Any) -> np.ndarray:
    v = t.detach().reshape(-1).double().numpy()
    if v.size <= SUBSAMPLE:
        return v
    step = -(-v.size // SUBSAMPLE)
    return np.concatenate([v[::step], [v.max(), v.min()]])


def _matrix_rows(op: Any, x: Any) -> Any:
    """The layer's matrix input as rows `[M, K]` (a convolution's unfolded columns), float64."""
    import torch.nn.functional as F

    from anncc.ir.ann import ConvOp
    from anncc.passes._util import conv_geometry

    x = x.double()
    if not isinstance(op, ConvOp):
        return x.reshape(-1, x.shape[-1])
    kern, stride, pad, dil = conv_geometry(op)
    if len(kern) == 1:
        x, kern, stride, pad, dil = x.unsqueeze(2), [1, *kern], [1, *stride], [0, *pad], [1, *dil]
    cols = F.unfold(x, kern, dilation=dil, padding=pad, stride=stride)  # [B, K, L]
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _second_moment(op: Any, x: Any, name: str) -> np.ndarray:
    """Σ x xᵀ over the rows of the layer's matrix input, per group `[g, K/g, K/g]`."""
    from anncc.passes._calibration import GPTQ_MAX_ROWS
    from anncc.passes._util import groups_of

    rows = _matrix_rows(op, x)
    g = groups_of(op)
    kg = rows.shape[1] // g
    if kg > GPTQ_MAX_ROWS:
        raise AnnccError(f"calibration: layer '{name}' has {kg} inputs per group, more than the "
                         f"{GPTQ_MAX_ROWS} rounding=gptq records a Hessian for",
                         hint="use rounding=nearest for this model")
    blocks = rows.reshape(rows.shape[0], g, kg).transpose(0, 1)  # [g, M, kg]
    return (blocks.transpose(1, 2) @ blocks).numpy()


def _row_moments(op: Any, x: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Σx, Σx² per row of the layer's `[K, N]` matrix input (a convolution's unfolded columns), count."""
    import torch
    import torch.nn.functional as F

    from anncc.ir.ann import ConvOp
    from anncc.passes._util import conv_geometry

    x = x.float()
    if not isinstance(op, ConvOp):
        rows = x.reshape(-1, x.shape[-1]).double()
        return rows.sum(0).numpy(), (rows * rows).sum(0).numpy(), int(rows.shape[0])
    kern, stride, pad, dil = conv_geometry(op)
    if len(kern) == 1:  # conv1d as a conv2d of height 1
        x, kern, stride, pad, dil = x.unsqueeze(2), [1, *kern], [1, *stride], [0, *pad], [1, *dil]
    cols = F.unfold(x, kern, dilation=dil, padding=pad, stride=stride)  # [B, K, L]
    s1 = cols.sum(dim=(0, 2), dtype=torch.float64)
    s2 = (cols * cols).sum(dim=(0, 2), dtype=torch.float64)
    return s1.numpy(), s2.numpy(), int(cols.shape[0] * cols.shape[2])
