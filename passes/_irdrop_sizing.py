"""Arrays sized to their parasitics: the exact IR-drop error of a candidate array, and the choice.

`tile` picks each layer's physical array size and `allocate-resistance` each
layer's top conductance `g_max` with one criterion, the **exact** worst-column
error of the layer's representative worst-case array (`array_error`):

- the pattern: the layer's *densest* array (the tile whose cells sum to the
  largest conductance) at its actual programmed levels, unused cells and the
  reference column at level 0, every row the tile uses driven at the read
  voltage (all inputs on: the most current, the most drop);
- the error: the relative loss of each column's current against the ideal
  product, `1 − I_j / I_ideal_j` with `I = v @ G_eff` from the one mesh
  description (`anncc.runtime.mesh.ArrayMesh`: wire, contact and access
  resistances) and `I_ideal = v @ G_cell`, `G_cell` each cell in series with its access
  device (the periphery is sized for the cells as built, `anncc.runtime.mesh.sensed_step_s`,
  so the access device scales the signal but is not IR drop); `worst` is the largest over the columns
  that carry current, `mean` their mean.

First-order α/2 + 2β (`contract.irdrop_expected_error`) is not used for the
decision: near a 5 % budget it underestimates the worst column by ~1.5×
(issue 15: estimate 4.3 %, exact 4.8 % mean / 6.4 % worst). It only skips
sizes it puts above `HOPELESS` budgets, far beyond any such underestimate.

Solves are cached per process by a digest of the conductances and the
parasitics, so tile's search and allocate-resistance's check of the same
array cost one solve. One layer costs at most one solve per candidate size and
g_max (`candidate_sides`, `g_max_candidates`), stopping at the first candidate
that meets the budget in order of preference (`choose_layer`: highest g_max, then
fewest arrays, then the smaller array).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Smallest array side the search tries. Below 16 rows or columns the periphery of
#: an array (a sense amplifier and ADC share per column, a driver per row) outweighs
#: its cells, and for the MTJ targets no smaller size meets a 5 % budget either: the
#: column contact alone drops R_contact·N·G_P = 50 Ω·N·200 µS, 5 % at N = 5.
MIN_SIDE = 16

#: How far `allocate-resistance` may lower a tunable g_max: g_max·2^−k, k = 0..3.
G_MAX_STEPS = 4

#: What the report says the figures are of.
PATTERN = ("exact mesh solve of the layer's densest array (largest total conductance) at its "
           "programmed levels, every used row driven at v_read; worst and mean over its columns "
           "of the relative loss of column current against the ideal product")

_CACHE: dict[str, tuple[float, float]] = {}


@dataclass(frozen=True)
class IRDropFigure:
    """Exact relative column-current loss of one array: worst column and mean over columns."""

    worst: float
    mean: float


def array_error(g_s: np.ndarray, driven_rows: int, target: Any) -> IRDropFigure:
    """The exact IR-drop error of conductances `g_s` [N, M] with rows `0..driven_rows−1` driven.

    Columns carrying no ideal current (all their driven cells open) are left out.
    """
    from anncc.runtime.mesh import ArrayMesh

    mesh = ArrayMesh.from_target(np.ascontiguousarray(g_s, dtype=np.float64), target)
    h = hashlib.sha256(mesh.g_s.tobytes())
    h.update(repr((mesh.shape, driven_rows, mesh.r_wire_ohm, mesh.r_contact_ohm,
                   mesh.r_access_ohm)).encode())
    key = h.hexdigest()
    hit = _CACHE.get(key)
    if hit is None:
        v = np.zeros(mesh.shape[0])
        v[:driven_rows] = 1.0
        ideal = v @ mesh.cell_conductances_s  # the cells as built: access devices included
        actual = v @ mesh.effective_weights()
        on = ideal > 0
        loss = np.abs(ideal[on] - actual[on]) / ideal[on] if on.any() else np.zeros(1)
        hit = _CACHE[key] = (float(loss.max()), float(loss.mean()))
    return IRDropFigure(*hit)


def pattern_conductances(cell_levels: np.ndarray, array_rows: int, array_cols: int, target: Any,
                         g_max_s: float) -> np.ndarray:
    """The physical array's conductances with `cell_levels` [rows, used_cols] in its corner.

    Every other cell (reference column, spares) at level 0; levels map linearly
    onto [g_min, g_max_s].
    """
    lv = np.zeros((array_rows, array_cols), dtype=np.float64)
    lv[:cell_levels.shape[0], :cell_levels.shape[1]] = cell_levels
    top = (1 << int(target.bits_per_cell)) - 1
    g_min = float(target.g_min_s)
    return g_min + lv * (g_max_s - g_min) / top


def g_max_candidates(target: Any) -> list[float]:
    """The top conductances allowed: the target's, and for tunable devices g_max·2^−k above 1.5·g_min."""
    g_min, g_max = float(target.g_min_s), float(target.g_max_s)
    if not target.TUNABLE_G_MAX:
        return [g_max]
    out = [g_max]
    for k in range(1, G_MAX_STEPS):
        cand = g_max / (1 << k)
        if cand <= g_min * 1.5:
            break
        out.append(cand)
    return out


def candidate_sides(nominal: int, need: int, fixed: int = 0, least: int = 1) -> list[int]:
    """Array sides to try, largest first: `fixed` alone, else powers of two from the smallest
    one holding `need` (at most `nominal`) down to `MIN_SIDE` (never below `least`)."""
    if fixed:
        return [fixed]
    top = min(nominal, 1 << max(0, math.ceil(math.log2(max(need, 1)))))
    top = max(top, min(nominal, least))
    out = [top]
    s = 1 << (top.bit_length() - 1)
    if s == top:
        s //= 2
    while s >= max(MIN_SIDE, least):
        out.append(s)
        s //= 2
    return out


