"""Device physics of the runtime: each non-ideality follows its published equation,
its statistics match the fitted sigma, and a seed fixes the devices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from anncc.ir.contract import tmr_at_bias, tmr_at_bias_derivative
from anncc.runtime import devices as dev
from anncc.targets import get_target, load_target


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def full(level: int, n: int = 100_000) -> torch.Tensor:
    return torch.full((n,), level, dtype=torch.int64)


def random_levels(target, shape=(64, 64), seed=1) -> torch.Tensor:
    return torch.randint(0, target.levels, shape, generator=gen(seed))


# -- determinism -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sot-mtj", "sot-mtj-dw", "rram", "pcm", "cmos"])
def test_a_seed_fixes_the_devices_and_their_reads(name):
    t = get_target(name).with_fault_study_rates()
    lv = random_levels(t)
    a = dev.program_array(lv, t, gen(7), t_inference_s=3600.0)
    b = dev.program_array(lv, t, gen(7), t_inference_s=3600.0)
    c = dev.program_array(lv, t, gen(8), t_inference_s=3600.0)
    assert torch.equal(a.g_s, b.g_s) and torch.equal(a.fault_map, b.fault_map)
    assert not torch.equal(a.g_s, c.g_s)
    r1 = dev.read_conductances(a.g_s, t, gen(3), 3600.0)
    r2 = dev.read_conductances(a.g_s, t, gen(3), 3600.0)
    assert torch.equal(r1, r2)


def test_switching_an_effect_off_keeps_the_other_draws():
    t = get_target("sot-mtj-dw")
    lv = random_levels(t)
    ideal = dev.ideal_conductances(lv, t)
    both = dev.program_conductances(lv, t, gen(4))
    no_d2d = dev.program_conductances(lv, t, gen(4), d2d=False)
    no_prog = dev.program_conductances(lv, t, gen(4), prog_noise=False)
    # the d2d factor a device gets is the same with or without programming noise
    torch.testing.assert_close(both / no_d2d, no_prog / ideal, rtol=1e-12, atol=0)


def test_the_same_devices_at_any_inference_time_and_precision():
    t = get_target("pcm")
    lv = random_levels(t)
    a = dev.program_array(lv, t, gen(2), t_inference_s=0.0)
    b = dev.program_array(lv, t, gen(2), t_inference_s=86400.0)
    assert torch.equal(a.g_t0_s, b.g_t0_s) and torch.equal(a.nu, b.nu)
    c = dev.program_conductances(lv, t, gen(2), 86400.0, dtype=torch.float32)
    torch.testing.assert_close(c.double(), b.g_s, rtol=1e-5, atol=1e-12)


def test_all_effects_off_gives_the_ideal_conductances():
    for name in ["sot-mtj", "rram", "pcm"]:
        t = get_target(name).with_fault_study_rates()
        lv = random_levels(t)
        g = dev.program_conductances(
            lv, t, gen(), 1e5, prog_noise=False, d2d=False, drift=False, faults=False,
            read_noise=False,
        )
        torch.testing.assert_close(g, dev.ideal_conductances(lv, t), rtol=0, atol=0)


def test_levels_out_of_range_are_refused():
    with pytest.raises(ValueError, match="out of range"):
        dev.ideal_conductances(torch.tensor([2]), get_target("sot-mtj"))


def test_an_array_conductance_range_moves_the_levels():
    t = get_target("rram")
    g = dev.ideal_conductances(torch.arange(4), t, g_range_s=(1e-6, 10e-6))
    torch.testing.assert_close(g, torch.tensor([1e-6, 4e-6, 7e-6, 10e-6], dtype=torch.float64))


# -- programming noise statistics ----------------------------------------------------


@pytest.mark.parametrize("level", [1, 2, 3])
def test_pcm_programming_noise_has_the_aihwkit_sigma(level):
    t = get_target("pcm")
    lv = full(level)
    g_target = dev.ideal_conductances(lv, t)
    g = dev.program_conductances(lv, t, gen(level), d2d=False, drift=False, read_noise=False)
    x = g_target[0].item() / t.g_max_s
    c0, c1, c2 = t.prog_noise_poly_s
    sigma = c0 + c1 * x + c2 * x * x  # uS polynomial of aihwkit, g_max = reference
    assert float((g - g_target).std()) == pytest.approx(sigma, rel=0.01)
    assert abs(float((g - g_target).mean())) < 4 * sigma / math.sqrt(lv.numel())


@pytest.mark.parametrize("level", [1, 2, 3])
def test_rram_programming_noise_and_relaxation_have_the_wan_2022_sigma(level):
    t = get_target("rram")
    lv = full(level)
    g_target = dev.ideal_conductances(lv, t)
    x = g_target[0].item() / t.g_max_s

    def poly(c):
        return sum(ci * x**i for i, ci in enumerate(c))

    g_1s = dev.program_conductances(lv, t, gen(level), d2d=False)
    assert float((g_1s - g_target).std()) == pytest.approx(poly(t.prog_noise_poly_s), rel=0.01)
    g_1d = dev.program_conductances(lv, t, gen(level), t_inference_s=86400.0, d2d=False)
    sigma_1d = max(poly(t.relaxation_poly_s[86400.0]), poly(t.prog_noise_poly_s))
    assert float((g_1d - g_target).std()) == pytest.approx(sigma_1d, rel=0.01)


def test_rram_sigma_interpolates_in_log_time_between_fits():
    t = get_target("rram")
    g = torch.tensor([20e-6], dtype=torch.float64)
    s1 = dev.rram_sigma_at_time_s(g, t, 86400.0)
    s2 = dev.rram_sigma_at_time_s(g, t, 172800.0)
    mid = dev.rram_sigma_at_time_s(g, t, math.sqrt(86400.0 * 172800.0))
    torch.testing.assert_close(mid, (s1 + s2) / 2)
    torch.testing.assert_close(dev.rram_sigma_at_time_s(g, t, 1e7), s2)
    torch.testing.assert_close(
        dev.rram_sigma_at_time_s(g, t, 0.1), dev.rram_sigma_at_time_s(g, t, 1.0)
    )


def test_mtj_device_to_device_variation_is_the_relative_sigma_of_r():
    t = get_target("sot-mtj")
    for level in (0, 1):
        lv = full(level)
        g = dev.program_conductances(lv, t, gen(level))
        r_rel = (1.0 / g) * dev.ideal_conductances(lv, t)
        assert float(r_rel.std()) == pytest.approx(t.d2d_sigma_rel, rel=0.02)
        assert float(r_rel.median()) == pytest.approx(1.0, abs=1e-3)


def test_domain_wall_programming_noise_is_a_fraction_of_a_level_step():
    t = load_target("sot-mtj-dw", d2d_sigma_rel=0.0)
    lv = full(2)
    g = dev.program_conductances(lv, t, gen())
    spread = float((g - dev.ideal_conductances(lv, t)).std())
    assert spread == pytest.approx(t.dw_level_sigma_steps * t.delta_g_s, rel=0.01)


def test_cmos_programs_the_nearest_e96_resistors_then_their_tolerance():
    t = get_target("cmos")
    lv = torch.arange(t.levels)
    g = dev.program_conductances(lv, t, gen(), d2d=False)
    np.testing.assert_allclose(g.numpy(), t.e96_level_conductances(lv.numpy()), rtol=1e-12)
    many = dev.program_conductances(full(5), t, gen())
    assert float((many / g[5]).std()) == pytest.approx(t.d2d_sigma_rel, rel=0.02)


# -- drift and its compensation -----------------------------------------------------


def test_pcm_drift_follows_the_power_law_with_each_device_s_nu():
    t = get_target("pcm")
    lv = random_levels(t, (32, 32))
    times = [0.0, 100.0, 1e3, 1e4, 1e5, 1e6]
    arrs = [dev.program_array(lv, t, gen(5), ti, read_noise=False) for ti in times]
    g0 = arrs[0].g_s
    for ti, a in zip(times[1:], arrs[1:]):
        expected = g0 * ((ti + t.drift_t0_s) / t.drift_t0_s) ** (-a.nu)
        torch.testing.assert_close(a.g_s, expected, rtol=1e-12, atol=0)
    # log-log slope between two late times is -nu for every device
    on = g0 > 0
    slope = (torch.log(arrs[-1].g_s[on]) - torch.log(arrs[-2].g_s[on])) / math.log(
        (1e6 + 20) / (1e5 + 20)
    )
    torch.testing.assert_close(slope, -arrs[-1].nu[on], rtol=1e-9, atol=1e-12)


def test_drift_exponents_have_the_aihwkit_mean():
    t = get_target("pcm")
    g = torch.full((200_000,), t.g_max_s, dtype=torch.float64)
    nu = dev.pcm_drift_nu(g, t, gen())
    assert float(nu.mean()) == pytest.approx(0.049, abs=5e-4)  # clamp(0.0244) -> 0.049
    assert float(nu.std()) == pytest.approx(0.008, rel=0.03)
    g_low = g * math.exp(-2.0)  # mu = 0.0155*2 + 0.0244, sigma = 0.0125*2 - 0.0059
    nu_low = dev.pcm_drift_nu(g_low, t, gen(1))
    assert float(nu_low.mean()) == pytest.approx(0.0554, abs=5e-4)
    assert float(nu_low.std()) == pytest.approx(0.0191, rel=0.03)


def test_drift_is_none_at_time_zero_and_monotone_after():
    g = torch.tensor([10e-6, 20e-6], dtype=torch.float64)
    nu = torch.tensor([0.05, 0.1], dtype=torch.float64)
    assert torch.equal(dev.drift_conductances(g, nu, 0.0, 20.0), g)
    g1 = dev.drift_conductances(g, nu, 1e3, 20.0)
    g2 = dev.drift_conductances(g, nu, 1e4, 20.0)
    assert torch.all(g2 < g1) and torch.all(g1 < g)
    torch.testing.assert_close(g1, g * (1020.0 / 20.0) ** (-nu))


def test_global_drift_compensation_restores_the_mean_output():
    t = get_target("pcm")
    lv = random_levels(t, (256, 256), seed=3)
    a = dev.program_array(lv, t, gen(9), t_inference_s=86400.0)
    alpha = a.drift_compensation_factor()
    assert alpha > 1.2  # a day of drift loses over 15 % of the conductance
    assert float(alpha * a.g_s.mean()) == pytest.approx(float(a.g_t0_s.mean()), rel=1e-9)
    x = (torch.rand((512, 256), generator=gen(4)) < 0.5).double()
    y_t0, y_t = x @ a.g_t0_s, x @ a.g_s
    assert float((alpha * y_t).mean()) == pytest.approx(float(y_t0.mean()), rel=0.01)
    assert float(y_t.mean()) < 0.85 * float(y_t0.mean())


def test_drift_compensation_subtracts_the_reference_column():
    g_t0 = torch.tensor([[3.0, 5.0], [2.0, 4.0]], dtype=torch.float64)
    ref_t0 = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    assert dev.drift_compensation_readout(g_t0, ref_t0) == pytest.approx((2 + 4 + 1 + 3) / 4)
    alpha = dev.global_drift_compensation_factor(g_t0, g_t0 / 2, ref_t0, ref_t0 / 2)
    assert alpha == pytest.approx(2.0)


# -- read noise ------------------------------------------------------------------------


def test_pcm_read_noise_is_aihwkit_s_1_over_f_law():
    t = get_target("pcm")
    g = torch.full((200_000,), 12.5e-6, dtype=torch.float64)
    t_inf = 3600.0
    noisy = dev.pcm_accumulated_noise(g, g, t, gen(), t_inference_s=t_inf)
    q_s = min(0.0088 / max(0.5**0.65, 1e-3), 0.2)
    t_total = t_inf + 20.0
    sigma = 12.5e-6 * q_s * math.sqrt(math.log((t_total + 250e-9) / (2 * 250e-9)))
    assert float((noisy - g).std()) == pytest.approx(sigma, rel=0.01)
    later = dev.pcm_read_noise_sigma_s(g[:1], t, 1e6)
    assert float(later) > sigma  # accumulated 1/f noise grows with time
    # it is not per-read noise: a read of the devices adds nothing (PCM has no other term)
    assert torch.equal(dev.read_conductances(noisy, t, gen(1), t_inf), noisy)


def test_pcm_1_over_f_noise_is_one_static_error_per_inference_time():
    """aihwkit (Joshi et al. 2020) draws the accumulated 1/f noise once per inference time:
    the programmed array carries it, and it does not change the other effects' draws."""
    t = get_target("pcm")
    lv = random_levels(t)
    with_n = dev.program_array(lv, t, gen(3), 3600.0)
    without = dev.program_array(lv, t, gen(3), 3600.0, read_noise=False)
    assert torch.equal(with_n.g_t0_s, without.g_t0_s)  # programming, d2d: the same devices
    assert torch.equal(with_n.nu, without.nu)
    rel = (with_n.g_s - without.g_s)[lv > 0] / without.g_s[lv > 0]
    assert 0.02 < float(rel.std()) < 0.2  # Q_s ~ 1-3 % times sqrt(ln(t/2t_read)) ~ 4.5


