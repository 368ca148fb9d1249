"""A programmed chip: every array's devices drawn at once, kept for many reads.

    chip = cm.program(seed=0)                 # draw the devices of every array (one chip)
    y1 = cm.run(x1, level="cell", chip=chip)  # read it ...
    y2 = cm.run(x2, level="cell", chip=chip)  # ... again: same devices, fresh read noise
    chip2 = cm.program(seed=1)                # another chip (Monte Carlo)

`cm.run(x, level="cell", analog=True, seed=s)` is `cm.run(x, level="cell",
chip=cm.program(seed=s))`: a new chip per call. A `Chip` holds an
`ExecContext` whose cache keeps every array's `ProgrammedTile` and, after the
first read, its `ArrayModel` (count matrices, read-noise variances), so a
re-read costs only the reads.

**Programming at memory speed** (`program_group`). The arrays of one shape,
conductance range and options are programmed together as one
`[n_arrays, rows, cols]` tensor, in float32:

- the technology's programming step, relaxation/drift and E96 rounding depend
  on the cell only through its target level, so they are evaluated once per
  level (`level_tables`) and gathered: `g = clamp(base[L] + σ[L]·ξ, 0)`;
- device-to-device variation multiplies by `exp(−σ_d2d·ξ)`;
- random stuck-at faults are index draws (`draw_fault_indices`: a binomial
  count per array, then that many distinct cells), not one uniform per cell.

**The random stream** (a deliberate change from the per-cell float64 draws
of `devices.program_array`, which stays the reference for one array): each
array draws from its own generators `ExecContext(seed).generator(tile,
effect)` with effect "program", "d2d", "time", "accumulated" (PCM's 1/f
noise accumulated up to the inference time, one static draw per chip, switched
by `read_noise`) and "faults"; each draws only when its effect is on, in
float32. So a tile's devices do not depend on the other arrays of the chip (one tile can be programmed alone:
`analog.program_tile`, used by SPICE, training and trace), and switching one
effect off leaves the others' draws unchanged. With no random effect on, the
conductances are the exact float64 nominal values (ideal reads stay
bit-exact).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from anncc.runtime.interpreter import ExecContext

Tensor = torch.Tensor


# ------------------------------------------------------------------ per-level device tables


@dataclass(frozen=True)
class LevelTables:
    """What programming does to a cell, per target level (index: the level).

    g_target: nominal conductance; base, sigma: programmed conductance
    `clamp(base + sigma·ξ, 0)`; age_sigma: RRAM relaxation's added spread;
    nu_mu, nu_sigma: PCM drift exponent `|nu_mu + nu_sigma·ξ|`.
    """

    g_target: Tensor
    base: Tensor
    sigma: Tensor
    age_sigma: Tensor | None
    nu_mu: Tensor | None
    nu_sigma: Tensor | None


_TABLES: dict[tuple[str, float, bool], LevelTables] = {}


def level_tables(target: Any, t_inference_s: float, prog_noise: bool) -> LevelTables:
    """The per-level tables of `target` (cached): the device models evaluated once per level.

    Uses the device model's own functions (`devices.DEVICE_MODELS`) on the
    vector of every level's nominal conductance; a programming step is read as
    affine in ξ (`base = program(g, 0)`, `σ = program(g, 1) − base`), which
    holds for every built-in kind and is checked at ξ = −1 before clamping.
    """
    from anncc.runtime import devices

    key = (target.model_dump_json(), float(t_inference_s), bool(prog_noise))
    hit = _TABLES.get(key)
    if hit is not None:
        return hit
    out = device_tables(devices.ideal_conductances(torch.arange(target.levels), target), target,
                        t_inference_s, prog_noise)
    _TABLES[key] = out
    return out


def device_tables(g: Tensor, target: Any, t_inference_s: float, prog_noise: bool) -> LevelTables:
    """`level_tables` for any vector of target conductances `g` (one entry per level, or per
    cell when the targets are not on the level grid: IR-drop pre-compensation)."""
    from anncc.runtime import devices

    model = devices.DEVICE_MODELS[target.cell_kind]
    zero, one = torch.zeros_like(g), torch.ones_like(g)
    if prog_noise:
        base = model.program(g, target, zero)
        sigma = model.program(g, target, one) - base
        below = model.program(g, target, -one)
        if not torch.allclose(below, (base - sigma).clamp(min=0.0), rtol=1e-9, atol=0.0):
            raise NotImplementedError(f"programming model of '{target.cell_kind}' is not affine "
                                      "in its noise draw; program it with devices.program_array")
    else:
        base, sigma = g.clone(), zero
    age_sigma = nu_mu = nu_sigma = None
    if t_inference_s > 0 and model.age is not None:
        if target.cell_kind == "rram":
            age_sigma = model.age(zero, g, target, one, t_inference_s)[0]
        elif target.cell_kind == "pcm":
            nu_mu = devices._pcm_nu(g, target, zero)
            nu_sigma = devices._pcm_nu(g, target, one) - nu_mu
        else:
            raise NotImplementedError(f"aging of '{target.cell_kind}' has no per-level form")
    return LevelTables(g, base, sigma, age_sigma, nu_mu, nu_sigma)


# ------------------------------------------------------------------ programming a group


def draw_fault_indices(n_cells: int, p_low: float, p_high: float, generator: torch.Generator
                       ) -> tuple[Tensor, Tensor]:
    """Random stuck cells of one array as indices: (flat cell indices, kind 1 low / 2 high).

    The number of stuck cells is Binomial(n_cells, p_low + p_high); that many
    distinct cells are drawn uniformly; each is low with probability
    p_low / (p_low + p_high). Same law as one uniform per cell, at a cost
    proportional to the faults.
    """
    p = p_low + p_high
    if p <= 0 or n_cells == 0:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.uint8)
    k = int(torch.binomial(torch.tensor([float(n_cells)]), torch.tensor([min(p, 1.0)]),
                           generator=generator)[0])
    if k == 0:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.uint8)
    if k > n_cells // 4:  # dense: a permutation is cheaper than rejection
        idx = torch.randperm(n_cells, generator=generator)[:k]
    else:
        idx = torch.zeros(0, dtype=torch.int64)
        while idx.numel() < k:
            more = torch.randint(n_cells, (2 * (k - idx.numel()) + 8,), generator=generator)
            idx = torch.unique(torch.cat([idx, more]))
        idx = idx[torch.randperm(idx.numel(), generator=generator)[:k]]
    low = torch.rand(k, generator=generator, dtype=torch.float64) < p_low / p
    kind = torch.where(low, torch.tensor(1, dtype=torch.uint8), torch.tensor(2, dtype=torch.uint8))
    return idx, kind


@dataclass
class ProgrammedGroup:
    """Arrays of one shape programmed together: `[n, rows, cols]` tensors, tiles in order."""

    tiles: list[str]
    g_s: Tensor
    g_t0_s: Tensor
    fault_map: Tensor
    target: Any
    levels: Tensor | None = None
    level_units: Tensor | None = None
    read_var_units: Tensor | None = None


def _fill_normal(shape: tuple[int, ...], gens: list[torch.Generator]) -> Tensor:
    """[n, *shape] standard normals in float32, array i from generator i (`draw_normals`)."""
    out = torch.empty((len(gens), *shape), dtype=torch.float32)
    draw_normals(gens, out)
    return out


def draw_normals(gens: list[torch.Generator], xi: Tensor, ref: Tensor | None = None,
                 threads: int | None = None) -> None:
    """Fill xi[i] (then ref[i], when given) with standard normals from generator i, as
    `torch.randn` on that generator would draw them (`normal_` fills the same way).

    Programming draws each array's devices this way, and a layer group's read each
    array's read noise (`layer_read.read_group`). Large draws run on
    `torch.get_num_threads()` threads, a contiguous range of arrays each; every
    generator is used by one thread only, so the numbers do not depend on the thread
    count; `threads` caps them (1: in the calling thread). (A float32 draw costs
    ~2.4 ns a number on one core, a float64 one ~14 ns; a batch-8 read of the
    101,008-array ResNet-18-style chip on rram draws 6.0e8, programming it 5.2e7:
    counted 1 Dec 2026.)
    """
    xs = xi.unbind(0)
    rs = ref.unbind(0) if ref is not None else None

    def fill(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            xs[i].normal_(generator=gens[i])
            if rs is not None:
                rs[i].normal_(generator=gens[i])

    n = len(gens)
    workers = min(torch.get_num_threads() if threads is None else threads, n)
    if workers <= 1 or xi.numel() < THREADED_DRAW_MIN:
        fill(0, n)
        return
    cuts = [n * k // workers for k in range(workers + 1)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(fill, lo, hi) for lo, hi in zip(cuts, cuts[1:], strict=False)]:
            f.result()


#: Draws of this many numbers and more are spread over threads (`draw_normals`).
THREADED_DRAW_MIN = 1 << 20


def program_group(tiles: list[str], levels: Tensor, faults: Tensor, target: Any, seed: int,
                  opts: Any, bits_per_cell: int | None = None,
                  device_g_max_s: float | None = None,
                  gathered: dict[Any, Tensor] | None = None) -> ProgrammedGroup:
    """Program arrays sharing a target and options: levels/faults `[n, rows, cols]`.

    Random effects per the module docstring's stream; conductances float32 when
    any random effect is on, else the exact float64 nominal values. With
    `bits_per_cell`, also what reads need, for the whole group at once: the
    levels after faults, `level_units = (G − g_min)/ΔG` (exactly the levels
    for deterministic devices) and, with read noise, its variance in level units².
    With the option `precompensate` (and IR drop), each cell is programmed to its
    IR-drop pre-compensated target (`anncc.runtime.precompensation`; `device_g_max_s`
    the device's top conductance, default the array's) instead of its level's.
    `gathered` (from the chip layout) keeps each per-level table gathered to the cells
    (`base[L]`, `σ[L]`, ...) for the next chip of the same arrays and options.
    """
    if levels.numel() and (int(levels.min()) < 0 or int(levels.max()) > target.levels - 1):
        raise ValueError(f"level out of range [0, {target.levels - 1}] for target '{target.name}'")
    n, shape = levels.shape[0], tuple(levels.shape[1:])
    fm = faults.to(torch.uint8).expand(levels.shape).clone()
    if opts.faults and (opts.stuck_at_low_rate > 0 or opts.stuck_at_high_rate > 0):
        cells = math.prod(shape)
        flat = fm.view(n, cells)
        for i, tile in enumerate(tiles):
            idx, kind = draw_fault_indices(cells, opts.stuck_at_low_rate, opts.stuck_at_high_rate,
                                           ExecContext(seed=seed).generator(tile, "faults"))
            keep = flat[i, idx] == 0  # the IR's fault map wins
            flat[i, idx[keep]] = kind[keep]
    if not opts.faults:
        fm.zero_()

    drift = opts.drift_time_s > 0
    tab = level_tables(target, opts.drift_time_s if drift else 0.0, opts.programming_noise)
    idx: Tensor | None = None  # the table row of each cell: its level, or itself (pre-compensated)
    if getattr(opts, "precompensate", False) and getattr(opts, "ir_drop", False):
        from anncc.runtime.precompensation import precompensable, programming_targets

        if precompensable(target):
            g_cells = programming_targets(levels.to(torch.int64), faults, target,
                                          device_g_max_s or target.g_max_s)
            tab = device_tables(g_cells.reshape(-1), target, opts.drift_time_s if drift else 0.0,
                                opts.programming_noise)
            idx = torch.arange(g_cells.numel()).view(levels.shape)
            gathered = None  # the tables are this chip's own

    def per_cell(name: str, table: Tensor, dtype: torch.dtype) -> Tensor:
        """table[level of each cell], kept in `gathered` (the tables depend only on the
        target and options, which the caller's layout fixes)."""
        nonlocal idx
        key = (name, dtype)
        hit = None if gathered is None else gathered.get(key)
        if hit is None:
            if idx is None:
                idx = levels.to(torch.int64)
            hit = table.to(dtype)[idx]
            if gathered is not None:
                gathered[key] = hit
        return hit

    d2d = opts.d2d and target.d2d_sigma_rel > 0
    prog_random = opts.programming_noise and bool((tab.sigma != 0).any())
    age = tab.age_sigma is not None or tab.nu_mu is not None
    from anncc.runtime import devices

    accumulated = devices.DEVICE_MODELS[target.cell_kind].accumulated if opts.read_noise else None
    deterministic = not (prog_random or d2d or age or accumulated is not None)
    if deterministic:  # exact float64 nominal values (ideal reads stay exact)
        g = per_cell("base", tab.base, torch.float64).clone()
        g_t0 = g
    else:
        def gens(effect: str) -> list[torch.Generator]:
            return [ExecContext(seed=seed).generator(t, effect) for t in tiles]

        base = per_cell("base", tab.base, torch.float32)
        if prog_random:
            g = torch.addcmul(base, per_cell("sigma", tab.sigma, torch.float32),
                              _fill_normal(shape, gens("program"))).clamp_(min=0.0)
        else:
            g = base.clone()
        if d2d:
            xi = _fill_normal(shape, gens("d2d"))
            g.mul_(xi.mul_(-target.d2d_sigma_rel).exp_())
        g_t0 = g
        if age:
            xi = _fill_normal(shape, gens("time"))
            if tab.age_sigma is not None:
                g = (g + per_cell("age_sigma", tab.age_sigma, torch.float32) * xi).clamp_(min=0.0)
            else:
                nu = (per_cell("nu_mu", tab.nu_mu, torch.float32)
                      + per_cell("nu_sigma", tab.nu_sigma, torch.float32) * xi).abs_()
                factor = math.log((opts.drift_time_s + target.drift_t0_s) / target.drift_t0_s)
                g = g * nu.mul_(-factor).exp_()
        if accumulated is not None:  # PCM 1/f: one static error per chip and inference time
            xi = _fill_normal(shape, gens("accumulated"))
            g = accumulated(g, g_t0, target, xi, opts.drift_time_s)
    if opts.faults and bool(fm.any()):
        low, high = fm == 1, fm == 2
        for t in (g,) if g is g_t0 else (g, g_t0):
            t.masked_fill_(low, target.g_min_s)
            t.masked_fill_(high, target.g_max_s)
    grp = ProgrammedGroup(tiles, g, g_t0, fm, target)
    if bits_per_cell is not None:
        eff = levels  # the caller's compact stack (uint8 for up to 256 levels), not int64
        if opts.faults and bool(fm.any()):
            eff = levels.clone()
            eff.masked_fill_(fm == 1, 0)
            eff.masked_fill_(fm == 2, (1 << bits_per_cell) - 1)
        grp.levels = eff
        if deterministic:
            grp.level_units = eff.to(torch.float32)
        else:
            grp.level_units = (g - target.g_min_s).mul_(1.0 / target.delta_g_s)
        if opts.read_noise:
            if target.read_noise_sigma_rel == 0 and devices.DEVICE_MODELS[
                    target.cell_kind].read_sigma is None:  # the same σ for every cell: no tensor
                one = devices.read_noise_sigma_s(torch.zeros(1, dtype=torch.float64), target)
                var = float((one[0] / target.delta_g_s) ** 2)
                grp.read_var_units = torch.tensor(var, dtype=torch.float32).expand(g.shape)
            else:
                sigma = devices.read_noise_sigma_s(g, target, opts.drift_time_s)
                grp.read_var_units = sigma.mul_(1.0 / target.delta_g_s).square_().to(
                    torch.float32)
    return grp


# ------------------------------------------------------------------ the chip


@dataclass
class Chip:
    """One simulated chip: the programmed devices of every array, readable many times.

    `ctx` is the analog `ExecContext` a run reads through (its cache keeps the
    devices and the per-array read models); `program_s` the seconds programming took.
    """

    seed: int
    ctx: ExecContext
    groups: list[ProgrammedGroup] = field(default_factory=list)
    index: dict[str, tuple[int, int]] = field(default_factory=dict)
    program_s: float = 0.0
    levels: dict[str, Tensor] = field(default_factory=dict)
    bits: dict[str, int] = field(default_factory=dict)

    def read_tile(self, tile: str) -> Any:
        """`tile` as reads see it: views into the chip's batched tensors (no copies), with
        `level_units` and `read_var_units` (see `analog.ProgrammedTile`)."""
        from anncc.runtime.analog import ProgrammedTile

        gi, i = self.index[tile]
        grp = self.groups[gi]
        assert grp.levels is not None and grp.level_units is not None
        rv = None if grp.read_var_units is None else grp.read_var_units[i]
        return ProgrammedTile(grp.g_s[i], grp.g_t0_s[i], None, grp.levels[i], grp.fault_map[i],
                              grp.target, grp.level_units[i], rv)

    @property
    def n_arrays(self) -> int:
        return len(self.index)

    def programmed(self, tile: str) -> Any:
        """The `analog.ProgrammedTile` of `tile` (conductances as float64)."""
        from anncc.runtime.analog import ProgrammedTile, nominal_and_levels

        gi, i = self.index[tile]
        grp = self.groups[gi]
        g = grp.g_s[i].to(torch.float64)
        g_t0 = g if grp.g_t0_s is grp.g_s else grp.g_t0_s[i].to(torch.float64)
        fm = grp.fault_map[i]
        nominal, eff = nominal_and_levels(self.levels[tile], fm, grp.target, self.bits[tile])
        return ProgrammedTile(g, g_t0, nominal, eff, fm, grp.target)



def cell_ops(module: Any) -> Iterable[Any]:
    from anncc.ir.cell import MvmOp

    return (op for op in module.walk() if isinstance(op, MvmOp))


@dataclass
class ChipLayout:
    """What programming a chip of a module needs that no seed changes: the arrays grouped by
    shape, target and options, their levels and fault maps stacked `[n, rows, cols]`
    (uint8 up to 256 levels), and per group the level tables gathered to its cells.
    Cached per (module, store, target, options) in `_LAYOUTS`, so a new chip per run
    loads and stacks the weight store's level maps once and only draws devices."""

    groups: dict[tuple[Any, ...], tuple[list[str], Tensor, Tensor, Any, Any]]
    levels: dict[str, Tensor]
    bits: dict[str, int]
    gathered: dict[tuple[Any, ...], dict[Any, Tensor]] = field(default_factory=dict)


_LAYOUTS: dict[tuple[Any, ...], tuple[Any, Any, ChipLayout]] = {}
_LAYOUT_SLOTS = 4  # the layouts of the last few (module, options) pairs


def _chip_layout(module: Any, ctx: ExecContext, target: Any) -> ChipLayout:
    from anncc.errors import AnnccError
    from anncc.runtime.analog import AnalogOptions, array_target, operand_tensor

    groups: dict[tuple[Any, ...], list[tuple[str, Tensor, Tensor]]] = {}
    meta: dict[tuple[Any, ...], tuple[Any, Any]] = {}
    levels: dict[str, Tensor] = {}
    bits: dict[str, int] = {}
    for op in cell_ops(module):
        f = op.params()
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        opts = AnalogOptions.resolve(ctx.options, tgt)
        try:
            lv = operand_tensor(op.levels, ctx)
            fm = operand_tensor(op.faults, ctx)
        except AnnccError:  # levels computed at run time: programmed alone when read
            continue
        key = (tuple(lv.shape), id(tgt), opts.key, f.bits_per_cell)
        groups.setdefault(key, []).append((f.tile, lv, fm))
        meta[key] = (tgt, opts)
        levels[f.tile] = lv
        bits[f.tile] = f.bits_per_cell
    out: dict[tuple[Any, ...], tuple[list[str], Tensor, Tensor, Any, Any]] = {}
    for key, members in groups.items():
        tgt, opts = meta[key]
        small = torch.uint8 if tgt.levels <= 256 else torch.int32  # a compact stack
        lv = torch.stack([torch.as_tensor(m[1]).to(small) for m in members])
        fm = torch.stack([torch.as_tensor(m[2]).to(torch.uint8).expand(m[1].shape)
                          for m in members])
        out[key] = ([m[0] for m in members], lv, fm, tgt, opts)
    return ChipLayout(out, levels, bits)


def program_chip(module: Any, ctx: ExecContext, target: Any) -> Chip:
    """Program every `cell.mvm` array of `module` with `ctx.seed` and `ctx.options`
    (the module's stacked level maps from the `ChipLayout` cache)."""
    t0 = time.perf_counter()
    chip = Chip(seed=ctx.seed, ctx=ctx)
    layout_key = (id(module), id(ctx.store), id(target), repr(sorted(
        (k, repr(v)) for k, v in ctx.options.items() if k != "target")))
    hit = _LAYOUTS.get(layout_key)
    if hit is None or hit[0] is not module or hit[1] is not ctx.store:
        hit = (module, ctx.store, _chip_layout(module, ctx, target))
        _LAYOUTS[layout_key] = hit
        while len(_LAYOUTS) > _LAYOUT_SLOTS:
            _LAYOUTS.pop(next(iter(_LAYOUTS)))
    layout = hit[2]
    chip.levels.update(layout.levels)
    chip.bits.update(layout.bits)
    with torch.no_grad():
        for key, (tiles, lv, fm, tgt, opts) in layout.groups.items():
            grp = program_group(tiles, lv, fm, tgt, ctx.seed, opts, key[-1],
                                device_g_max_s=target.g_max_s,
                                gathered=layout.gathered.setdefault(key, {}))
            gi = len(chip.groups)
            chip.groups.append(grp)
            for i, t in enumerate(tiles):
                chip.index[t] = (gi, i)
    chip.program_s = time.perf_counter() - t0
    return chip


CHIP_KEY = "analog-chip"

#: Build directories of loaded models, by weight store: where effective weights are cached.
_BUILD_DIRS: weakref.WeakKeyDictionary[Any, Path] = weakref.WeakKeyDictionary()


def register_build_dir(store: Any, directory: str | Path) -> None:
    """Cache the effective weights of runs on `store` under `directory/cache/irdrop/`."""
    _BUILD_DIRS[store] = Path(directory)


def irdrop_cache_dir(ctx: ExecContext) -> Path | None:
    """`ctx.options["irdrop_cache"]` if given (None or "" turns caching off), else the
    registered build directory's `cache/irdrop/`, else None."""
    if "irdrop_cache" in ctx.options:
        v = ctx.options["irdrop_cache"]
        return Path(v) if v else None
    d = _BUILD_DIRS.get(ctx.store)
    return None if d is None else d / "cache" / "irdrop"


def effective_weights_cached(g: Tensor, target: Any, cache_dir: Path | None) -> Tensor:
    """The exact effective conductances of one array (`irdrop.effective_weights`), float64.

    With `cache_dir`, looked up by a digest of the devices themselves (their
    conductances, shape and the mesh's resistances), so a chip of the same seed
    and options, re-programmed by a later run or `anncc eval`, finds them;
    written atomically, one `.npy` per array.
    """
    return effective_weights_cached_many([g], target, cache_dir)[0]


def effective_weights_cached_many(gs: Sequence[Tensor], target: Any, cache_dir: Path | None
                                  ) -> list[Tensor]:
    """`effective_weights_cached` of every array of `gs`: those not in the cache are solved
    together (`irdrop.parallel.effective_weights_many`, on worker processes when worth it)."""
    from anncc.runtime.irdrop.parallel import effective_weights_many
    from anncc.runtime.mesh import ArrayMesh

    # the one mesh description the SPICE netlists are written from (wire, contact, access)
    meshes = [ArrayMesh.from_target(g, target) for g in gs]
    paths: list[Path | None] = []
    out: list[Tensor | None] = []
    for mesh in meshes:
        g_np = np.ascontiguousarray(mesh.g_s)
        path = None
        if cache_dir is not None:
            h = hashlib.sha256(g_np.tobytes())
            h.update(repr((g_np.shape, mesh.r_wire_ohm, mesh.r_contact_ohm, mesh.r_access_ohm)).encode())
            path = cache_dir / f"{h.hexdigest()[:40]}.npy"
        paths.append(path)
        found = None
        if path is not None and path.exists():
            try:
                found = torch.from_numpy(np.load(path))
            except (OSError, ValueError):
                pass  # a damaged entry is recomputed
        out.append(found)
    todo = [i for i, o in enumerate(out) if o is None]
    solved = effective_weights_many([meshes[i].cell_conductances_s for i in todo],
                                    [meshes[i].params for i in todo])
    for i, g_eff in zip(todo, solved, strict=True):
        out[i] = torch.from_numpy(g_eff)
        path = paths[i]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, g_eff)
            os.replace(tmp, path)
    assert all(o is not None for o in out)  # every array found or solved
    return cast(list[Tensor], out)


def chip_of(ctx: ExecContext, op: Any, target: Any) -> Chip:
    """The chip of this context (programmed on first use: every array of op's module at once).

    Arrays whose levels are not constants are not in it (`tile in chip.index`
    is False): the caller programs them alone, to the same devices.
    """
    chip = ctx.cache.get(CHIP_KEY)
    if chip is None:
        chip = program_chip(op.get_toplevel_object(), ctx, target)
        ctx.cache[CHIP_KEY] = chip
    return chip


def new_chip(model: Any, seed: int = 0, **options: Any) -> Chip:
    """Program one chip of `model` (an `anncc.runtime.Model`): see the module docstring."""
    ctx = model.context(analog=True, seed=seed, **options)
    chip = program_chip(model.ir("cell"), ctx, ctx.options["target"])
    ctx.cache[CHIP_KEY] = chip
    return chip


__all__ = ["CHIP_KEY", "Chip", "LevelTables", "ProgrammedGroup", "chip_of", "device_tables",
           "draw_fault_indices",
           "effective_weights_cached", "effective_weights_cached_many", "irdrop_cache_dir",
           "level_tables", "new_chip",
           "program_chip", "program_group", "register_build_dir"]
