"""The cell level with device physics: one `cell.mvm` read on simulated devices.

`analog_mvm(op, args, ctx)` is what the `cell.mvm` kernel calls when
`ctx.analog` is True. It reads one physical array the way the hardware does
(DESIGN.md sections 4 and 7):

1. **Devices** (once per chip, cached in `ctx.cache`): the levels of the IR
   are programmed into conductances, every array of the module at once, by
   `anncc.runtime.chip` (the same devices as `programmed_conductances` of one
   array; the models of `anncc.runtime.devices`): programming noise, device-to-device
   variation, drift/relaxation to `drift_time_s`, stuck-at faults (the IR's
   fault map, plus random ones at `stuck_at_*_rate`). The reference column is
   part of the array and gets its own devices.
2. **What a read sees** (once per array): with `ir_drop`, the mesh of wire and
   contact resistances turns the array into its effective conductance matrix
   `G_eff` (`anncc.runtime.irdrop.effective_weights`: column currents are
   exactly `V @ G_eff`); else `G_eff = G`. The sense amplifier subtracts the
   reference column's current from every column, and the ADC sees

       c_j = (I_j − I_ref) / (ΔG · V_lsb),   V_lsb = V_read / (2^dac_bits − 1),

   which for an input plane of DAC digits `d_i` is `c = d @ C` with the count
   matrix `C[i, j] = (G_eff[r_i, j] − G_eff[r_i, ref]) / ΔG`. It is computed as
   `(L[r_i, j] − L[r_i, ref]) + (Δ[r_i, j] − Δ[r_i, ref])` with `L` the levels
   after faults and `Δ = (G_eff − G_nominal)/ΔG` the deviation in level units,
   so ideal devices give exactly integer counts (`Δ` is exactly 0).
3. **Per read** (every plane of every input vector): cycle-to-cycle read noise
   (each cell's `σ(G)` from `devices.read_noise_sigma_s`, summed in quadrature
   over the driven rows: a column's noise is Gaussian with variance
   `Σ_i d_i² σ_ij²`, and the reference column's noise is one draw shared by all
   columns of the read), DAC noise, ADC input noise; for `cmos` the op-amp
   summer's offset (amplified by its noise gain) and rails
   (`devices.opamp_output_v`).
4. **ADC and shift-add** exactly as the golden model: `contract.adc_read` in
   place, and `contract.shift_add` is one weighted
   sum over planes and one product with the slice/polarity matrix
   (`shift_add_matrix`). Global drift compensation multiplies the ADC outputs
   by one factor per array (`devices.global_drift_compensation_factor`, done
   digitally as in aihwkit, so it also scales the ADC's rounding of the
   shrunken counts).

Where this is an approximation: the read noise of a column is drawn as one
Gaussian of the summed variance (exact for independent Gaussian cells; the
clipping of a negative conductance in `devices.read_conductances` is left
out), and its σ is the programmed cell's (IR drop does not reshape it). A
stuck cell in the reference column biases every column of its row; the ideal
kernel subtracts the reference column too (`cell_kernels.sensed_levels`), so
with every effect off the analog read equals the ideal one with or without
reference-column faults.

Bias-dependent TMR (MTJ targets): a cell's conductance at the read bias is the
target's (`g_min_s = 1/R_AP(V_read)`), so bit-serial reads are exact without
it. A multi-bit DAC drives digit `d` at `d·V_lsb`, where an AP cell conducts
`1/R_AP(d·V_lsb)` (`devices.mtj_conductance_at_bias`): one count matrix per
digit value. With IR drop too, the cell's bias change from the wire drop is
not iterated (a Newton solve per input); the digit's ratio `G(V_d)/G(V_read)`
scales `G_eff` cell by cell, exact to first order.

**The fast path.** The faithful read costs `planes × slices × polarities`
column products per array, all done as one matrix product per array. When no
per-read randomness is on, the count matrix does not depend on the digit
(no bias-dependent TMR with a multi-bit DAC), no op-amp rails can clip, and
the ADC is the identity on every count that can occur — either `ideal_adc`
(an ADC with infinite resolution and range) or integer counts (no conductance
deviation: ideal devices, or faults only) with `adc_shift = 0`, no negative
entry in `C`, and the largest column count within `2^adc_bits − 1` — then
planes and slices collapse exactly: `acc = x @ W` with the signed combined
matrix `W[i, j] = α Σ_k 2^(k·b) (C[i, (j,k,+)] − C[i, (j,k,−)])`, one product of
the integer inputs per array. With real devices and a real ADC the ADC rounds
every plane's count, so the faithful path runs.

**Layer groups.** With per-read randomness, `analog_mvm` reads the arrays of a
layer that share input and shape together (`anncc.runtime.layer_read`: one
batched product over the arrays, the same noise streams, the same results);
option `layer_batch=False` keeps the per-array path below.

**Cost** (bench/bench_runtime.py). Per array and batch the faithful read is
one gather of digit planes from a table, the product `[P·M, rows] @ C`, two
in-place ADC passes, a weighted sum over planes and a small shift-add product:
about twice the bare products. Per-read noise adds a second product of the
same size for the variances `d² @ σ²`, a square root and one fused
`torch.randn` draw per column count: a further 3-5 times the bare products,
the normal draws being the largest part.

Options (`ctx.options`, defaults from the target; see `AnalogOptions`):
`programming_noise`, `d2d`, `read_noise`, `drift_time_s`,
`drift_compensation`, `faults`, `stuck_at_low_rate`, `stuck_at_high_rate`,
`tmr_bias`, `ir_drop`, `adc_noise`, `adc_noise_sigma_lsb`,
`dac_noise_sigma_lsb`, `opamp_offset`, `opamp_rails`, `ideal_adc`,
`fast_path`, `precision`; `IDEAL_OPTIONS` turns every effect off (then the
analog read equals the ideal kernel bit for bit).

Sources: aihwkit PCMLikeNoiseModel and GlobalDriftCompensation (Nandakumar et
al. 2019; Joshi et al., Nat. Commun. 2020); IR drop and α/β, DESIGN.md
section 7; MTJ TMR(V), Zhang et al., IEEE TED 2012; op-amp summers, the
OpenAnalogNN model (targets/cmos.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from anncc.errors import AnnccError
from anncc.ir.cell import ArrayParams
from anncc.ir.contract import adc_read, input_planes, plane_weights, slice_weights
from anncc.runtime.cell_kernels import effective_levels
from anncc.runtime.interpreter import ExecContext

Tensor = torch.Tensor

#: Keys of `ctx.options` that are not analog effects and are ignored here.
NON_EFFECT_OPTIONS = ("target", "read_salt", "irdrop_cache", "layer_batch", "fuse_layers")


@dataclass(frozen=True)
class AnalogOptions:
    """Which non-idealities an analog read simulates; every field is one switch.

    programming_noise: the technology's programming step (PCM/RRAM polynomial
        sigma, domain-wall pinning; E96 rounding for cmos; none for binary MTJ).
    d2d: device-to-device variation, log-normal in R (target.d2d_sigma_rel).
    read_noise: cycle-to-cycle read noise, drawn per read (plane and vector); for PCM the 1/f
        noise accumulated up to drift_time_s, drawn once per chip (`devices.pcm_accumulated_noise`).
    drift_time_s: seconds since programming (PCM drift, RRAM relaxation); 0 = none.
    drift_compensation: global drift compensation per array (PCM default on).
    faults: stuck-at faults — the IR's fault map and random ones at the rates below.
    stuck_at_low_rate, stuck_at_high_rate: random extra faults per cell (target's rates).
    tmr_bias: bias-dependent MTJ TMR (matters with multi-bit DACs, MTJ targets).
    ir_drop: wire, contact and access resistances through each array's exact effective
        weights (on by default: every analog run reads the mesh; `ir_drop=False` or
        `anncc eval --no-ir-drop` leaves it out).
    adc_noise_sigma_lsb: ADC input noise in ADC LSBs, per conversion (target's).
    dac_noise_sigma_lsb: DAC output noise in DAC LSBs, per row and read.
    opamp_offset, opamp_rails: cmos summers' input offset and output rails.
    ideal_adc: the ADC passes counts through (no rounding, no saturation).
    fast_path: allow the collapsed product when it is exact (module docstring).
    precompensate: program tunable cells (rram, pcm, cmos) to their IR-drop
        pre-compensated conductances (`anncc.runtime.precompensation`); needs ir_drop.
    precision: "auto" (float32 while every exact count fits 24 bits), "float32", "float64".
    """

    programming_noise: bool = True
    d2d: bool = True
    read_noise: bool = True
    drift_time_s: float = 0.0
    drift_compensation: bool = True
    faults: bool = True
    stuck_at_low_rate: float = 0.0
    stuck_at_high_rate: float = 0.0
    tmr_bias: bool = True
    ir_drop: bool = True
    adc_noise_sigma_lsb: float = 0.0
    dac_noise_sigma_lsb: float = 0.0
    opamp_offset: bool = True
    opamp_rails: bool = True
    ideal_adc: bool = False
    fast_path: bool = True
    precision: str = "auto"
    precompensate: bool = False

    @classmethod
    def resolve(cls, options: Mapping[str, Any], target: Any) -> AnalogOptions:
        """Options from `ctx.options`, unspecified ones from the target's defaults.

        `adc_noise` (bool) switches the ADC noise on at the target's
        `adc_noise_sigma_lsb` (or the given `adc_noise_sigma_lsb`); an unknown
        key raises AnnccError listing the known ones.
        """
        known = _option_names(cls)
        unknown = sorted(k for k in options if k not in known and k not in NON_EFFECT_OPTIONS)
        if unknown:
            raise AnnccError(f"unknown analog option(s) {', '.join(map(repr, unknown))}",
                             hint=f"known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {
            "drift_compensation": bool(getattr(target, "drift_compensation", True)),
            "stuck_at_low_rate": float(target.stuck_at_low_rate),
            "stuck_at_high_rate": float(target.stuck_at_high_rate),
            "adc_noise_sigma_lsb": float(target.adc_noise_sigma_lsb),
        }
        values.update({k: v for k, v in options.items() if k in known and k != "adc_noise"})
        if not options.get("adc_noise", True):
            values["adc_noise_sigma_lsb"] = 0.0
        out = cls(**values)
        if out.precision not in ("auto", "float32", "float64"):
            raise AnnccError("precision must be 'auto', 'float32' or 'float64', "
                             f"got {out.precision!r}")
        if out.precompensate and not out.ir_drop:
            raise AnnccError("precompensate needs ir_drop: pre-compensation inverts the wire mesh",
                             hint="pass ir_drop=True with precompensate=True")
        if out.drift_time_s < 0:
            raise AnnccError(f"drift_time_s must be >= 0, got {out.drift_time_s}")
        return out

    @functools.cached_property
    def key(self) -> tuple[Any, ...]:
        """A hashable summary for caches (computed once per instance)."""
        return tuple(getattr(self, f.name) for f in fields(self))

    @property
    def has_read_randomness(self) -> bool:
        return self.read_noise or self.adc_noise_sigma_lsb > 0 or self.dac_noise_sigma_lsb > 0


@functools.lru_cache(maxsize=4)
def _option_names(cls: type) -> frozenset[str]:
    return frozenset({f.name for f in fields(cls)} | {"adc_noise"})


#: Every effect off: the analog read then equals the ideal kernel exactly.
IDEAL_OPTIONS: dict[str, Any] = {
    "programming_noise": False, "d2d": False, "read_noise": False, "drift_time_s": 0.0,
    "faults": True, "stuck_at_low_rate": 0.0, "stuck_at_high_rate": 0.0, "tmr_bias": False,
    "ir_drop": False, "adc_noise": False, "dac_noise_sigma_lsb": 0.0, "opamp_offset": False,
    "opamp_rails": False, "ideal_adc": False,
}


# ------------------------------------------------------------------ the target of one array


_ARRAY_TARGETS: dict[tuple[str, float, float], Any] = {}


def array_target(target: Any, g_min_s: float, g_max_s: float) -> Any:
    """The target whose conductance range is this array's (`allocate-resistance` may lower g_max).

    The target makes the copy (`Target.with_conductance_range`): RRAM and PCM
    take the range as fields, MTJs derive R_P and R_AP from it, cmos its unit
    resistor.
    """
    if math.isclose(target.g_min_s, g_min_s, rel_tol=1e-12, abs_tol=1e-30) and math.isclose(
            target.g_max_s, g_max_s, rel_tol=1e-12):
        return target
    key = (target.model_dump_json(), g_min_s, g_max_s)
    if key not in _ARRAY_TARGETS:
        _ARRAY_TARGETS[key] = target.with_conductance_range(g_min_s, g_max_s)
    return _ARRAY_TARGETS[key]


def target_of_op(op: Any, ctx: ExecContext) -> Any:
    t = ctx.options.get("target")
    if t is not None:
        return t
    key = ("analog-target", id(op.get_toplevel_object()))
    if key not in ctx.cache:
        from anncc.ir._xdsl import ModuleOp
        from anncc.passes._target import target_of

        top = op.get_toplevel_object()
        if not isinstance(top, ModuleOp):
            raise AnnccError("analog mode needs the target: pass options={'target': ...}",
                             where=f"cell.mvm '{op.tile.data}'")
        ctx.cache[key] = target_of(top)
    return ctx.cache[key]


# --------------------------------------------------------------------------- the devices


@dataclass(frozen=True)
class ProgrammedTile:
    """One array's devices and what the IR says they should be.

    g_s: conductances at the inference time [array_rows, array_cols] (siemens);
    g_t0_s: the same devices right after programming (drift compensation's reference);
    g_nominal_s: the ideal conductances of `levels` (stuck cells at g_min/g_max);
    levels: levels after stuck-at faults (what the ideal kernel reads);
    fault_map: the stuck cells (0 none, 1 low, 2 high); target: the array's target.
    A `Chip`'s read view (`Chip.read_tile`) also carries, precomputed for the
    whole chip: level_units, `(G − g_min)/ΔG` (exactly `levels` for
    deterministic devices; then `g_nominal_s` may be None), and read_var_units,
    the read noise variance per cell in level units² (None without read noise).
    """

    g_s: Tensor
    g_t0_s: Tensor
    g_nominal_s: Tensor | None
    levels: Tensor
    fault_map: Tensor
    target: Any
    level_units: Tensor | None = None
    read_var_units: Tensor | None = None


def _generator(seed: int, *salt: int | str) -> torch.Generator:
    return ExecContext(seed=seed).generator(*salt)


def nominal_and_levels(levels: Tensor, faults: Tensor, target: Any, bits_per_cell: int
                       ) -> tuple[Tensor, Tensor]:
    """The ideal conductances of `levels` with stuck cells at g_min/g_max, and the levels after faults."""
    from anncc.runtime import devices

    lv = torch.as_tensor(levels).to(torch.int64)
    fm = torch.as_tensor(faults).to(torch.uint8).expand(lv.shape)
    nominal = devices.ideal_conductances(lv, target)
    if bool(fm.any()):
        nominal = devices.apply_stuck_at_faults(nominal, fm, target.g_min_s, target.g_max_s)
    return nominal, effective_levels(lv, fm, bits_per_cell)


def program_tile(op: Any, levels: Tensor, faults: Tensor, target: Any, seed: int,
                 options: AnalogOptions | Mapping[str, Any]) -> ProgrammedTile:
    """Program one array (see `programmed_conductances`), keeping the nominal values too.

    The same devices as the array's in a whole programmed chip
    (`anncc.runtime.chip.program_group` with one array: its draws are per tile).
    """
    from anncc.runtime.chip import program_group

    f = op.params()
    tgt = array_target(target, f.g_min_s, f.g_max_s)
    opts = options if isinstance(options, AnalogOptions) else AnalogOptions.resolve(options, tgt)
    lv = torch.as_tensor(levels).to(torch.int64)
    fm0 = torch.as_tensor(faults).to(torch.uint8).expand(lv.shape)
    with torch.no_grad():
        grp = program_group([f.tile], lv[None], fm0[None], tgt, seed, opts,
                            device_g_max_s=target.g_max_s)
    fm = grp.fault_map[0]
    g = grp.g_s[0].to(torch.float64)
    g_t0 = g if grp.g_t0_s is grp.g_s else grp.g_t0_s[0].to(torch.float64)
    nominal, eff = nominal_and_levels(lv, fm, tgt, f.bits_per_cell)
    return ProgrammedTile(g, g_t0, nominal, eff, fm, tgt)


def programmed_conductances(op: Any, levels: Tensor, faults: Tensor, target: Any, seed: int,
                            options: AnalogOptions | Mapping[str, Any] | None = None) -> Tensor:
    """The conductances [array_rows, array_cols] (siemens) of one programmed array.

    The draw the runtime's reads use, so a SPICE netlist built from it simulates
    the same devices: `anncc.runtime.chip.program_group` with the generators
    `ExecContext(seed=seed).generator(tile, effect)` (its docstring gives the
    stream), the array's conductance range (`array_target`), the IR's fault map
    plus random faults, and the effects switched by `options` (a dict
    as `ctx.options`, or `AnalogOptions`). Covers every cell, the reference
    column and spare rows/columns included. Read noise and IR drop are not in
    it (they belong to a read, not to the devices).
    """
    return program_tile(op, levels, faults, target, seed, options or {}).g_s


# ------------------------------------------------------------------ one array as a read sees it


@dataclass
class ArrayModel:
    """An array prepared for reads: count matrices, noise, periphery, shift-add weights.

    counts: [n_digits, rows, ncols] count matrix per DAC digit value (`digits`),
        reference subtracted (`ncols = cols·n_slices·2`, columns in colmap order);
    read_var: [rows, ncols + 1] count variance per unit digit² (last column the
        reference column's), or None without read noise; [rows, 2] with
        read_var_uniform (every cell, reference included, has the same σ);
    compensation: the drift-compensation factor α on ADC outputs;
    count_offset / count_range: cmos op-amp offset and rails in counts, or None;
    shift_add: [ncols, cols] slice and polarity weights (times α);
    combined: [rows, cols] the collapsed matrix when the fast path is exact, else None;
    g_read_s: [array_rows, array_cols] what column currents see (G_eff with IR drop);
    irdrop: α/β figures of the array (with ir_drop), else None;
    integer_output: the fast path's sums are exact integers (no rounding needed).
    """

    tile: str
    programmed: ProgrammedTile
    g_read_s: Tensor
    counts: Tensor
    digits: list[int]
    read_var: Tensor | None
    compensation: float
    count_offset: Tensor | None
    count_range: tuple[float, float] | None
    shift_add: Tensor
    combined: Tensor | None
    fast_offset: Tensor | None
    dtype: torch.dtype
    adc_sigma_counts: float
    dac_sigma: float
    binary_digits: bool
    options: AnalogOptions
    irdrop: Any = None
    integer_output: bool = False
    read_var_uniform: bool = False


def _dtype(f: ArrayParams, opts: AnalogOptions) -> torch.dtype:
    if opts.precision != "auto":
        return torch.float32 if opts.precision == "float32" else torch.float64
    bits = f.in_bits + f.n_slices * f.bits_per_cell + f.dac_bits + 2
    bound = f.rows * 2.0 ** bits
    return torch.float32 if bound <= 2.0 ** 24 else torch.float64


def count_matrix(g_read: Tensor, prog: ProgrammedTile, rowmap: Tensor, colmap: Tensor,
                 ref_col: int, access: bool = False) -> Tensor:
    """C[i, c] = (G_read[r_i, col_c] − G_read[r_i, ref]) / ΔG, exact integers for ideal devices.

    `access`: `g_read` is read through the cells' access devices (the mesh's
    effective weights), so one count is the series cell's step
    (`anncc.runtime.mesh.sensed_step_s`) and a level's nominal read the series
    conductance of its nominal device; a multi-level cell keeps the series
    combination's small bend between levels (the last term). `count_matrices`
    is the same for a batch of arrays.
    """
    tgt = prog.target
    nominal = prog.g_nominal_s
    if nominal is None:  # a chip's read view: stuck cells are at g_min/g_max of their level
        nominal = nominal_and_levels(prog.levels, prog.fault_map, tgt,
                                     int(tgt.bits_per_cell))[0]
    return count_matrices(g_read[None], prog.levels[None], nominal[None], tgt,
                          rowmap.reshape(1, -1), colmap.reshape(1, -1),
                          torch.tensor([ref_col]), access)[0]


def count_matrices(g_read: Tensor, levels: Tensor, nominal: Tensor, tgt: Any, rowmap: Tensor,
                   colmap: Tensor, ref_col: Tensor, access: bool = False) -> Tensor:
    """`count_matrix` of A arrays of one target: g_read, levels (after faults) and nominal
    conductances [A, array_rows, array_cols], rowmap [A, rows], colmap [A, ncols],
    ref_col [A] → [A, rows, ncols]."""
    from anncc.runtime.mesh import sensed_step_s, series_conductance

    ra = float(getattr(tgt, "r_access_ohm", 0.0)) if access else 0.0
    m = levels.to(g_read.dtype)
    if ra == 0.0:
        m = m + (g_read - nominal) / tgt.delta_g_s
    else:
        step = sensed_step_s(tgt)
        sn = series_conductance(nominal.to(g_read.dtype), ra)
        bend = (sn - series_conductance(float(tgt.g_min_s), ra)) / step - m
        m = m + (g_read - sn) / step + bend
    a = torch.arange(m.shape[0]).view(-1, 1, 1)
    rows = rowmap.to(torch.int64)[:, :, None]
    return m[a, rows, colmap.to(torch.int64)[:, None, :]] - m[a, rows, ref_col.to(torch.int64).view(-1, 1, 1)]


def shift_add_matrix(cols: int, n_slices: int, bits_per_cell: int, dtype: torch.dtype) -> Tensor:
    """[cols·n_slices·2, cols]: weight 2^(k·b) for w⁺ and −2^(k·b) for w⁻ of each column."""
    sa = torch.zeros(cols, n_slices, 2, cols, dtype=dtype)
    j = torch.arange(cols)
    for k, sw in enumerate(slice_weights(n_slices, bits_per_cell)):
        sa[j, k, 0, j] = float(sw)
        sa[j, k, 1, j] = -float(sw)
    return sa.reshape(cols * n_slices * 2, cols)


def _effective(g: Tensor, target: Any, cache_dir: Any = None) -> tuple[Tensor, Any]:
    """G_eff of the array's mesh (IR drop), straight-through for gradients, and its α/β.

    The mesh is `anncc.runtime.mesh.ArrayMesh`, the one description the SPICE netlists
    are written from; `cache_dir`: where effective weights are cached
    (`chip.effective_weights_cached`).
    """
    from anncc.runtime.chip import effective_weights_cached
    from anncc.runtime.irdrop import alpha_beta
    from anncc.runtime.mesh import ArrayMesh

    mesh = ArrayMesh.from_target(g, target)
    g_np = mesh.g_s
    g_eff = effective_weights_cached(g, target, cache_dir).to(g.dtype)
    # The mesh solve is not differentiable: its deviation from G is held constant.
    return g + (g_eff - g).detach(), alpha_beta(g_np, mesh.params)


def build_array_model(op: Any, levels: Tensor, colmap: Tensor, rowmap: Tensor, faults: Tensor,
                      target: Any, seed: int, opts: AnalogOptions,
                      conductances: Tensor | None = None, prog: ProgrammedTile | None = None,
                      irdrop_cache: Any = None) -> ArrayModel:
    """Everything about one array that does not change from read to read.

    `conductances` replaces the programmed devices (hardware-aware training
    passes a tensor that requires grad; IR drop then acts straight-through);
    `prog` gives the programmed array (from a `Chip`), else it is programmed here;
    `irdrop_cache` a directory caching effective weights (`chip.irdrop_cache_dir`).
    """
    from anncc.runtime import devices

    f = op.params()
    if prog is None:
        prog = program_tile(op, levels, faults, target, seed, opts)
    tgt = prog.target
    g = prog.g_s if conductances is None else conductances.to(torch.float64)
    g_read, figures = _effective(g, tgt, irdrop_cache) if opts.ir_drop else (g, None)
    dac_top = (1 << f.dac_bits) - 1
    ref = f.ref_col
    rows_idx, cols_idx = rowmap.to(torch.int64), colmap.reshape(-1).to(torch.int64)

    digits = [1]
    bias_dependent = opts.tmr_bias and tgt.BIAS_DEPENDENT and dac_top > 1
    if prog.level_units is not None and conductances is None and not opts.ir_drop:
        sub = prog.level_units[rows_idx]  # the chip's precomputed (G − g_min)/ΔG
        mats = [sub[:, cols_idx] - sub[:, ref:ref + 1]]
    else:
        mats = [count_matrix(g_read, prog, rowmap, colmap, ref, access=opts.ir_drop)]
    if bias_dependent:
        digits = list(range(1, dac_top + 1))
        mats = []
        for d in digits:
            v_d = torch.tensor(d * tgt.v_read_v / dac_top, dtype=torch.float64)
            g_d = devices.mtj_conductance_at_bias(g, prog.levels, v_d, tgt)
            ratio = torch.where(g > 0, g_d / torch.where(g > 0, g, torch.ones_like(g)),
                                torch.ones_like(g))
            mats.append(count_matrix(g_read * ratio, prog, rowmap, colmap, ref,
                                     access=opts.ir_drop))
    dtype = _dtype(f, opts)

    read_var, uniform = None, False
    if opts.read_noise:
        if prog.read_var_units is not None and prog.read_var_units.stride() == (0, 0):
            v = float(prog.read_var_units[0, 0])  # the chip found one σ for every cell
            uniform = v > 0
            var = torch.full((rows_idx.numel(), 2), v, dtype=torch.float64)
        elif prog.read_var_units is not None:
            var = prog.read_var_units[rows_idx]
        else:
            sigma = devices.read_noise_sigma_s(prog.g_s, tgt, opts.drift_time_s) / tgt.delta_g_s
            var = (sigma ** 2)[rows_idx]
        if bool((var > 0).any()):
            read_var = (var.to(dtype) if uniform else
                        torch.cat([var[:, cols_idx], var[:, ref:ref + 1]], 1).to(dtype).detach())

    alpha = 1.0
    if opts.drift_compensation and opts.drift_time_s > 0:
        used_t0, used_t = prog.g_t0_s[rows_idx], prog.g_s[rows_idx]
        alpha = devices.global_drift_compensation_factor(
            used_t0[:, cols_idx], used_t[:, cols_idx], used_t0[:, ref:ref + 1],
            used_t[:, ref:ref + 1])

    count_offset, count_range = None, None
    if tgt.OPAMP_SUMMER:
        unit = tgt.delta_g_s * tgt.v_read_v / dac_top
        r_f = tgt.r_feedback_ohm
        if opts.opamp_offset and tgt.opamp_offset_sigma_v > 0:
            v_os = devices.draw_opamp_offsets_v([f.array_cols], tgt,
                                                _generator(seed, f.tile, "opamp"))
            noise_gain = 1.0 + r_f * prog.g_s.detach().sum(0)
            count_offset = (v_os * noise_gain / (r_f * unit))[cols_idx].to(dtype)
        if opts.opamp_rails:
            count_range = (-tgt.opamp_rail_high_v / (r_f * unit),
                           -tgt.opamp_rail_low_v / (r_f * unit))

    counts = torch.stack(mats).to(dtype)
    sa = shift_add_matrix(f.cols, f.n_slices, f.bits_per_cell, dtype) * alpha
    adc_sigma = opts.adc_noise_sigma_lsb * float(1 << f.adc_shift)
    model = ArrayModel(
        tile=f.tile, programmed=prog, g_read_s=g_read, counts=counts, digits=digits,
        read_var=read_var, compensation=alpha, count_offset=count_offset, count_range=count_range,
        shift_add=sa, combined=None, fast_offset=None, dtype=dtype, adc_sigma_counts=adc_sigma,
        dac_sigma=opts.dac_noise_sigma_lsb, binary_digits=dac_top == 1, options=opts,
        irdrop=figures, read_var_uniform=uniform)
    if opts.fast_path and _collapsible(model, f, opts):
        model.combined = counts[0] @ sa
        if count_offset is not None:
            model.fast_offset = -(count_offset @ sa)
        # exact integers in, exact integers out: the result needs no rounding
        model.integer_output = model.fast_offset is None and bool(
            torch.equal(model.combined, model.combined.round()))
    return model


def _collapsible(m: ArrayModel, f: ArrayParams, opts: AnalogOptions) -> bool:
    """Whether planes and slices collapse exactly (see the module docstring)."""
    if m.read_var is not None or m.adc_sigma_counts > 0 or m.dac_sigma > 0:
        return False
    if len(m.digits) > 1 or m.count_range is not None:
        return False
    if opts.ideal_adc:
        return True
    c = m.counts[0].detach()
    if m.count_offset is not None or f.adc_shift != 0 or not torch.equal(c, c.round()):
        return False
    top = (1 << f.adc_bits) - 1
    largest = float(c.sum(0).max()) * ((1 << f.dac_bits) - 1) if c.numel() else 0.0
    return bool((c >= 0).all()) and largest <= top


# --------------------------------------------------------------------------- reads


@functools.lru_cache(maxsize=32)
def _plane_table(in_bits: int, signed: bool, dac_bits: int) -> tuple[Tensor, tuple[float, ...]]:
    """[P, 2^in_bits] digits of every input code (index: the code's unsigned bits), and weights."""
    codes = torch.arange(1 << in_bits, dtype=torch.int64)
    if signed:
        codes = torch.where(codes >= 1 << (in_bits - 1), codes - (1 << in_bits), codes)
    planes, weights = input_planes(codes.view(1, -1), in_bits, signed, dac_bits)
    return planes[:, 0].to(torch.float64), tuple(weights)


def digit_planes(x: Tensor, in_bits: int, signed: bool, dac_bits: int, dtype: torch.dtype,
                 out: Tensor | None = None) -> tuple[Tensor, list[float]]:
    """`contract.input_planes` by table look-up: [P, M, rows] DAC digits and plane weights.

    One gather per plane from a table of every code's digits, built with
    `input_planes` itself (so the two agree by construction); inputs wider
    than 12 bits use `input_planes` directly. `out` (contiguous [P, *x.shape] of
    `dtype`, e.g. a `layer_read.ReadScratch` buffer) receives the planes when given.
    """
    xi = x.round().to(torch.int64) if x.is_floating_point() else x.to(torch.int64)
    if in_bits > 12:
        planes, weights = input_planes(xi, in_bits, signed, dac_bits)
        return (out.copy_(planes) if out is not None else planes.to(dtype)), weights
    table, weights = _plane_table(in_bits, signed, dac_bits)
    table = table.to(dtype)
    idx = (xi & ((1 << in_bits) - 1) if signed else xi).reshape(-1)
    if out is None:
        out = torch.empty((table.shape[0], *xi.shape), dtype=dtype)
    for t in range(table.shape[0]):
        torch.index_select(table[t], 0, idx, out=out[t].view(-1))
    return out, list(weights)


def adc_straight_through(counts: Tensor, adc_bits: int, shift: int) -> Tensor:
    """The same ADC with a straight-through gradient (identity), for training."""
    with torch.no_grad():
        out = adc_read(counts.detach().clone(), adc_bits, shift, inplace=True)
    return counts + (out - counts).detach()


def read_counts(model: ArrayModel, planes: Tensor, generator: torch.Generator | None = None
                ) -> Tensor:
    """Column counts before the ADC, [P, M, ncols], for DAC digit planes [P, M, rows].

    Includes every per-read effect of `model` (read, DAC and ADC input noise);
    a generator is needed when any is on.
    """
    p, m, rows = planes.shape
    ncols = model.counts.shape[-1]
    d = planes.reshape(p * m, rows)
    if model.dac_sigma > 0:
        d = d + model.dac_sigma * torch.randn(d.shape, generator=generator, dtype=d.dtype)
    if len(model.digits) == 1:
        counts = d @ model.counts[0]
    else:  # bias-dependent cells: one count matrix per digit value, one-hot digits
        dv = torch.tensor(model.digits, dtype=d.dtype).view(1, -1, 1)
        onehot = (planes.reshape(p * m, 1, rows) == dv).to(d.dtype) * dv
        counts = onehot.reshape(p * m, -1) @ model.counts.reshape(-1, ncols)
        if model.dac_sigma > 0:
            counts = counts + (d - planes.reshape(p * m, rows)) @ model.counts[0]
    if model.read_var is not None:
        # Column variance Σ_i d_i² σ_ij²; 0/1 digits (bit-serial, no DAC noise) are their squares.
        d2 = d if model.binary_digits and model.dac_sigma == 0 else d * d
        counts = _add_read_noise(counts, d2, model, generator)
    elif model.adc_sigma_counts > 0:
        xi = torch.randn(counts.shape, generator=generator, dtype=counts.dtype)
        counts.add_(xi, alpha=model.adc_sigma_counts)
    return counts.reshape(p, m, ncols)


def _add_read_noise(counts: Tensor, d2: Tensor, model: ArrayModel,
                    generator: torch.Generator | None) -> Tensor:
    """counts + σ_j ξ_j − σ_ref ξ_ref: each column's own noise, the reference's shared by the read.

    σ_j² = d² @ σ²[:, j] (plus the ADC's input noise), σ_ref² = d² @ σ²[:, ref];
    One `torch.randn` draw scaled and shifted gives the columns' noise. With
    `read_var_uniform` (every cell the same σ², `read_var` is [rows, 2]) every
    column's variance is the one product `d² @ σ²` per read: the same draws,
    without the [rows, ncols] variance product.
    """
    var_cols, var_ref = model.read_var[:, :-1], model.read_var[:, -1:]
    var = d2 @ var_cols  # [P·M, 1] when every cell has the same σ (read_var_uniform)
    if model.adc_sigma_counts > 0:
        var.add_(model.adc_sigma_counts ** 2)
    # ξ·σ + c with torch.randn (vectorized; about twice torch.normal's speed, a different
    # but equally distributed stream than torch.normal(c, σ) gave before)
    noisy = torch.randn(counts.shape, generator=generator, dtype=counts.dtype)
    noisy.mul_(var.sqrt_()).add_(counts.detach())
    ref = torch.randn((counts.shape[0], 1), generator=generator, dtype=counts.dtype)
    noisy.sub_(ref.mul_((d2 @ var_ref).sqrt_()))
    if counts.requires_grad:  # the noise is additive: its gradient is the identity
        noisy = noisy + (counts - counts.detach())
    return noisy


def analog_tile(xt: Tensor, model: ArrayModel, f: ArrayParams,
                generator: torch.Generator | None = None, *, ideal_adc: bool = False,
                differentiable: bool = False) -> Tensor:
    """One array read of integer inputs `xt` [M, rows]: the shift-added sums [M, cols], unrounded.

    The fast path when `model.combined` is set, else the faithful path:
    digit planes, `read_counts`, op-amp (cmos), ADC, plane weights, shift-add.
    """
    if model.combined is not None:
        acc = xt.to(model.dtype) @ model.combined
        return acc if model.fast_offset is None else acc + model.fast_offset * _plane_sum(f)
    planes, weights = digit_planes(xt, f.in_bits, bool(f.in_signed), f.dac_bits,
                                   model.dtype)
    counts = read_counts(model, planes, generator)
    if model.count_offset is not None:
        counts = counts - model.count_offset
    if model.count_range is not None:
        counts = counts.clamp(*model.count_range)
    if not ideal_adc:
        if differentiable:
            counts = adc_straight_through(counts, f.adc_bits, f.adc_shift)
        else:
            counts = adc_read(counts, f.adc_bits, f.adc_shift, inplace=True)
    p, m, ncols = counts.shape
    pw = torch.tensor(weights, dtype=counts.dtype)
    per_col = (pw @ counts.reshape(p, m * ncols)).reshape(m, ncols)
    return per_col @ model.shift_add.to(counts.dtype)


def _plane_sum(f: ArrayParams) -> float:
    return float(sum(plane_weights(f.in_bits, bool(f.in_signed), f.dac_bits)))


def array_model(op: Any, args: list[Tensor], ctx: ExecContext,
                fields_: ArrayParams | None = None) -> ArrayModel:
    """The cached `ArrayModel` of `op` for this run's seed, options and target."""
    _x, _w, levels, colmap, rowmap, faults = args
    target = target_of_op(op, ctx)
    f = fields_ or op.params()
    tgt = array_target(target, f.g_min_s, f.g_max_s)
    opts = AnalogOptions.resolve(ctx.options, tgt)
    key = ("analog-array", f.tile, ctx.seed, opts.key, id(target))
    model = ctx.cache.get(key)
    if model is None:
        from anncc.runtime.chip import chip_of, irdrop_cache_dir

        with torch.no_grad():
            chip = chip_of(ctx, op, target)
            prog = chip.read_tile(f.tile) if f.tile in chip.index else None
            model = build_array_model(op, levels, colmap, rowmap, faults, target, ctx.seed, opts,
                                      prog=prog, irdrop_cache=irdrop_cache_dir(ctx))
        ctx.cache[key] = model
    return model


def read_generator(ctx: ExecContext, tile: str) -> torch.Generator:
    """A generator for the next read of `tile`: new noise every call, reproducible per seed."""
    key = ("analog-reads", tile)
    n = ctx.cache.get(key, 0)
    ctx.cache[key] = n + 1
    return ctx.generator(tile, "read", ctx.options.get("read_salt", 0), n)


def analog_mvm(op: Any, args: list[Tensor], ctx: ExecContext) -> Tensor:
    """The `cell.mvm` kernel with device physics: int64 partial sums [..., cols].

    The integer result is what the digital shift-add produces from the ADC
    codes; with drift compensation the scaled sum is rounded to an integer.
    """
    f = op.params()
    if ctx.options.get("layer_batch", True):  # every array of the layer group at once
        from anncc.runtime.layer_read import group_read_mvm

        out = group_read_mvm(op, args, ctx, f)
        if out is not None:
            return out
    model = array_model(op, args, ctx, f)
    r0, rows = f.row_offset, f.rows
    xs = args[0][..., r0:r0 + rows]
    lead = tuple(xs.shape[:-1])
    # The fast path reads floats (the planes index the integers), converted once for all
    # the arrays that share this input's row range.
    xt = (_float_slice(ctx, args[0], r0, rows, model.dtype) if model.combined is not None
          else xs.reshape(-1, rows))
    opts = model.options
    gen = read_generator(ctx, f.tile) if opts.has_read_randomness else None
    with torch.no_grad():
        acc = analog_tile(xt, model, f, gen, ideal_adc=opts.ideal_adc)
    out = acc if model.integer_output else acc.round()
    return out.to(torch.int64).reshape(*lead, f.cols)


def _float_slice(ctx: ExecContext, x: Tensor, r0: int, rows: int, dtype: torch.dtype) -> Tensor:
    """x[..., r0:r0+rows] as [M, rows] floats, kept for the next array reading the same slice."""
    key = ("analog-input", r0, rows, dtype)
    hit = ctx.cache.get(key)
    if hit is not None and hit[0] is x:
        return hit[1]
    xt = x[..., r0:r0 + rows].to(dtype).reshape(-1, rows)
    ctx.cache[key] = (x, xt)  # one slot per row range: the previous layer's slice is dropped
    return xt


def operand_tensor(value: Any, ctx: ExecContext) -> Tensor:
    """The tensor behind a constant operand (`ann.weight` from the store, or `ann.constant`)."""
    from anncc.ir.ann import ConstantOp, WeightOp

    owner = value.owner
    if isinstance(owner, WeightOp):
        return ctx.weight(owner)
    if isinstance(owner, ConstantOp):
        return torch.from_numpy(owner.to_numpy())
    raise AnnccError(f"operand of '{owner.name}' is not a constant")


def column_currents(model: ArrayModel, voltages: Tensor) -> Tensor:
    """Column currents [B, array_cols] (amperes) for row voltages [B, array_rows], no read noise.

    `V @ G_eff`: with `ir_drop` the exact mesh (what SPICE computes for the same
    devices), else the ideal crossbar.
    """
    return voltages.to(torch.float64) @ model.g_read_s.detach().to(torch.float64)


__all__ = [
    "IDEAL_OPTIONS",
    "AnalogOptions",
    "ArrayModel",
    "ProgrammedTile",
    "adc_straight_through",
    "analog_mvm",
    "analog_tile",
    "array_model",
    "array_target",
    "build_array_model",
    "column_currents",
    "count_matrix",
    "digit_planes",
    "nominal_and_levels",
    "operand_tensor",
    "program_tile",
    "programmed_conductances",
    "read_counts",
    "read_generator",
    "shift_add_matrix",
]