@dataclass(frozen=True)
class LayerChoice:
    """One layer's array size, top conductance and its exact IR-drop figures.

    `arrays`: how many arrays the layer needs at this size; `within_budget`: the
    figure meets the budget; `densest`: which of its arrays the figure is of
    (tile name, or the index in the candidate's tiling); `tried`: candidates solved.
    """

    array_rows: int
    array_cols: int
    g_max_s: float
    worst: float
    mean: float
    budget: float
    within_budget: bool
    arrays: int
    densest: str
    tried: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def best_g_max(cell_levels: np.ndarray, array_rows: int, array_cols: int, target: Any,
               budget: float) -> tuple[float, IRDropFigure, int]:
    """The largest allowed g_max meeting `budget` for this array, else the lowest (least error).

    The loss falls as g_max falls, so the lowest g_max is solved first: if it
    misses the budget, so does every other (one solve). Returns (g_max, its
    figure, solves made).
    """
    cands = g_max_candidates(target)

    def fig_at(g_max: float) -> IRDropFigure:
        g = pattern_conductances(cell_levels, array_rows, array_cols, target, g_max)
        return array_error(g, cell_levels.shape[0], target)

    low = fig_at(cands[-1])
    if low.worst > budget:
        return cands[-1], low, 1
    for n, g_max in enumerate(cands[:-1], 2):
        fig = fig_at(g_max)
        if fig.worst <= budget:
            return g_max, fig, n
    return cands[-1], low, len(cands)


def first_order_error(cell_levels: np.ndarray, array_rows: int, array_cols: int, target: Any,
                      g_max_s: float) -> float:
    """α/2 + 2β of the pattern (`contract.irdrop_expected_error`): only to skip hopeless sizes."""
    from anncc.ir.contract import irdrop_alpha_beta, irdrop_expected_error

    g = pattern_conductances(cell_levels, array_rows, array_cols, target, g_max_s)
    return irdrop_expected_error(*irdrop_alpha_beta(g, target.r_wire_ohm, target.r_contact_ohm))


#: A size whose first-order α/2 + 2β at its lowest g_max exceeds this many budgets is not
#: solved: near a few per cent the estimate is within 1.5x of the exact worst column and above
#: ~10 % it overestimates (runtime/irdrop: 12.3 % estimated, 11.0 % exact at 8x8; 160 % vs 64 %
#: at 64x64), so such a size cannot meet the budget. Only rejections use it; every accepted
#: choice is an exact solve.
HOPELESS = 4.0


def choose_layer(candidates: Sequence[tuple[int, int]], tiling: Callable[[int, int], Any],
                 target: Any, budget: float) -> LayerChoice:
    """The preferred (rows, cols, g_max) of one layer among `candidates`.

    `tiling(rows, cols)` returns `(n_arrays, densest_levels, densest_name)`,
    or None when that size cannot hold the layer. Preference: the highest
    g_max, then the fewest arrays, then the smaller array. g_max comes first
    because device noise is absolute (every sigma in siemens of the device's
    window, docs/targets/noise-and-parasitics.md): lowering g_max by 2^k
    multiplies every noise-to-signal ratio by 2^k, while more, smaller arrays
    cost periphery area and energy but no accuracy. (Measured on the digits
    MLP on `rram`: fewest-arrays-first chose 3.1-5 uS and lost 40 points of
    analog accuracy; see docs/physics.md.) Candidates are solved in that order
    and the search stops at the first that meets the budget. When none does,
    the one with the least worst-column error (`within_budget` False).
    """
    plans = []
    for r, c in candidates:
        t = tiling(r, c)
        if t is not None:
            plans.append((t[0], r * c, r, c, t[1], t[2]))
    if not plans:
        raise ValueError("no candidate array size holds the layer")
    plans.sort(key=lambda p: (p[0], p[1]))
    tried = 0
    fallback: LayerChoice | None = None
    for g_max in g_max_candidates(target):
        failed: list[tuple[int, int]] = []
        for n_arrays, _area, r, c, levels, name in plans:
            if any(r >= fr and c >= fc for fr, fc in failed):  # larger than a size that failed
                continue
            if first_order_error(levels, r, c, target, g_max) > HOPELESS * budget:
                failed.append((r, c))
                continue
            g = pattern_conductances(levels, r, c, target, g_max)
            fig = array_error(g, levels.shape[0], target)
            tried += 1
            ok = fig.worst <= budget
            choice = LayerChoice(r, c, g_max, fig.worst, fig.mean, budget, ok, n_arrays, name, 0)
            if ok:
                return LayerChoice(**{**asdict(choice), "tried": tried})
            failed.append((r, c))
            if fallback is None or fig.worst < fallback.worst:
                fallback = choice
    if fallback is None:  # every size hopeless: the least error, solving the smallest size
        n_arrays, _area, r, c, levels, name = min(plans, key=lambda p: (p[1], p[0]))
        g_max, fig, n = best_g_max(levels, r, c, target, budget)
        tried += n
        fallback = LayerChoice(r, c, g_max, fig.worst, fig.mean, budget, False, n_arrays, name, 0)
    return LayerChoice(**{**asdict(fallback), "tried": tried})


__all__ = ["G_MAX_STEPS", "HOPELESS", "MIN_SIDE", "PATTERN", "IRDropFigure", "LayerChoice", "array_error",
           "best_g_max", "candidate_sides", "choose_layer", "first_order_error", "g_max_candidates",
           "pattern_conductances"]
