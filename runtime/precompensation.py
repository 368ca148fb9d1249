"""IR-drop pre-compensation: programmed conductances solved so that an array reads as intended.

An array of programmed conductances `G` on its wire mesh reads column currents
`I = V @ G_eff(G)` (`anncc.runtime.mesh.ArrayMesh`, solved exactly by
`anncc.runtime.irdrop.effective_weights`). The levels of the IR ask for
`I = V @ T` with `T` the nominal conductances of the levels (`devices.ideal_conductances`).
Pre-compensation programs, instead of `T`, the `G` that solves

    G_eff(G) = T        (N·M equations in N·M unknowns, one per cell)

within the device's window `[g_lo, g_hi]`. It is solved by the multiplicative
fixed point (a Jacobi iteration on the diagonal of the Jacobian; the loss of a
cell's current on the mesh is close to a factor that changes slowly with G):

    G_{k+1} = clip(G_k · T / G_eff(G_k), g_lo, g_hi),    G_0 = T,

each step one exact effective-weight solve of the same `ArrayMesh` the runtime
reads and the SPICE netlists are written from (never a second mesh
description). Cells with `T = 0` (a cmos site without a resistor) stay open,
and stuck cells of the IR's fault map stay at their stuck value (they cannot be
programmed, but they take part in the mesh). It stops when the largest cell
error is below `tol_lsb` level steps, after `max_iter` steps, or when a step no
longer lowers the residual by 1 % (the window clips the cells that would need
more); `Precompensation` keeps the residual before and after.

When the window has headroom above the array's `g_max` (`allocate-resistance`
lowers an array's `g_max` below the device's for tunable targets), the
iteration converges geometrically: measured on random 2-bit rram levels,
256×256 at g_max/8, the largest cell error goes 1.51 → 0.0009 level steps in
12 steps and the mean column-current loss 28 % → 0.003 %. At the device's top
conductance there is no room to raise the top cells, and the residual stays
(64×64 rram at full g_max: mean column loss 21 % → 12 %); per-column
calibration (`anncc.runtime.column_calibration`) then corrects what is left.

**Where it lives: in the runtime's programming step** (`chip.program_group`,
switched on by the analog option `precompensate`), not in a compile pass that
writes conductances into the `cell` level, because

- it is what the host does when it programs a chip (write-verify to a target
  conductance): it changes the devices, not the integer contract. The `cell`
  level's levels, the golden vectors and the RTL stay as they are, and so does
  every ideal run (the ideal cell level is the RTL's golden model);
- its targets depend on the programming window of the actual device and on its
  fault map, which the programmer knows and the compiler does not;
- SPICE netlists are written from the runtime's own programmed chip
  (`analog.program_tile` → `program_group`), so a netlist of a chip programmed
  with `precompensate=True` holds the pre-compensated devices, with no second path.

The solve is deterministic (from the levels, the IR's fault map, the mesh and
the window), so it is cached in the process by a digest of those inputs: a
Monte-Carlo study solves each array once, not once per chip. Programming noise,
variation and drift then act around the pre-compensated target, evaluated by
the device models at each cell's own target (`chip.device_tables`).
Pre-compensation needs `ir_drop` (it inverts the mesh; a read with ideal wires
would see the raised conductances as errors), and applies to cells that can be
programmed to any conductance of a window (`precompensable`: rram, pcm, cmos
resistors); binary and domain-wall MTJs cannot be tuned per cell, so their
correction is the per-column calibration folded into the requantization.

Sources: the effective-weight solve, `anncc.runtime.irdrop` (exact against
ngspice to ≤ 4.4e-13); the idea of programming conductances through an IR-drop
model: Liu et al., "Reduction and IR-drop compensations techniques for reliable
neuromorphic computing systems", ICCAD 2014 (DOI 10.1109/ICCAD.2014.7001330).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anncc.errors import AnnccError

#: Cell kinds whose conductance can be programmed to any value of a window (write-verify).
PRECOMPENSABLE_KINDS = frozenset({"rram", "pcm", "resistor"})


def precompensable(target: Any) -> bool:
    """Whether `target`'s cells can be programmed to a per-cell conductance (rram, pcm, cmos)."""
    return str(getattr(target, "cell_kind", "")) in PRECOMPENSABLE_KINDS


