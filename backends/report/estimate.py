"""The report's "Estimate model" section: input-bit activity, area shares and every assumption.

`estimate_lines(est)` turns the `estimate` pass's result (`anncc.estimate`) into
Markdown: where the input-bit activity came from (calibration inputs or the
0.5 fallback), the ADC's share of the area, and the table of assumptions
(assumption, value, source) that `report.json` also carries under
`estimate.assumptions`.
"""

from __future__ import annotations

from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v)
    return str(v)


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def estimate_lines(est: dict[str, Any] | None) -> list[str]:
    """Markdown lines of the estimate's model: activity, area shares, assumptions (empty without one)."""
    if not est or "assumptions" not in est or not isinstance(est["assumptions"], list):
        return []
    tot = est.get("per_inference", {})
    lines = ["## Estimate model", ""]
    area = tot.get("area_m2", 0.0)
    if area:
        parts = [(k, tot.get(f"area_{k}_m2", 0.0)) for k in ("cells", "adc", "dac", "sample_hold")]
        lines.append("- area shares: " + ", ".join(f"{k.replace('_', '-')} {100 * v / area:.1f} %"
                                                   for k, v in parts)
                     + f" ({int(tot.get('adcs', 0))} ADCs for {int(tot.get('arrays', 0))} arrays)")
    energy = tot.get("energy_j", 0.0)
    if energy:
        keys = sorted(k for k in tot if k.startswith("energy_") and k != "energy_j")
        lines.append("- energy shares: " + ", ".join(
            f"{k[len('energy_'):-2].replace('_', ' ')} {100 * tot[k] / energy:.1f} %" for k in keys))
    if tot.get("latency_s"):
        dig = tot.get("latency_digital_ops_s", 0.0)
        lines.append(f"- latency: arrays {1e6 * (tot['latency_s'] - dig):.4g} µs, digital float ops "
                     f"{1e6 * dig:.4g} µs")
    act = est.get("input_activity") or {}
    per = act.get("per_layer") or {}
    if per:
        src = act.get("source", "")
        how = (f"measured on {act.get('samples', 0)} calibration inputs" if src != "assumed"
               else "assumed 0.5 per plane (no calibration data)")
        means = ", ".join(f"{name} {sum(v) / len(v):.3f}" for name, v in per.items() if v)
        lines.append(f"- input-bit activity (mean over planes), {how}: {means}")
    lines += ["", "| assumption | value | source |", "|---|---|---|"]
    for row in est["assumptions"]:
        lines.append(f"| {_cell(str(row.get('assumption', '')))} | {_cell(_value(row.get('value')))} | "
                     f"{_cell(str(row.get('source', '')))} |")
    lines.append("")
    return lines