def test_each_read_draws_fresh_noise_of_the_given_sigma():
    t = get_target("sot-mtj")
    g = torch.full((200_000,), t.g_max_s, dtype=torch.float64)
    r1 = dev.read_conductances(g, t, gen(1))
    r2 = dev.read_conductances(g, t, gen(2))
    assert not torch.equal(r1, r2)
    assert float((r1 / g - 1).std()) == pytest.approx(t.read_noise_sigma_rel, rel=0.02)
    rram = get_target("rram")
    g = torch.full((200_000,), 10e-6, dtype=torch.float64)
    spread = float((dev.read_conductances(g, rram, gen()) - g).std())
    assert spread == pytest.approx(0.01 * rram.g_max_s, rel=0.02)


# -- stuck-at faults --------------------------------------------------------------------


def test_stuck_at_faults_set_g_min_and_g_max():
    t = get_target("rram")
    lv = random_levels(t, (8, 8))
    fm = torch.zeros((8, 8), dtype=torch.uint8)
    fm[0, :] = dev.FAULT_STUCK_LOW
    fm[1, :] = dev.FAULT_STUCK_HIGH
    a = dev.program_array(lv, t, gen(), 86400.0, fault_map=fm)
    assert torch.all(a.g_s[0] == t.g_min_s) and torch.all(a.g_s[1] == t.g_max_s)
    assert torch.all(a.g_t0_s[1] == t.g_max_s)
    clean = dev.program_array(lv, t, gen(), 86400.0)
    assert torch.equal(a.g_s[2:], clean.g_s[2:])
    off = dev.program_array(lv, t, gen(), 86400.0, fault_map=fm, faults=False)
    assert torch.equal(off.g_s, clean.g_s)


