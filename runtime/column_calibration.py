"""Fit per-column affine corrections from the runtime's analog outputs; fold them into the requant.

    cal = calibrate_columns(model, x_calib, chips=4, ir_drop=True)   # options as for analog runs
    cal.model.run(x, level="cell", analog=True, seed=0, ir_drop=True)
    cal.corrections["fc1"].gain, cal.report

For every layer, in network order, the analog accumulators `a` (each
`xbar.requant`'s input) of calibration inputs are read on `chips` simulated
chips (seeds `seed, seed + 1, …`: choose them apart from the evaluation
seeds, which start at 0), and the intended ones `acc` on the ideal cell level
of the uncalibrated model (the RTL's golden model). Per output channel j, the
least-squares response line through all chips' samples (a Monte-Carlo mean
over chips: every chip's samples enter one fit) is inverted,

    a_j ≈ g_j · acc_j + o_j,   g_j = cov(a_j, acc_j) / var(acc_j),
    acc_j ≈ c_j · a_j + d_j,   c_j = 1 / g_j,   d_j = mean(acc_j) − c_j·mean(a_j)

(classical calibration: the read noise is in `a`, so `g` is not attenuated by
it). It is folded into the layer's bias, multiplier and shift
(`anncc.passes.column_calibration`), and the next layer is fitted on the
partly calibrated model, so each fit sees the inputs its layer will see.
With IR drop and deterministic devices (binary MTJs without variation) one
chip is the whole population; for PCM pass `drift_time_s` to calibrate at a
read time (the correction then holds for reads near it).

Guards: a channel whose intended accumulator does not vary over the
calibration set (var(acc) = 0) gets gain 1 and the mean offset; a gain outside
[1/8, 8] (a fit dominated by noise) is clipped into it, the offset fitted for the clipped gain.

Sources: per-column affine calibration of crossbar outputs as in IBM's aihwkit
(`InferenceRPUConfig` output scaling and the drift compensation it cites,
Joshi et al., "Accurate deep neural network inference using computational
phase-change memory", Nat. Commun. 11, 2473 (2020), DOI 10.1038/s41467-020-16108-9),
and folding affine corrections into fixed-point requantization as in
Jacob et al., "Quantization and training of neural networks for efficient
integer-arithmetic-only inference", CVPR 2018 (DOI 10.1109/CVPR.2018.00286,
arXiv:1712.05877).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError

#: Default calibration chip seeds start here, away from `anncc eval`'s seeds 0, 1, 2, ...
CALIBRATION_SEED = 1_000_000
_GAIN_RANGE = (0.125, 8.0)


@dataclass
class ColumnCalibration:
    """A calibrated model and what was fitted.

    model: an `anncc.runtime.Model` whose `cell` level has the calibrated constants
        (other levels and the weight store shared with the input model);
    corrections: per layer the `ColumnCorrection` folded in;
    report: per layer the fit's figures (channels, samples, gains, RMS error before/after).
    """

    model: Any
    corrections: dict[str, Any]
    report: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def fit_affine(analog: np.ndarray, ideal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column correction `ideal ≈ c·analog + d` over rows; [S, C] → gain c, offset d [C].

    Classical calibration: the response `analog ≈ g·ideal + o` is fitted by least
    squares (the noise is in the analog reads, so g is not attenuated by it) and
    inverted, `c = 1/g`, `d = −o/g`. (Regressing ideal on analog instead would
    shrink each column's gain by its own noise-to-signal ratio, which distorts
    the relative scale of the columns a classifier compares.)
    """
    a = np.asarray(analog, dtype=np.float64)
    t = np.asarray(ideal, dtype=np.float64)
    if a.shape != t.shape or a.ndim != 2:
        raise AnnccError(f"fit_affine needs two [samples, channels] arrays, got {a.shape}, {t.shape}")
    ma, mt = a.mean(0), t.mean(0)
    da, dt = a - ma, t - mt
    var = (dt * dt).mean(0)
    cov = (da * dt).mean(0)
    flat = var <= 1e-12 * np.maximum(1.0, mt * mt)
    g = np.where(flat, 1.0, cov / np.where(flat, 1.0, var))
    g = np.clip(np.where(g > 0, g, 1.0), 1.0 / _GAIN_RANGE[1], 1.0 / _GAIN_RANGE[0])
    c = 1.0 / g
    d = mt - c * ma
    return c, d


