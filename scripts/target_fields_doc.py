"""Rewrite the "All fields" table at the end of each docs/targets/<name>.md from the targets.

    python scripts/target_fields_doc.py          # rewrite the tables
    python scripts/target_fields_doc.py --check  # exit 1 if a table is out of date

Each row is a field of the target's pydantic model: its default, its allowed range and its
description (meaning and source). The prose above the table is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from anncc.targets import target_class
from anncc.targets._base import fmt_number

NAMES = ("sot-mtj", "sot-mtj-dw", "rram", "pcm", "cmos")
HEADER = "## All fields"


def _allowed(info: Any) -> str:
    parts = []
    for m in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {fmt_number(v)}")
    return ", ".join(parts) or "—"


def _default(info: Any) -> str:
    if info.default_factory is not None:
        v = info.default_factory()
    else:
        v = info.default
    if v is None:
        return "None"
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_number(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{fmt_number(k)}: ..." for k in v) + "}"
    return str(v) if isinstance(v, str) else fmt_number(v)


def table(name: str) -> str:
    cls = target_class(name)
    lines = [HEADER, "", f"Generated from the model's field descriptions (`anncc.targets.{cls.__name__}`)"
             " by `python scripts/target_fields_doc.py`.", "",
             "| field | default | allowed | meaning and source |", "|---|---|---|---|"]
    for field, info in cls.model_fields.items():
        desc = (info.description or "").strip().replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{field}` | {_default(info)} | {_allowed(info)} | {desc} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1] / "docs" / "targets"
    stale = []
    for name in NAMES:
        page = root / f"{name}.md"
        text = page.read_text(encoding="utf-8")
        head = text.split(HEADER)[0]
        new = head + table(name)
        if new != text:
            stale.append(page.name)
            if not args.check:
                page.write_text(new, encoding="utf-8")
    if args.check and stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