def test_drawn_fault_maps_have_the_fault_study_rates():
    t = get_target("sot-mtj").with_fault_study_rates()
    fm = dev.draw_fault_map((1000, 1000), t, gen())
    assert fm.dtype == torch.uint8
    assert float((fm == 1).double().mean()) == pytest.approx(0.01, abs=5e-4)
    assert float((fm == 2).double().mean()) == pytest.approx(0.01, abs=5e-4)
    a = dev.program_array(torch.ones((500, 500), dtype=torch.int64), t, gen(1))
    stuck = a.fault_map == dev.FAULT_STUCK_LOW
    assert torch.all(a.g_s[stuck] == t.g_min_s) and 0.008 < float(stuck.double().mean()) < 0.012


# -- bias-dependent TMR ---------------------------------------------------------------------


def test_tmr_falls_with_bias_as_the_formula():
    t = get_target("sot-mtj")
    v = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    tmr = tmr_at_bias(v, t.tmr0, t.tmr_v_half_v)
    torch.testing.assert_close(tmr, t.tmr0 / (1 + (v / 0.5) ** 2))
    assert torch.all(tmr[1:] < tmr[:-1])
    assert float(tmr_at_bias(0.5, 1.0, 0.5)) == pytest.approx(0.5)
    assert t.r_ap_at_bias_ohm(0.0) == pytest.approx(t.r_ap_ohm)
    h = 1e-6
    fd = (tmr_at_bias(0.3 + h, 1.0, 0.5) - tmr_at_bias(0.3 - h, 1.0, 0.5)) / (2 * h)
    assert tmr_at_bias_derivative(0.3, 1.0, 0.5) == pytest.approx(fd, rel=1e-6)