def _requants(module: Any) -> list[Any]:
    from anncc.ir.xbar import RequantOp

    return [op for op in module.walk() if isinstance(op, RequantOp)]


def _accumulators(module: Any, store: Any, x: torch.Tensor, ctx: Any) -> dict[str, np.ndarray]:
    """Each requant's input as [samples, channels] float64, by layer."""
    from anncc.runtime.interpreter import run_module

    values: dict[Any, Any] = {}
    with torch.no_grad():
        run_module(module, store, [x], ctx, values=values)
    out = {}
    for rq in _requants(module):
        v = values[rq.input]
        out[rq.layer.data] = v.detach().to(torch.float64).reshape(-1, v.shape[-1]).numpy()
    return out


def calibrate_columns(model: Any, x: Any, *, chips: int = 4, seed: int = CALIBRATION_SEED,
                      layers: list[str] | None = None, **options: Any) -> ColumnCalibration:
    """Fit and fold per-column corrections of `model` (module docstring); options as analog runs'.

    `model` is an `anncc.runtime.Model` or a compiled model (`ir`, `store`,
    `target`, `levels`); `x` float calibration inputs (not the evaluation set).
    """
    from anncc.passes.column_calibration import ColumnCorrection, fold_column_calibration
    from anncc.runtime.interpreter import ExecContext
    from anncc.runtime.model import Model, as_tensor

    if chips < 1:
        raise AnnccError(f"column calibration needs chips >= 1, got {chips}")
    t0 = time.perf_counter()
    target = model.target()
    if target is None:
        raise AnnccError("column calibration needs a cell level")
    xt = as_tensor(x)
    store = model.store
    base = model.ir("cell")
    ideal = _accumulators(base, store, xt, ExecContext(store=store))
    order = [rq.layer.data for rq in _requants(base)]
    if layers is not None:
        unknown = sorted(set(layers) - set(order))
        if unknown:
            raise AnnccError(f"column calibration: no layer {', '.join(map(repr, unknown))}",
                             hint=f"layers: {', '.join(order)}")
        order = [lay for lay in order if lay in layers]
    cal = base.clone()
    opts = dict(options)
    opts.setdefault("target", target)
    contexts = [ExecContext(store=store, analog=True, seed=seed + i, options=dict(opts))
                for i in range(chips)]
    corrections: dict[str, Any] = {}
    report: list[dict[str, Any]] = []
    for layer in order:
        runs = [_accumulators(cal, store, xt, ctx)[layer] for ctx in contexts]
        a = np.concatenate(runs, 0)
        t = np.concatenate([ideal[layer]] * chips, 0)
        c, d = fit_affine(a, t)
        corr = ColumnCorrection(c, d)
        folded = fold_column_calibration(cal, store, {layer: corr})[layer]
        corrections[layer] = corr
        scale = float(np.sqrt(np.mean(t * t))) or 1.0
        report.append({"layer": layer, "channels": int(c.size), "samples": int(a.shape[0]),
                       "chips": chips, "gain_min": float(c.min()), "gain_max": float(c.max()),
                       "offset_max_abs": float(np.abs(d).max(initial=0.0)),
                       "rms_error_before": float(np.sqrt(np.mean((a - t) ** 2))) / scale,
                       "rms_error_after": float(np.sqrt(np.mean((c * a + d - t) ** 2))) / scale,
                       **folded})
    levels = dict(model.levels)
    levels["cell"] = cal
    out = Model(levels, store)
    return ColumnCalibration(out, corrections, report, time.perf_counter() - t0)


__all__ = ["CALIBRATION_SEED", "ColumnCalibration", "calibrate_columns", "fit_affine"]
