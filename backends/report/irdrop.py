"""The report's "IR drop" section: each layer's array size, count, g_max and exact IR-drop error.

Data: the cell module's `anncc.irdrop` attribute, written by `allocate-resistance`
(`passes/_irdrop_sizing.py` says what the figures are of: the layer's densest array,
which draws the most current, standing for every array of the layer).
"""

from __future__ import annotations

from typing import Any

#: Layers listed in report.md; report.json keeps them all.
MAX_ROWS = 200


def irdrop_lines(info: dict[str, Any] | None) -> list[str]:
    """Markdown lines for the IR-drop section (none without data)."""
    if not info or not info.get("layers"):
        return []
    layers = info["layers"]
    budget = float(info["budget"])
    n = sum(int(r["arrays"]) for r in layers)
    over = sum(int(r["arrays"]) for r in layers if not r["within_budget"])
    lines = ["## IR drop", "",
             f"Budget {100 * budget:.1f} % worst-column error; {n - over} of {n} arrays within it "
             f"({len(layers)} layers). Figures: {info.get('pattern', '')}.", "",
             "| layer | arrays | size | g_max | worst column | mean | densest array | within budget |",
             "|---|---|---|---|---|---|---|---|"]
    for a in layers[:MAX_ROWS]:
        lines.append(f"| {a['layer']} | {a['arrays']} | {a['array_rows']}×{a['array_cols']} | "
                     f"{a['g_max_s'] * 1e6:.3g} µS | {100 * a['worst_error']:.2f} % | "
                     f"{100 * a['mean_error']:.2f} % | {a['densest']} | "
                     f"{'yes' if a['within_budget'] else 'no (warned)'} |")
    if len(layers) > MAX_ROWS:
        lines.append(f"| … {len(layers) - MAX_ROWS} more layers in report.json | | | | | | | |")
    lines.append("")
    return lines