def test_mtj_conductance_at_bias_moves_only_the_antiparallel_part():
    t = get_target("sot-mtj")
    lv = torch.tensor([0, 1, 0, 1])
    g_read = dev.program_conductances(lv, t, gen())  # with d2d variation
    same = dev.mtj_conductance_at_bias(g_read, lv, torch.full((4,), t.v_read_v), t)
    torch.testing.assert_close(same, g_read)
    hi = dev.mtj_conductance_at_bias(g_read, lv, torch.full((4,), 0.25), t)
    torch.testing.assert_close(hi[1::2], g_read[1::2])  # R_P does not depend on bias
    ratio = hi[0::2] / g_read[0::2]
    expected = t.r_ap_at_bias_ohm(t.v_read_v) / t.r_ap_at_bias_ohm(0.25)
    torch.testing.assert_close(ratio, torch.full((2,), expected, dtype=torch.float64))
    assert expected > 1.0  # the AP state conducts more at higher bias


def test_mtj_current_jacobian_matches_finite_differences():
    t = get_target("sot-mtj-dw")
    lv = torch.tensor([0, 1, 2, 3])
    g_read = dev.ideal_conductances(lv, t)
    v = torch.tensor([0.05, 0.1, 0.2, 0.4], dtype=torch.float64)
    i, di = dev.mtj_cell_current(v, g_read, lv, t)
    h = 1e-7
    i_hi, _ = dev.mtj_cell_current(v + h, g_read, lv, t)
    i_lo, _ = dev.mtj_cell_current(v - h, g_read, lv, t)
    torch.testing.assert_close(di, (i_hi - i_lo) / (2 * h), rtol=1e-6, atol=0)
    torch.testing.assert_close(i, dev.mtj_conductance_at_bias(g_read, lv, v, t) * v)


# -- op-amps and converters -------------------------------------------------------------------


def test_opamp_summer_adds_the_amplified_offset_and_clips_at_the_rails():
    t = get_target("cmos")
    r_f = t.r_feedback_ohm
    i = torch.tensor([100e-6, 1.0], dtype=torch.float64)
    g_sum = torch.tensor([1e-4, 1e-4], dtype=torch.float64)
    v = dev.opamp_output_v(i, g_sum, 1e-3, t)
    assert float(v[0]) == pytest.approx(-r_f * 100e-6 + 1e-3 * (1 + r_f * 1e-4))
    assert float(v[1]) == t.opamp_rail_low_v
    counts = dev.opamp_counts(i, g_sum, 0.0, t)
    assert float(counts[0]) == pytest.approx(100e-6 / t.unit_current_a)
    assert float(counts[1]) == pytest.approx(-t.opamp_rail_low_v / (r_f * t.unit_current_a))
    offsets = dev.draw_opamp_offsets_v((100_000,), t, gen())
    assert float(offsets.std()) == pytest.approx(t.opamp_offset_sigma_v, rel=0.02)
