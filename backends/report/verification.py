"""The report's "Verification" section: what `anncc verify` found (BUILD/verify.json).

Shows, for each backend that ran, whether it passed and its figures when the
backend reports them (RTL: vectors passed, cycles per inference, simulation
speed; SPICE: arrays, worst relative current error, ADC code mismatches and
codes within the tolerance of a boundary), the backend's own lines, then its
Markdown `table` and `figures` (paths relative to the build) when it gives them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: optional result keys shown as figures, with their labels (see anncc.verify)
RTL_FIGURES = (("simulator", "simulator"), ("vectors", "vectors"), ("vectors_passed", "vectors passed"),
               ("mismatches", "vectors mismatched"), ("cycles_per_inference", "cycles per inference"),
               ("vectors_per_s", "vectors per second"))
SPICE_FIGURES = (("arrays", "arrays simulated"), ("max_rel_err_current", "worst relative current error"),
                 ("adc_code_mismatches", "ADC code mismatches"),
                 ("near_boundary", "codes within tolerance of a boundary"))
MAX_LINES = 20


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} ({', '.join(map(str, value[:6]))}{', ...' if len(value) > 6 else ''})"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def verification_lines(record: dict[str, Any] | None) -> list[str]:
    """Markdown lines of the section; none when `anncc verify` has not run."""
    if not record:
        return []
    lines = ["## Verification", ""]
    for key, title, figures in (("rtl", "RTL against the golden vectors", RTL_FIGURES),
                                ("spice", "SPICE against the runtime", SPICE_FIGURES)):
        r = record.get(key)
        if not isinstance(r, dict):
            continue
        lines += [f"**{title}: {'passed' if r.get('passed') else 'FAILED'}**", ""]
        shown = [(label, r[k]) for k, label in figures if k in r]
        if shown:
            lines += ["| figure | value |", "|---|---|"]
            lines += [f"| {label} | {_fmt(v)} |" for label, v in shown]
            lines.append("")
        out = [str(s) for s in r.get("lines", [])]
        lines += [f"- {s}" for s in out[:MAX_LINES]]
        if len(out) > MAX_LINES:
            lines.append(f"- ... {len(out) - MAX_LINES} more lines in verify.json")
        lines.append("")
        if isinstance(r.get("table"), str) and r["table"].strip():
            lines += [r["table"].strip(), ""]
        for fig in r.get("figures", []) or []:
            lines += [f"![{key} {Path(str(fig)).stem}]({fig})", ""]
    return lines
