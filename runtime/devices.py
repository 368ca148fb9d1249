"""Device non-idealities: pure functions on torch tensors, parameterized from a Target.

Every random draw takes a `torch.Generator`, so a seed fixes the devices. The
composition the cell level uses:

    arr = program_array(levels, target, gen, t_inference_s=3600.0)   # the devices
    g = read_conductances(arr.g_s, target, gen_read, t_inference_s=3600.0)   # one read
    y = y * arr.drift_compensation_factor()                           # PCM outputs

`program_array` draws, always and in this order, three standard-normal tensors,
one uniform tensor and a fourth standard-normal tensor of the levels' shape
(programming, device-to-device, time, faults, noise accumulated up to the read),
whatever the target and whichever effects are switched off. So the same
seed gives the same devices with an effect on or off, at any inference time, and
the SPICE backend gets the runtime's devices by calling it with the same seed.

Noise is in absolute conductance: every model's sigma is in siemens against the
device window it was measured on (`target.noise_window_s`, default the target's
own range), never against the g_max the compiler chose for an array.

Conductances are in siemens; MTJ conductances are those at the read bias
(`target.g_min_s` is 1/R_AP(v_read_v)); `mtj_conductance_at_bias` moves them to
another bias. Sources are cited per function; rationale in docs/targets/.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from anncc.ir.contract import tmr_at_bias, tmr_at_bias_derivative
from anncc.targets import (
    CmosTarget,
    MtjTarget,
    PcmTarget,
    RramTarget,
    SotMtjDwTarget,
    Target,
    round_to_e96,
)

Tensor = torch.Tensor

# aihwkit clips g/g_max here before taking its log (PCMLikeNoiseModel's _ZERO_CLIP).
_G_REL_FLOOR = 1e-7
# aihwkit's floor on (g/g_max)**0.65 in the 1/f noise coefficient Q_s.
_Q_FLOOR = 1e-3


# ----------------------------------------------------------------------------
# levels and ideal conductances
# ----------------------------------------------------------------------------


def ideal_conductances(
    levels: Tensor | np.ndarray,
    target: Target,
    dtype: torch.dtype = torch.float64,
    g_range_s: tuple[float, float] | None = None,
) -> Tensor:
    """G = g_min + level * delta_g for each integer level (DESIGN.md section 4).

    `g_range_s` = (g_min, g_max) of this array when `allocate-resistance` chose a
    narrower range than the device's (the `cell.mvm` op's g_min_s/g_max_s);
    default the target's. Raises ValueError for a level outside [0, levels - 1].
    """
    lv = torch.as_tensor(levels)
    if lv.numel() and (int(lv.min()) < 0 or int(lv.max()) > target.levels - 1):
        raise ValueError(
            f"level out of range [0, {target.levels - 1}] for target '{target.name}' "
            f"(got {int(lv.min())}..{int(lv.max())})"
        )
    g_min, g_max = _g_range(target, g_range_s)
    return g_min + lv.to(dtype) * ((g_max - g_min) / (target.levels - 1))


def _g_range(target: Target, g_range_s: tuple[float, float] | None) -> tuple[float, float]:
    if g_range_s is None:
        return target.g_min_s, target.g_max_s
    g_min, g_max = float(g_range_s[0]), float(g_range_s[1])
    if not 0.0 <= g_min < g_max:
        raise ValueError(f"g_range_s must satisfy 0 <= g_min < g_max (got {g_range_s})")
    return g_min, g_max


def _randn(like: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


# ----------------------------------------------------------------------------
# programming noise, per technology
# ----------------------------------------------------------------------------


def poly_sigma_s(
    g_s: Tensor, coeffs_s: Sequence[float], g_max_s: float, g_max_ref_s: float
) -> Tensor:
    """sigma(g) = (g_max/g_max_ref) * sum_i c_i (g/g_max)**i, clipped at 0.

    The polynomial form of IBM aihwkit's PCMLikeNoiseModel and ReRamWan2022NoiseModel
    (coefficients fitted at g_max_ref and rescaled with g_max, as aihwkit does for a
    device of another window). Callers pass the DEVICE's window top
    (`target.noise_g_max_s`), never an array's compiler-chosen g_max: sigma is then a
    function of the absolute conductance g, and an array using a narrower part of the
    window sees the device's noise in siemens (larger relative to its range).
    """
    x = g_s / g_max_s
    sigma = torch.full_like(g_s, coeffs_s[0])
    power = torch.ones_like(g_s)
    for c in coeffs_s[1:]:
        power = power * x
        sigma = sigma + c * power
    return (sigma * (g_max_s / g_max_ref_s)).clamp(min=0.0)


def pcm_programming_sigma_s(g_target_s: Tensor, target: PcmTarget) -> Tensor:
    """PCM programming noise sigma(g): aihwkit PCMLikeNoiseModel (Nandakumar et al. 2019)."""
    return poly_sigma_s(
        g_target_s, target.prog_noise_poly_s, target.noise_g_max_s, target.poly_g_max_ref_s
    )


def rram_sigma_at_time_s(g_target_s: Tensor, target: RramTarget, t_s: float) -> Tensor:
    """Total spread of RRAM conductance around its target, t_s seconds after programming.

    aihwkit's ReRamWan2022NoiseModel fits (Wan et al., Nature 2022) at 1 s, 1 day and
    2 days, interpolated linearly in log(t) between fits (anncc's choice: aihwkit
    accepts only the fitted times), held at the first/last fit outside them.
    """
    fits = sorted(
        [(target.prog_noise_time_s, target.prog_noise_poly_s), *target.relaxation_poly_s.items()]
    )
    sig = [poly_sigma_s(g_target_s, c, target.noise_g_max_s, target.poly_g_max_ref_s)
           for _, c in fits]
    times = [t for t, _ in fits]
    if t_s <= times[0]:
        return sig[0]
    for i in range(len(times) - 1):
        if t_s < times[i + 1]:
            w = (math.log(t_s) - math.log(times[i])) / (math.log(times[i + 1]) - math.log(times[i]))
            return (1.0 - w) * sig[i] + w * sig[i + 1]
    return sig[-1]


def _program_identity(g_target: Tensor, target: Target, xi: Tensor) -> Tensor:
    # A binary MTJ is switched fully P or AP: its spread is device-to-device (d2d_sigma_rel).
    return g_target.clone()


def _program_domain_wall(g_target: Tensor, target: Target, xi: Tensor) -> Tensor:
    assert isinstance(target, SotMtjDwTarget)
    # The wall's position error is a fraction of the device's window (absolute siemens).
    sigma = target.prog_noise_scale * target.dw_level_sigma_steps * target.noise_delta_g_s
    return (g_target + sigma * xi).clamp(min=0.0)


def _program_rram(g_target: Tensor, target: Target, xi: Tensor) -> Tensor:
    assert isinstance(target, RramTarget)
    sigma = rram_sigma_at_time_s(g_target, target, target.prog_noise_time_s)
    return (g_target + target.prog_noise_scale * sigma * xi).clamp(min=0.0)


def _program_pcm(g_target: Tensor, target: Target, xi: Tensor) -> Tensor:
    assert isinstance(target, PcmTarget)
    sigma = pcm_programming_sigma_s(g_target, target)
    return (g_target + target.prog_noise_scale * sigma * xi).clamp(min=0.0)


def _program_resistor(g_target: Tensor, target: Target, xi: Tensor) -> Tensor:
    # "Programming" a resistor cell is choosing the nearest E96 part (IEC 60063).
    assert isinstance(target, CmosTarget)
    g = g_target.detach().cpu().numpy().astype(np.float64)
    out = np.zeros_like(g)
    on = g > 0
    if np.any(on):
        r_e96, _ = round_to_e96(1.0 / g[on])
        out[on] = 1.0 / r_e96
    return torch.from_numpy(out).to(dtype=g_target.dtype, device=g_target.device)


def programming_noise(g_target_s: Tensor, target: Target, generator: torch.Generator) -> Tensor:
    """The programmed conductance of each cell: the technology's programming step.

    - rram: g + sigma(g)*xi, sigma the 1 s polynomial of Wan et al. 2022 (aihwkit);
    - pcm: g + sigma(g)*xi, aihwkit PCMLikeNoiseModel's polynomial;
    - sot-mtj-dw: g + dw_level_sigma_steps * delta_g * xi (wall pinning);
    - sot-mtj: unchanged; a binary MTJ's spread is its d2d variation of R;
    - cmos: the conductance of the nearest E96 resistor (deterministic).
    Clipped at 0 S (aihwkit). Scaled by target.prog_noise_scale.
    """
    return DEVICE_MODELS[target.cell_kind].program(
        g_target_s, target, _randn(g_target_s, generator)
    )


def _d2d(g: Tensor, sigma_rel: float, xi: Tensor) -> Tensor:
    return g * torch.exp(-sigma_rel * xi)


def device_to_device_variation(g_s: Tensor, sigma_rel: float, generator: torch.Generator) -> Tensor:
    """Fixed per-device spread of resistance: R -> R*exp(sigma*xi), so G -> G*exp(-sigma*xi).

    Log-normal keeps R positive; sigma(R)/R = sqrt(exp(sigma**2)-1)*exp(sigma**2/2)
    ~ sigma for sigma << 1 (MTJ: 3-5 %, DESIGN.md section 5; resistors: tolerance/3).
    """
    return _d2d(g_s, sigma_rel, _randn(g_s, generator))


# ----------------------------------------------------------------------------
# time: PCM drift, RRAM relaxation
# ----------------------------------------------------------------------------


def _pcm_nu(g_target: Tensor, target: PcmTarget, xi: Tensor) -> Tensor:
    g_rel = (g_target.abs() / target.noise_g_max_s).clamp(min=_G_REL_FLOOR)
    a, b, lo, hi = target.drift_nu_mean_fit
    mu = (a * torch.log(g_rel) + b).clamp(min=lo, max=hi)
    a, b, lo, hi = target.drift_nu_sigma_fit
    sigma = (a * torch.log(g_rel) + b).clamp(min=lo, max=hi)
    return (mu + sigma * xi).abs() * target.drift_scale


def pcm_drift_nu(g_target_s: Tensor, target: PcmTarget, generator: torch.Generator) -> Tensor:
    """Per-device drift exponents nu = |mu(g) + sigma(g)*xi| * drift_scale.

    mu = clamp(-0.0155 ln(g/g_max) + 0.0244, 0.049, 0.1) and sigma = clamp(-0.0125
    ln(g/g_max) - 0.0059, 0.008, 0.045) by default: aihwkit PCMLikeNoiseModel's
    generate_drift_coefficients (fitted on PCM measurements, Nandakumar et al. 2019).
    """
    return _pcm_nu(g_target_s, target, _randn(g_target_s, generator))


def drift_conductances(g_prog_s: Tensor, nu: Tensor, t_inference_s: float, t0_s: float) -> Tensor:
    """PCM drift: g(t) = g_prog * ((t + t0)/t0)**(-nu).

    t_inference_s counts from the end of programming and the first read is at t0
    (20 s), so t = 0 means no drift; aihwkit PCMLikeNoiseModel's
    apply_drift_noise_to_conductance. Far from t0 this is g_prog*(t/t0)**(-nu):
    a straight line of slope -nu on log-log axes.
    """
    if t_inference_s <= 0.0:
        return g_prog_s.clone()
    return g_prog_s * ((t_inference_s + t0_s) / t0_s) ** (-nu)


def _rram_relax(
    g_prog: Tensor, g_target: Tensor, target: RramTarget, xi: Tensor, t_s: float
) -> Tensor:
    sigma_prog = rram_sigma_at_time_s(g_target, target, target.prog_noise_time_s)
    sigma_t = rram_sigma_at_time_s(g_target, target, t_s)
    extra = (sigma_t**2 - sigma_prog**2).clamp(min=0.0).sqrt()
    return (g_prog + target.prog_noise_scale * extra * xi).clamp(min=0.0)


def rram_relaxation(
    g_prog_s: Tensor,
    g_target_s: Tensor,
    target: RramTarget,
    generator: torch.Generator,
    t_inference_s: float,
) -> Tensor:
    """RRAM conductance relaxation after programming (Wan et al., Nature 2022).

    aihwkit's ReRamWan2022NoiseModel redraws the whole spread sigma_t(g_target) at
    each fitted time. anncc keeps the programmed device and adds the independent
    part that relaxation brings, sqrt(sigma_t**2 - sigma_1s**2) * xi, so the total
    spread at t equals the fit while a device keeps its programming error.
    Scaled, like the programming noise, by target.prog_noise_scale.
    """
    return _rram_relax(g_prog_s, g_target_s, target, _randn(g_prog_s, generator), t_inference_s)


def drift_compensation_readout(g_s: Tensor, g_ref_s: Tensor | None = None) -> float:
    """The global drift-compensation read of one array: mean |G - G_ref| over all cells.

    Physically: drive each row alone at V_read (aihwkit's one-hot "eye" read-out),
    take each column's current minus the reference column's, and average the
    magnitudes over rows and columns. `g_ref_s` is the reference column's
    conductances, broadcastable to `g_s` (e.g. shape [rows, 1]).
    """
    diff = g_s if g_ref_s is None else g_s - g_ref_s
    return float(diff.abs().mean().clamp(min=1e-30))


def global_drift_compensation_factor(
    g_t0_s: Tensor,
    g_t_s: Tensor,
    g_ref_t0_s: Tensor | None = None,
    g_ref_t_s: Tensor | None = None,
) -> float:
    """alpha = readout(t0) / readout(t): one scale per array for its digital outputs.

    Global drift compensation (Joshi et al., Nat. Commun. 11, 2473 (2020); aihwkit
    GlobalDriftCompensation): right after programming the chip records the
    read-out of `drift_compensation_readout`; at inference it repeats it and
    multiplies the array's outputs (after the ADC, before shift-add) by the ratio.
    This restores the array's mean conductance exactly; what remains is the
    device-to-device spread of nu and its level dependence.
    """
    return drift_compensation_readout(g_t0_s, g_ref_t0_s) / drift_compensation_readout(
        g_t_s, g_ref_t_s
    )


# ----------------------------------------------------------------------------
# stuck-at faults
# ----------------------------------------------------------------------------

FAULT_NONE, FAULT_STUCK_LOW, FAULT_STUCK_HIGH = 0, 1, 2


def _fault_map_from_uniform(u: Tensor, p_low: float, p_high: float) -> Tensor:
    fm = torch.zeros(u.shape, dtype=torch.uint8, device=u.device)
    fm[u < p_low] = FAULT_STUCK_LOW
    fm[(u >= p_low) & (u < p_low + p_high)] = FAULT_STUCK_HIGH
    return fm


def draw_fault_map(
    shape: Sequence[int],
    target: Target,
    generator: torch.Generator,
    stuck_at_low_rate: float | None = None,
    stuck_at_high_rate: float | None = None,
) -> Tensor:
    """A fault map (uint8: 0 none, 1 stuck at g_min, 2 stuck at g_max), cells independent.

    Rates default to the target's stuck_at_low_rate / stuck_at_high_rate
    (0 by default; 1 % each way in fault studies, DESIGN.md section 5).
    """
    p_low = target.stuck_at_low_rate if stuck_at_low_rate is None else stuck_at_low_rate
    p_high = target.stuck_at_high_rate if stuck_at_high_rate is None else stuck_at_high_rate
    u = torch.rand(tuple(shape), generator=generator, dtype=torch.float64)
    return _fault_map_from_uniform(u, p_low, p_high)


def apply_stuck_at_faults(g_s: Tensor, fault_map: Tensor, g_min_s: float, g_max_s: float) -> Tensor:
    """Cells marked 1 read g_min_s, cells marked 2 read g_max_s, the others are unchanged."""
    fm = torch.as_tensor(fault_map, device=g_s.device)
    if fm.shape != g_s.shape:
        raise ValueError(
            f"fault map shape {tuple(fm.shape)} != conductance shape {tuple(g_s.shape)}"
        )
    out = torch.where(fm == FAULT_STUCK_LOW, torch.full_like(g_s, g_min_s), g_s)
    return torch.where(fm == FAULT_STUCK_HIGH, torch.full_like(g_s, g_max_s), out)


# ----------------------------------------------------------------------------
# per-read noise
# ----------------------------------------------------------------------------


def pcm_read_noise_sigma_s(
    g_s: Tensor, target: PcmTarget, t_inference_s: float, g_prog_s: Tensor | None = None
) -> Tensor:
    """Accumulated 1/f read noise of PCM: sigma = |g| Q_s sqrt(ln((t + t_read)/(2 t_read))).

    Q_s = min(0.0088 / max((|g_prog|/g_max)**0.65, 1e-3), 0.2) and t = t_inference + t0:
    aihwkit PCMLikeNoiseModel.apply_drift_noise_to_conductance (Joshi et al., Nat.
    Commun. 11, 2473 (2020), DOI 10.1038/s41467-020-16108-9). Q_s is evaluated at the
    programmed conductance `g_prog_s` (default `g_s`), g_max is the device window's
    (`target.noise_g_max_s`). It is the noise accumulated from programming up to the
    read: `pcm_accumulated_noise` draws it once per chip and inference time.
    """
    t = t_inference_s + target.drift_t0_s
    g_q = g_s if g_prog_s is None else g_prog_s
    g_rel = (g_q.abs() / target.noise_g_max_s) ** target.read_noise_q_exponent
    q_s = (target.read_noise_q_coeff / g_rel.clamp(min=_Q_FLOOR)).clamp(max=target.read_noise_q_max)
    growth = math.sqrt(math.log((t + target.t_read_s) / (2.0 * target.t_read_s)))
    return target.read_noise_scale * g_s.abs() * q_s * growth


def _accumulate_pcm(g_t: Tensor, g_prog: Tensor, target: Target, xi: Tensor, t: float) -> Tensor:
    assert isinstance(target, PcmTarget)
    return (g_t + pcm_read_noise_sigma_s(g_t, target, t, g_prog) * xi).clamp(min=0.0)


def pcm_accumulated_noise(
    g_t_s: Tensor,
    g_prog_s: Tensor,
    target: PcmTarget,
    generator: torch.Generator,
    t_inference_s: float,
) -> Tensor:
    """The static conductance error PCM's 1/f noise has accumulated by `t_inference_s`.

    g = clamp(g_t + sigma * xi, 0), sigma of `pcm_read_noise_sigma_s`, xi drawn ONCE
    per device and inference time: aihwkit's `drift_analog_weights(t_inference)` adds
    it to the weights once, and every later read (every input plane, every vector)
    sees the same error until the next inference time. Drawing it afresh per
    bit-plane read would average it away over the planes.
    """
    return _accumulate_pcm(g_t_s, g_prog_s, target, _randn(g_t_s, generator), t_inference_s)


def read_noise_sigma_s(g_s: Tensor, target: Target, t_inference_s: float = 0.0) -> Tensor:
    """Per-read sigma of each cell's conductance (independent sources in quadrature).

    read_noise_sigma_rel * |g| (MTJ: thermal + shot noise, ~0.1 %), plus
    read_noise_sigma_gmax_rel * g_max of the device window (RRAM: ~1 % of g_max,
    aihwkit's advice), plus a cell kind's own per-read term (`DeviceModel.read_sigma`).
    PCM's 1/f noise is not per read: it is a static error drawn once per inference
    time (`pcm_accumulated_noise`, `DeviceModel.accumulated`).
    """
    var = (target.read_noise_sigma_rel * g_s.abs()) ** 2 + (
        target.read_noise_sigma_gmax_rel * target.noise_g_max_s
    ) ** 2
    extra = DEVICE_MODELS[target.cell_kind].read_sigma
    if extra is not None:
        var = var + extra(g_s, target, t_inference_s) ** 2
    return var.sqrt()


def read_conductances(
    g_s: Tensor, target: Target, generator: torch.Generator, t_inference_s: float = 0.0
) -> Tensor:
    """The conductances one read sees: g + sigma_read(g)*xi, xi fresh per call, clipped at 0.

    Call once per array read (cycle-to-cycle noise). One standard-normal tensor of
    g's shape is drawn per call. PCM's 1/f noise is already in `g_s` when it comes
    from `program_array` (drawn once per inference time).
    """
    return (g_s + read_noise_sigma_s(g_s, target, t_inference_s) * _randn(g_s, generator)).clamp(
        min=0.0
    )


# ----------------------------------------------------------------------------
# bias-dependent MTJ TMR
# ----------------------------------------------------------------------------


def _mtj_parts(
    levels: Tensor,
    v_cell_v: Tensor,
    target: MtjTarget,
    g_range_s: tuple[float, float] | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(f, G(v_read), G_AP(V), dG_AP/dV) of each cell's nominal device.

    f is the parallel fraction of the free layer that puts the nominal cell at its
    level's conductance (within the array's range) at the read bias.
    """
    g_read = ideal_conductances(levels, target, torch.float64, g_range_s)
    f = (g_read - target.g_min_s) / (target.g_max_s - target.g_min_s)
    tmr = tmr_at_bias(v_cell_v, target.tmr0, target.tmr_v_half_v)
    g_ap = 1.0 / (target.r_p_ohm * (1.0 + tmr))
    dtmr_dv = tmr_at_bias_derivative(v_cell_v, target.tmr0, target.tmr_v_half_v)
    dg_ap_dv = -(g_ap**2) * target.r_p_ohm * dtmr_dv
    return f, g_read, g_ap, dg_ap_dv


def mtj_conductance_at_bias(
    g_read_s: Tensor,
    levels: Tensor,
    v_cell_v: Tensor,
    target: MtjTarget,
    g_range_s: tuple[float, float] | None = None,
) -> Tensor:
    """Each cell's conductance at its own bias V, from its conductance at v_read_v.

    A cell whose free layer is a fraction f = level/(levels-1) parallel conducts
    G(V) = f/R_P + (1-f)/R_AP(V) (binary: f is 0 or 1; domain wall: a parallel
    pair). Device variation is a factor on the whole cell, so
    G_cell(V) = g_read * G(V)/G(v_read). Stuck cells: pass the stuck level.
    `g_range_s` as in `ideal_conductances`.
    """
    v = torch.as_tensor(v_cell_v, dtype=torch.float64)
    f, g_nominal_read, g_ap, _ = _mtj_parts(levels, v, target, g_range_s)
    g_nominal_v = f / target.r_p_ohm + (1.0 - f) * g_ap
    return g_read_s * g_nominal_v / g_nominal_read


def mtj_cell_current(
    v_cell_v: Tensor,
    g_read_s: Tensor,
    levels: Tensor,
    target: MtjTarget,
    g_range_s: tuple[float, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """(I, dI/dV) of each MTJ at its bias: I = G(V)*V, for Newton steps on the array.

    dI/dV = G(V) + V * dG/dV with dG_AP/dV = G_AP**2 * R_P * TMR0 * 2V/V_h**2 / (1 + (V/V_h)**2)**2.
    """
    v = torch.as_tensor(v_cell_v, dtype=torch.float64)
    f, g_nominal_read, g_ap, dg_ap_dv = _mtj_parts(levels, v, target, g_range_s)
    scale = g_read_s / g_nominal_read
    g = scale * (f / target.r_p_ohm + (1.0 - f) * g_ap)
    dg_dv = scale * (1.0 - f) * dg_ap_dv
    return g * v, g + v * dg_dv


# ----------------------------------------------------------------------------
# op-amp summers (cmos)
# ----------------------------------------------------------------------------


def draw_opamp_offsets_v(
    shape: Sequence[int], target: CmosTarget, generator: torch.Generator
) -> Tensor:
    """Input offset voltage of each op-amp: Gaussian, sigma = opamp_offset_sigma_v, fixed per part."""
    xi = torch.randn(tuple(shape), generator=generator, dtype=torch.float64)
    return target.opamp_offset_sigma_v * xi


def opamp_output_v(
    i_column_a: Tensor, g_column_sum_s: Tensor, offset_v: Tensor | float, target: CmosTarget
) -> Tensor:
    """Inverting transimpedance summer: V_out = -R_f*I + V_os*(1 + R_f*sum G), clipped to the rails.

    The offset is amplified by the noise gain 1 + R_f/(R_1 || ... || R_n) of the
    summer (standard op-amp analysis); the output saturates at
    [opamp_rail_low_v, opamp_rail_high_v].
    """
    r_f = target.r_feedback_ohm
    v = -r_f * i_column_a + offset_v * (1.0 + r_f * g_column_sum_s)
    return v.clamp(min=target.opamp_rail_low_v, max=target.opamp_rail_high_v)


def opamp_counts(
    i_column_a: Tensor, g_column_sum_s: Tensor, offset_v: Tensor | float, target: CmosTarget
) -> Tensor:
    """The summer's output in unit counts for the ADC: -V_out / (R_f * unit_current_a)."""
    v = opamp_output_v(i_column_a, g_column_sum_s, offset_v, target)
    return -v / (target.r_feedback_ohm * target.unit_current_a)


# ----------------------------------------------------------------------------
# converters
# ----------------------------------------------------------------------------


# ----------------------------------------------------------------------------
# the technologies' models, and the composition
# ----------------------------------------------------------------------------

ProgramFn = Callable[[Tensor, Target, Tensor], Tensor]
# (g_prog, g_target, target, xi, t_inference_s) -> (g_t, nu or None)
AgeFn = Callable[[Tensor, Tensor, Target, Tensor, float], tuple[Tensor, Tensor | None]]
ReadSigmaFn = Callable[[Tensor, Target, float], Tensor]
# (g_t, g_prog, target, xi, t_inference_s) -> g_t with the noise accumulated up to the read
AccumulatedFn = Callable[[Tensor, Tensor, Target, Tensor, float], Tensor]


@dataclass(frozen=True)
class DeviceModel:
    """How one cell kind is programmed, ages and adds read noise beyond the common terms.

    `read_sigma`: a per-read sigma (drawn afresh on every read); `accumulated`: noise
    accumulated from programming up to the inference time, a static error drawn once
    per chip and inference time (PCM's 1/f noise), switched by the `read_noise` option.
    """

    program: ProgramFn
    age: AgeFn | None = None
    read_sigma: ReadSigmaFn | None = None
    accumulated: AccumulatedFn | None = None


def _age_pcm(
    g_prog: Tensor, g_target: Tensor, target: Target, xi: Tensor, t: float
) -> tuple[Tensor, Tensor | None]:
    assert isinstance(target, PcmTarget)
    nu = _pcm_nu(g_target, target, xi)
    return drift_conductances(g_prog, nu, t, target.drift_t0_s), nu


def _age_rram(
    g_prog: Tensor, g_target: Tensor, target: Target, xi: Tensor, t: float
) -> tuple[Tensor, Tensor | None]:
    assert isinstance(target, RramTarget)
    return _rram_relax(g_prog, g_target, target, xi, t), None


DEVICE_MODELS: dict[str, DeviceModel] = {
    "binary-mtj": DeviceModel(program=_program_identity),
    "domain-wall-mtj": DeviceModel(program=_program_domain_wall),
    "rram": DeviceModel(program=_program_rram, age=_age_rram),
    "pcm": DeviceModel(program=_program_pcm, age=_age_pcm, accumulated=_accumulate_pcm),
    "resistor": DeviceModel(program=_program_resistor),
}


def register_device_model(cell_kind: str, model: DeviceModel) -> None:
    """Add the device model of a new cell kind (e.g. the planned ns-ram target)."""
    DEVICE_MODELS[cell_kind] = model


@dataclass(frozen=True)
class ProgrammedArray:
    """One programmed array: its devices at the inference time and right after programming.

    `g_s` are the conductances at `t_inference_s`; `g_t0_s` the same devices at
    t = 0 (the drift-compensation reference); `fault_map` the stuck cells
    (uint8, 0/1/2); `nu` the PCM drift exponents (None for other technologies).
    """

    g_s: Tensor
    g_t0_s: Tensor
    fault_map: Tensor
    nu: Tensor | None
    t_inference_s: float

    def drift_compensation_factor(self, reference: ProgrammedArray | None = None) -> float:
        """`global_drift_compensation_factor` of this array (and its reference column)."""
        ref_t0 = None if reference is None else reference.g_t0_s
        ref_t = None if reference is None else reference.g_s
        return global_drift_compensation_factor(self.g_t0_s, self.g_s, ref_t0, ref_t)


def program_array(
    levels: Tensor | np.ndarray,
    target: Target,
    generator: torch.Generator,
    t_inference_s: float = 0.0,
    fault_map: Tensor | np.ndarray | None = None,
    *,
    prog_noise: bool = True,
    d2d: bool = True,
    drift: bool = True,
    faults: bool = True,
    read_noise: bool = True,
    dtype: torch.dtype = torch.float64,
    g_range_s: tuple[float, float] | None = None,
) -> ProgrammedArray:
    """Program integer levels into devices and age them to `t_inference_s` seconds.

    Composition, in order: the technology's programming step (`programming_noise`),
    device-to-device variation (`device_to_device_variation`, d2d_sigma_rel),
    time (PCM drift with per-device nu, RRAM relaxation), the noise accumulated
    up to the read (PCM 1/f, `pcm_accumulated_noise`: drawn once, so every read of
    these devices sees it; switched by `read_noise`), stuck-at faults
    (`fault_map` if given, else one drawn from the target's rates). Each switch
    turns one effect off (`faults=False` ignores `fault_map` too) without
    changing the random draws of the others. The accumulated noise's draw is a
    fourth standard-normal tensor, after the uniform one.

    `g_range_s` places the levels in the array's own conductance range (see
    `ideal_conductances`); the noise models stay those of the device (in absolute
    siemens against `target.noise_window_s`), and stuck cells take the device's
    g_min_s / g_max_s.
    """
    g_target = ideal_conductances(levels, target, dtype, g_range_s)
    shape = g_target.shape
    # Drawn in float64 whatever `dtype`, so a seed gives the same devices in any precision.
    xi_prog, xi_d2d, xi_time = (
        torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype) for _ in range(3)
    )
    u_fault = torch.rand(shape, generator=generator, dtype=torch.float64)
    xi_accum = torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)

    model = DEVICE_MODELS[target.cell_kind]
    g = model.program(g_target, target, xi_prog) if prog_noise else g_target.clone()
    if d2d and target.d2d_sigma_rel > 0.0:
        g = _d2d(g, target.d2d_sigma_rel, xi_d2d)
    g_t0 = g
    nu = None
    if drift and model.age is not None:
        g, nu = model.age(g_t0, g_target, target, xi_time, t_inference_s)
    if read_noise and model.accumulated is not None:
        g = model.accumulated(g, g_t0, target, xi_accum, t_inference_s)

    if not faults:
        fm = torch.zeros(shape, dtype=torch.uint8)
    else:
        if fault_map is not None:
            fm = torch.as_tensor(fault_map).to(torch.uint8)
        else:
            fm = _fault_map_from_uniform(
                u_fault, target.stuck_at_low_rate, target.stuck_at_high_rate
            )
        g = apply_stuck_at_faults(g, fm, target.g_min_s, target.g_max_s)
        g_t0 = apply_stuck_at_faults(g_t0, fm, target.g_min_s, target.g_max_s)
    return ProgrammedArray(g_s=g, g_t0_s=g_t0, fault_map=fm, nu=nu, t_inference_s=t_inference_s)


def program_conductances(
    levels: Tensor | np.ndarray,
    target: Target,
    generator: torch.Generator,
    t_inference_s: float = 0.0,
    fault_map: Tensor | np.ndarray | None = None,
    *,
    prog_noise: bool = True,
    d2d: bool = True,
    drift: bool = True,
    faults: bool = True,
    read_noise: bool = True,
    dtype: torch.dtype = torch.float64,
    g_range_s: tuple[float, float] | None = None,
) -> Tensor:
    """The conductances (siemens) of `program_array(...)` at `t_inference_s`."""
    return program_array(
        levels,
        target,
        generator,
        t_inference_s,
        fault_map,
        prog_noise=prog_noise,
        d2d=d2d,
        drift=drift,
        faults=faults,
        read_noise=read_noise,
        dtype=dtype,
        g_range_s=g_range_s,
    ).g_s


__all__ = [
    "DEVICE_MODELS",
    "FAULT_NONE",
    "FAULT_STUCK_HIGH",
    "FAULT_STUCK_LOW",
    "DeviceModel",
    "ProgrammedArray",
    "apply_stuck_at_faults",
    "device_to_device_variation",
    "draw_fault_map",
    "draw_opamp_offsets_v",
    "drift_compensation_readout",
    "drift_conductances",
    "global_drift_compensation_factor",
    "ideal_conductances",
    "mtj_cell_current",
    "mtj_conductance_at_bias",
    "opamp_counts",
    "opamp_output_v",
    "pcm_accumulated_noise",
    "pcm_drift_nu",
    "pcm_programming_sigma_s",
    "pcm_read_noise_sigma_s",
    "poly_sigma_s",
    "program_array",
    "program_conductances",
    "programming_noise",
    "read_conductances",
    "read_noise_sigma_s",
    "register_device_model",
    "rram_relaxation",
    "rram_sigma_at_time_s",
]
