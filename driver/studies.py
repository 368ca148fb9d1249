"""Studies that compile a model more than once and compare: the stuck-at fault study.

`fault_study` measures, on the same seed, the cell-level accuracy (ideal
devices, so only the faults differ) with no faults, with the faults and no
spares, and with the faults remapped onto spare rows and columns. The arrays
are tiled the same way in all three (the spares are reserved in each), so the
fault maps are identical and only the remapping differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any


def fault_study(make_module: Callable[[], tuple], opts, example: Any, data: tuple
                ) -> dict[str, float]:
    from anncc.pipeline import compile_module

    x, y = data
    rate = f"{100 * opts.fault_rate:g} % faults"
    variants = {"cell, no faults": replace(opts, fault_rate=0.0, fault_map=""),
                f"cell, {rate}, no spares": replace(opts, use_spares=False)}
    if opts.spare_rows or opts.spare_cols:
        variants[f"cell, {rate}, {opts.spare_cols} spare cols + {opts.spare_rows} spare rows"] = (
            replace(opts, use_spares=True))
    out: dict[str, float] = {}
    for name, o in variants.items():
        module, store = make_module()
        cm = compile_module(module, store, replace(o, progress=False), example)
        out[name] = cm.accuracy(x, y, level="cell")
    return out
