"""The report's "IR-drop compensation" section: what `anncc eval --compensation` measured.

Accuracy per condition without and with IR-drop pre-compensation and per-column
calibration (same Monte-Carlo seeds), every array's pre-compensation residual,
and every layer's calibration fit; `compensation_figure` draws the accuracies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def compensation_lines(record: dict[str, Any] | None, figure: str | None = None) -> list[str]:
    """Markdown lines of the section; none when the study has not run."""
    if not record:
        return []
    lines = ["## IR-drop compensation", "",
             f"IR drop on; the same {len(record.get('seeds', []))} chips (seeds "
             f"{', '.join(map(str, record.get('seeds', [])[:3]))}, ...) for every row; column "
             f"calibration fitted on chips {record.get('calibration_seeds', [])} and "
             f"{record.get('calibration_data', '?')}.", "",
             "| condition | mean | std | 95 % interval | trials |", "|---|---|---|---|---|"]
    for c in record.get("conditions", []):
        lo, hi = c["ci95"]
        lines.append(f"| {c['condition']} | {100 * c['mean']:.2f} % | {100 * c['std']:.2f} | "
                     f"[{100 * lo:.2f}, {100 * hi:.2f}] | {c['trials']} |")
    lines.append("")
    pre = record.get("precompensation") or []
    if pre:
        lines += ["Pre-compensation per array (max |G_eff − G_intended| in level steps; mean "
                  "column-current loss with every row driven):", "",
                  "| array | size | max error before | after | column loss before | after | "
                  "steps | clipped cells |", "|---|---|---|---|---|---|---|---|"]
        for r in pre:
            lines.append(f"| {r['tile']} | {r['array']} | {r['initial_lsb']:.3g} | "
                         f"{r['residual_lsb']:.3g} | {100 * r['initial_column_loss']:.2f} % | "
                         f"{100 * r['column_loss']:.3f} % | {r['iterations']} | {r['clipped']} |")
        lines.append("")
    elif record.get("tunable") is False:
        lines += [f"Target {record.get('target')}: cells cannot be tuned per cell; only the "
                  "per-column calibration applies.", ""]
    cal = record.get("calibration") or {}
    if cal:
        lines += ["Column calibration per layer (RMS accumulator error relative to the "
                  "intended RMS, calibration set):", "",
                  "| condition | layer | gains | RMS error before | after |", "|---|---|---|---|---|"]
        for cond, fit in cal.items():
            for L in fit.get("layers", []):
                lines.append(f"| {cond} | {L['layer']} | {L['gain_min']:.3g}–{L['gain_max']:.3g} | "
                             f"{100 * L['rms_error_before']:.1f} % | {100 * L['rms_error_after']:.1f} % |")
        lines.append("")
    if figure:
        lines += [f"![compensation]({figure})", ""]
    return lines


def compensation_figure(summary: dict[str, Any], path: Path) -> Path | None:
    """Accuracy per condition with its 95 % interval, one bar per row of the study."""
    record = summary.get("compensation")
    if not record or not record.get("conditions"):
        return None
    from anncc.backends.report.figures import _save, plt

    rows = record["conditions"]
    names = [c["condition"] for c in rows]
    means = [100 * c["mean"] for c in rows]
    err = [[max(0.0, 100 * (c["mean"] - c["ci95"][0])) for c in rows],
           [max(0.0, 100 * (c["ci95"][1] - c["mean"])) for c in rows]]
    colors = ["#aa3377" if "calibration" in n else "#228833" if "pre-compensation" in n
              else "#bbbbbb" for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(names) + 1.2))
    ax.barh(range(len(names)), means, xerr=err, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%), IR drop on, same seeds")
    ax.set_xlim(0, 100)
    ax.set_title(f"IR-drop compensation on {record.get('target')}")
    return _save(fig, path)


__all__ = ["compensation_figure", "compensation_lines"]