@dataclass(frozen=True)
class Precompensation:
    """One array's pre-compensated conductances and how well they meet the intended ones.

    g_program_s: what to program [N, M] (siemens);
    iterations: effective-weight solves after the first;
    initial_lsb / residual_lsb: max |G_eff − T| over cells in level steps ΔG, before / after;
    initial_mean_lsb / residual_mean_lsb: the same, mean over cells;
    initial_column_loss / column_loss: mean over columns of |Σ_i G_eff − Σ_i T| / Σ_i T
        (every row driven: the column-current loss of DESIGN.md §7), before / after;
    clipped: cells at an edge of the window that would need to go beyond it.
    """

    g_program_s: NDArray[np.float64]
    iterations: int
    initial_lsb: float
    residual_lsb: float
    initial_mean_lsb: float
    residual_mean_lsb: float
    initial_column_loss: float
    column_loss: float
    clipped: int
    history_lsb: tuple[float, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The figures as plain data (for reports)."""
        return {"iterations": self.iterations, "initial_lsb": self.initial_lsb,
                "residual_lsb": self.residual_lsb, "initial_mean_lsb": self.initial_mean_lsb,
                "residual_mean_lsb": self.residual_mean_lsb,
                "initial_column_loss": self.initial_column_loss, "column_loss": self.column_loss,
                "clipped": self.clipped}


def _errors(e: NDArray[np.float64], t: NDArray[np.float64], dg: float) -> tuple[float, float, float]:
    d = np.abs(e - t) / dg
    cs = t.sum(0)
    used = cs > 0
    loss = float(np.mean(np.abs(e.sum(0)[used] - cs[used]) / cs[used])) if used.any() else 0.0
    return float(d.max(initial=0.0)), float(d.mean()) if d.size else 0.0, loss


def precompensate_array(g_target_s: Any, r_wire_ohm: float, r_contact_ohm: float,
                        delta_g_s: float, g_lo_s: float, g_hi_s: float, *,
                        r_access_ohm: float = 0.0, fixed: Any = None, max_iter: int = 25,
                        tol_lsb: float = 1e-3) -> Precompensation:
    """Solve `G_eff(G) = T` for the programmed conductances `G` of one array (module docstring).

    g_target_s: the intended device conductances T [N, M] (every physical row and column);
    the effective weights aim at T in series with the access device (the cells as the
    periphery is sized for them, `anncc.runtime.mesh.sensed_step_s`);
    delta_g_s: one sensed level step (the residual's unit); [g_lo_s, g_hi_s]: the device's window;
    fixed: a boolean mask of cells that keep their value of T (stuck cells), or None.
    """
    from anncc.runtime.mesh import ArrayMesh, series_conductance

    t = np.array(g_target_s, dtype=np.float64)
    if t.ndim != 2:
        raise AnnccError(f"pre-compensation needs conductances [N, M], got shape {t.shape}")
    if not (0 <= g_lo_s < g_hi_s) or delta_g_s <= 0:
        raise AnnccError(f"pre-compensation window [{g_lo_s:g}, {g_hi_s:g}] S or step "
                         f"{delta_g_s:g} S is invalid")
    hold = t <= 0  # open sites stay open
    if fixed is not None:
        hold = hold | np.asarray(fixed, dtype=bool)

    def solve(g: NDArray[np.float64]) -> NDArray[np.float64]:
        return ArrayMesh(g, r_wire_ohm, r_contact_ohm, r_access_ohm).effective_weights()

    g = t.copy()
    aim = series_conductance(t, r_access_ohm)
    e = solve(g)
    first = _errors(e, aim, delta_g_s)
    best_g, best_e, best = g, e, first
    history = [first[0]]
    iterations = 0
    for _ in range(max_iter):
        if best[0] <= tol_lsb:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(e > 0, aim / np.where(e > 0, e, 1.0), 1.0)
        g = np.where(hold, t, np.clip(g * ratio, g_lo_s, g_hi_s))
        e = solve(g)
        iterations += 1
        now = _errors(e, aim, delta_g_s)
        history.append(now[0])
        improved = now[1] < best[1] * 0.99 or now[0] < best[0] * 0.99
        if now[1] <= best[1]:
            best_g, best_e, best = g, e, now
        if not improved:
            break
    # cells at an edge of the window that would need to go beyond it
    clipped = int(np.count_nonzero(~hold & (((best_g >= g_hi_s) & (best_e < aim))
                                            | ((best_g <= g_lo_s) & (best_e > aim)))))
    return Precompensation(best_g, iterations, first[0], best[0], first[1], best[1], first[2],
                           best[2], clipped, tuple(history))


# ------------------------------------------------------------------ what a chip is programmed to

_CACHE: dict[str, Precompensation] = {}
_CACHE_LIMIT = 4096


def array_precompensation(levels: Any, faults: Any, target: Any, g_hi_s: float) -> Precompensation:
    """The pre-compensation of one array of `levels` [N, M] on `target`'s mesh (cached).

    `target` is the array's target (its conductance range is the array's, as
    `allocate-resistance` chose it); `g_hi_s` the device's top conductance (the
    module target's `g_max_s`): the window is `[target.g_min_s, max(g_hi_s, target.g_max_s)]`.
    Stuck cells of `faults` (1 low, 2 high) sit at g_min/g_max and are held.
    """
    import torch

    from anncc.runtime.analog import nominal_and_levels
    from anncc.runtime.mesh import sensed_step_s

    lv = torch.as_tensor(levels).to(torch.int64)
    fm = torch.as_tensor(faults).to(torch.uint8).expand(lv.shape)
    nominal, _ = nominal_and_levels(lv, fm, target, int(target.bits_per_cell))
    t = nominal.to(torch.float64).numpy()
    hold = fm.numpy() != 0
    hi = max(float(g_hi_s), float(target.g_max_s))
    r_access = float(getattr(target, "r_access_ohm", 0.0))
    h = hashlib.sha256(np.ascontiguousarray(t).tobytes())
    h.update(np.ascontiguousarray(hold).tobytes())
    h.update(repr((t.shape, target.r_wire_ohm, target.r_contact_ohm, r_access,
                   target.delta_g_s, target.g_min_s, hi)).encode())
    key = h.hexdigest()
    hit = _CACHE.get(key)
    if hit is None:
        hit = precompensate_array(t, float(target.r_wire_ohm), float(target.r_contact_ohm),
                                  sensed_step_s(target), float(target.g_min_s), hi,
                                  r_access_ohm=r_access, fixed=hold)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = hit
    return hit


def programming_targets(levels: Any, faults: Any, target: Any, g_hi_s: float) -> Any:
    """Pre-compensated target conductances [n, N, M] (float64 tensor) of a stack of arrays.

    `levels`, `faults` [n, N, M] as `chip.program_group` takes them; targets
    whose cells cannot be tuned (`precompensable` False) get their nominal
    conductances back unchanged.
    """
    import torch

    from anncc.runtime.analog import nominal_and_levels

    lv = torch.as_tensor(levels).to(torch.int64)
    fm = torch.as_tensor(faults).to(torch.uint8).expand(lv.shape)
    if not precompensable(target):
        return nominal_and_levels(lv, fm, target, int(target.bits_per_cell))[0].to(torch.float64)
    out = torch.empty(lv.shape, dtype=torch.float64)
    for i in range(lv.shape[0]):
        out[i] = torch.from_numpy(array_precompensation(lv[i], fm[i], target, g_hi_s).g_program_s)
    return out


def residual_report(model: Any) -> list[dict[str, Any]]:
    """Per array of a compiled model's `cell` level: its pre-compensation figures.

    `model` is an `anncc.runtime.Model`; one `Precompensation.summary` per array
    whose levels are constants, with its tile, layer and size; empty for
    targets that cannot be tuned.
    """
    import torch

    from anncc.runtime.analog import array_target, operand_tensor
    from anncc.runtime.chip import cell_ops
    from anncc.runtime.interpreter import ExecContext

    target = model.target()
    if target is None or not precompensable(target):
        return []
    ctx = ExecContext(store=model.store)
    rows = []
    for op in cell_ops(model.ir("cell")):
        f = op.params()
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        try:
            lv = operand_tensor(op.levels, ctx)
            fm = operand_tensor(op.faults, ctx)
        except AnnccError:
            continue
        pc = array_precompensation(torch.as_tensor(lv), torch.as_tensor(fm), tgt, target.g_max_s)
        rows.append({"tile": f.tile, "layer": f.layer, "array": f"{f.array_rows}x{f.array_cols}",
                     **pc.summary()})
    return rows


__all__ = ["PRECOMPENSABLE_KINDS", "Precompensation", "array_precompensation", "precompensable",
           "precompensate_array", "programming_targets", "residual_report"]
