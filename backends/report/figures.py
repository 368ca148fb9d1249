"""Figures for the report (matplotlib, Agg, PNG without timestamps: byte-identical reruns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PNG_METADATA = {"Software": None}


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata=PNG_METADATA)
    plt.close(fig)
    return path


def utilization_figure(summary: dict[str, Any], path: Path) -> Path | None:
    """Arrays per layer and their mean cell utilization."""
    layers = summary["layers"]
    if not layers or not any("utilization" in v for v in layers.values()):
        return None
    names = list(layers)
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(names) + 2), 3.2))
    util = [100 * layers[n].get("utilization", 0.0) for n in names]
    bars = ax.bar(range(len(names)), util, color="#4477aa")
    for b, n in zip(bars, names):
        ax.annotate(str(layers[n]["arrays"]), (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("mean cell utilization (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Arrays per layer (numbers) and utilization")
    return _save(fig, path)


def energy_figure(summary: dict[str, Any], path: Path) -> Path | None:
    """Energy per inference by layer, split into cells, DAC, ADC and digital."""
    est = summary.get("estimate")
    if not est:
        return None
    per = est["per_layer"]
    names = list(per)
    parts = [("energy_cells_j", "cells", "#4477aa"), ("energy_dac_j", "DAC", "#66ccee"),
             ("energy_adc_j", "ADC", "#ee6677"), ("energy_digital_j", "digital", "#ccbb44")]
    extra = (("energy_sample_hold_j", "S+H", "#228833"), ("energy_opamp_j", "op-amps", "#aa3377"))
    parts += [p for p in extra if any(per[n].get(p[0], 0.0) for n in names)]  # where present
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(names) + 2), 3.2))
    bottom = [0.0] * len(names)
    for key, label, color in parts:
        vals = [per[n].get(key, 0.0) * 1e9 for n in names]
        ax.bar(range(len(names)), vals, bottom=bottom, label=label, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("energy per inference (nJ)")
    ax.legend(fontsize=7)
    ax.set_title("Energy breakdown")
    return _save(fig, path)


def accuracy_figure(summary: dict[str, Any], path: Path) -> Path | None:
    """Accuracy at each level / condition, with the Monte-Carlo spread where measured."""
    acc = summary.get("accuracy") or {}
    rows = [(k, v if isinstance(v, dict) else {"mean": float(v)}) for k, v in acc.items()
            if not isinstance(v, dict) or "mean" in v]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(rows) + 2), 3.0))
    means = [100 * v["mean"] for _, v in rows]
    errs = [100 * v.get("std", 0.0) for _, v in rows]
    for i, m in enumerate(means):
        ax.annotate(f"{m:.1f}", (i, m), ha="center", va="bottom", fontsize=7)
    ax.bar(range(len(rows)), means, yerr=errs, color="#228833", capsize=3)
    ax.set_xticks(range(len(rows)), [k for k, _ in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(max(0.0, min(means) - 10), 100)
    ax.set_title("Accuracy")
    return _save(fig, path)


def finetune_figure(results: dict[str, Any], path: Path,
                    configs: tuple[str, ...] = ("nearest", "gptq", "auto", "finetuned")) -> Path | None:
    """Float / xbar / analog accuracy per model and configuration (bench/bench_quant_hw.py's results).

    Analog bars carry the Monte-Carlo spread (std over the same chip seeds for every configuration).
    """
    models = results.get("models") or {}
    if not models:
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models) + 1, 3.2), squeeze=False)
    for ax, (name, res) in zip(axes[0], models.items()):
        cfgs = [c for c in configs if c in res]
        for j, (key, color) in enumerate((("xbar", "#4477aa"), ("analog_mean", "#ee6677"))):
            vals = [100 * res[c][key] for c in cfgs]
            errs = [100 * res[c].get("analog_std", 0.0) if key == "analog_mean" else 0.0 for c in cfgs]
            ax.bar([i + 0.38 * j for i in range(len(cfgs))], vals, width=0.38, yerr=errs, capsize=2,
                   color=color, label="xbar" if j == 0 else "analog")
        if cfgs:
            ax.axhline(100 * res[cfgs[0]]["float"], color="k", lw=0.8, ls="--", label="float")
        ax.set_xticks([i + 0.19 for i in range(len(cfgs))], cfgs, rotation=30, ha="right", fontsize=7)
        lows = [100 * res[c]["analog_mean"] for c in cfgs] or [90.0]
        ax.set_ylim(max(0.0, min(lows) - 8), 100)
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel("top-1 accuracy (%)")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{results.get('target', '')}, w_bits {results.get('w_bits', '')}: before / after "
                 "fine-tuning", fontsize=9)
    return _save(fig, path)
