"""The report's "IR drop" section: every array's size, g_max and exact IR-drop error.

Data: the cell module's `anncc.irdrop` attribute, written by `allocate-resistance`
(`passes/_irdrop_sizing.py` says what the figures are of).
"""

from __future__ import annotations

from typing import Any

#: Arrays listed in report.md; report.json keeps them all.
MAX_ROWS = 200


def irdrop_lines(info: dict[str, Any] | None) -> list[str]:
    """Markdown lines for the IR-drop section (none without data)."""
    if not info or not info.get("arrays"):
        return []
    arrays = info["arrays"]
    budget = float(info["budget"])
    over = [a for a in arrays if not a["within_budget"]]
    lines = ["## IR drop", "",
             f"Budget {100 * budget:.1f} % worst-column error; {len(arrays) - len(over)} of "
             f"{len(arrays)} arrays within it. Figures: {info.get('pattern', '')}.", "",
             "| array | layer | size | g_max | worst column | mean | within budget |",
             "|---|---|---|---|---|---|---|"]
    for a in arrays[:MAX_ROWS]:
        lines.append(f"| {a['tile']} | {a['layer']} | {a['array_rows']}×{a['array_cols']} | "
                     f"{a['g_max_s'] * 1e6:.3g} µS | {100 * a['worst_error']:.2f} % | "
                     f"{100 * a['mean_error']:.2f} % | {'yes' if a['within_budget'] else '**no**'} |")
    if len(arrays) > MAX_ROWS:
        lines.append(f"| … {len(arrays) - MAX_ROWS} more arrays in report.json | | | | | | |")
    lines.append("")
    return lines
