"""A covering sample of a compiled model's arrays: every layer, then evenly spaced others.

Outputs that cost something per array (the SPICE netlists of `backends/spice`, the
per-array golden files of `runtime/golden`) are written for every array of a small
model and, above a limit, for a sample that still covers every layer: the first
array of each layer in network order, then arrays spaced evenly over the rest up to
the limit. Both take the sample from here, so a build's SPICE arrays and its
per-array golden files are the same arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Arrays above which a build writes per-array outputs for a covering sample only.
SAMPLE_LIMIT = 64


def covering_sample(tiles: Sequence[tuple[str, str]], limit: int = SAMPLE_LIMIT) -> list[str]:
    """Tile names from `(layer, tile)` pairs in network order: all when there are at most
    `limit`, else the first array of every layer and then evenly spaced others up to `limit`
    (every layer is covered even when there are more layers than `limit`)."""
    if len(tiles) <= limit:
        return [t for _, t in tiles]
    chosen: list[str] = []
    seen: set[str] = set()
    for layer, t in tiles:
        if layer not in seen:
            seen.add(layer)
            chosen.append(t)
    taken = set(chosen)
    rest = [t for _, t in tiles if t not in taken]
    room = max(0, limit - len(chosen))
    if room and rest:
        idx = np.linspace(0, len(rest) - 1, min(room, len(rest))).round().astype(int)
        chosen += [rest[i] for i in sorted(set(idx.tolist()))]
    order = {t: i for i, (_, t) in enumerate(tiles)}
    return sorted(chosen, key=order.__getitem__)


def model_tiles(module: object) -> list[tuple[str, str]]:
    """`(layer, tile)` of every `cell.mvm` of a cell-level module, in network order."""
    from anncc.ir.cell import MvmOp

    out = []
    for op in module.walk():  # type: ignore[attr-defined]
        if isinstance(op, MvmOp):
            p = op.params()
            out.append((str(p.layer), str(p.tile)))
    return out


__all__ = ["SAMPLE_LIMIT", "covering_sample", "model_tiles"]
