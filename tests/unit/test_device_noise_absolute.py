"""Device noise is in absolute conductance (siemens of the device's measured window), PCM's
accumulated 1/f noise is one static error per inference time, and the access transistor is a
series resistor in every cell (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_ir import cell_array, random_inputs, random_weights

from anncc.runtime import analog as A
from anncc.runtime import devices as dev
from anncc.runtime.chip import level_tables
from anncc.runtime.interpreter import ExecContext
from anncc.targets import get_target


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def narrowed(name: str, factor: float = 8.0):
    """The device, and the same device used over a g_max `factor` times lower (one array)."""
    t = get_target(name)
    return t, A.array_target(t, t.g_min_s, t.g_max_s / factor)


@pytest.mark.parametrize("name,factor", [("rram", 8.0), ("pcm", 8.0), ("sot-mtj-dw", 2.0)])
def test_lowering_g_max_8x_keeps_the_absolute_programming_sigma(name, factor):
    """8x for RRAM and PCM; a domain-wall MTJ's window (R_AP/R_P = 4) allows only 2x."""
    t, a = narrowed(name, factor)
    assert a.g_max_s == pytest.approx(t.g_max_s / factor) and a.noise_g_max_s == t.g_max_s
    g = dev.ideal_conductances(torch.arange(a.levels), a)  # the narrow array's levels, siemens
    ones = torch.ones_like(g)
    prog = dev.DEVICE_MODELS[a.cell_kind].program
    sigma_array = prog(g, a, ones) - prog(g, a, 0 * ones)
    sigma_device = prog(g, t, ones) - prog(g, t, 0 * ones)  # the device at the same siemens
    torch.testing.assert_close(sigma_array, sigma_device, rtol=1e-12, atol=0)
    # the chip's per-level tables (what programming uses) say the same
    tab = level_tables(a, 0.0, True)
    torch.testing.assert_close(tab.sigma, sigma_device, rtol=1e-12, atol=1e-18)
    # ... so relative to the array's level step the noise is larger (it was equal when sigma
    # scaled with the chosen g_max)
    full = level_tables(t, 0.0, True)
    ratio = float(tab.sigma.max() / a.delta_g_s) / float(full.sigma.max() / t.delta_g_s)
    assert ratio > (2.0 if factor == 8.0 else 1.5)


def test_lowering_g_max_8x_keeps_the_absolute_read_and_drift_noise():
    t, a = narrowed("rram")
    g = torch.full((4,), 3e-6, dtype=torch.float64)
    torch.testing.assert_close(dev.read_noise_sigma_s(g, a), dev.read_noise_sigma_s(g, t))
    assert float(dev.read_noise_sigma_s(g, a)[0]) == pytest.approx(0.01 * 40e-6)
    relax_a = dev.rram_sigma_at_time_s(g, a, 86400.0)
    torch.testing.assert_close(relax_a, dev.rram_sigma_at_time_s(g, t, 86400.0))
    p, pa = narrowed("pcm")
    g = torch.full((4,), 2e-6, dtype=torch.float64)
    torch.testing.assert_close(dev.pcm_read_noise_sigma_s(g, pa, 3600.0),
                               dev.pcm_read_noise_sigma_s(g, p, 3600.0))
    xi = torch.zeros_like(g)
    torch.testing.assert_close(dev._pcm_nu(g, pa, xi), dev._pcm_nu(g, p, xi))


def test_a_narrow_array_s_programmed_devices_carry_the_device_s_sigma():
    """End to end through the chip: an rram array at g_max/8 with programming noise only."""
    t = get_target("rram")
    g_max = t.g_max_s / 8
    ca = cell_array(random_weights(64, 8, seed=2), t, g_max_s=g_max)
    opts = dict(A.IDEAL_OPTIONS, programming_noise=True)
    lv, fm = ca.args[2], ca.args[5]
    g = A.programmed_conductances(ca.op, lv, fm, t, 1, opts)
    a = A.array_target(t, t.g_min_s, g_max)
    nominal = dev.ideal_conductances(lv.to(torch.int64), a)
    top = lv == a.levels - 1
    measured = float((g - nominal)[top].std())
    want = float(dev.rram_sigma_at_time_s(torch.tensor([g_max]), t, 1.0)[0])
    assert measured == pytest.approx(want, rel=0.15)
    scaled = float(dev.rram_sigma_at_time_s(torch.tensor([t.g_max_s]), t, 1.0)[0]) / 8
    assert measured > 2 * scaled  # the old model (sigma scaled with the chosen g_max)


def test_with_conductance_range_keeps_the_device_window():
    for name in ["rram", "pcm", "sot-mtj", "sot-mtj-dw", "cmos"]:
        t = get_target(name)
        lo = t.g_min_s
        a = t.with_conductance_range(lo, t.g_max_s / 1.1)
        assert (a.noise_g_min_s, a.noise_g_max_s) == pytest.approx((t.g_min_s, t.g_max_s))
        b = a.with_conductance_range(lo, t.g_max_s / 1.2)  # a copy of a copy: still the device
        assert b.noise_g_max_s == pytest.approx(t.g_max_s)


def test_all_planes_of_one_pcm_read_see_the_same_1_over_f_error():
    """The accumulated 1/f noise is in the devices (drawn once per chip and inference time),
    not in each bit-plane read: with every input bit on, all 8 planes count the same."""
    t = get_target("pcm")
    ca = cell_array(random_weights(48, 5), t)
    x = np.full((3, 48), 255)
    ctx = ExecContext(analog=True, seed=4, options=dict(A.IDEAL_OPTIONS, read_noise=True,
                                                        precision="float64", target=t))
    m = A.array_model(ca.op, ca.with_input(x), ctx)
    assert m.read_var is None  # nothing is drawn per read
    planes, _ = A.digit_planes(torch.from_numpy(x), 8, False, 1, torch.float64)
    counts = A.read_counts(m, planes, gen(0))
    for p in range(1, counts.shape[0]):
        assert torch.equal(counts[p], counts[0])
    assert not torch.equal(counts[0], counts[0].round())  # ... and the error is there
    xs = random_inputs(20, 48)
    first = A.analog_mvm(ca.op, ca.with_input(xs), ctx)
    assert torch.equal(first, A.analog_mvm(ca.op, ca.with_input(xs), ctx))  # static per chip
    other = ExecContext(analog=True, seed=5, options=ctx.options)
    assert not torch.equal(first, A.analog_mvm(ca.op, ca.with_input(xs), other))  # per chip


# --------------------------------------------------------------------------- access device


def test_every_target_names_its_access_resistance_and_its_source():
    for name in ["sot-mtj", "sot-mtj-dw", "rram", "pcm"]:
        t = get_target(name)
        assert t.r_access_ohm > 0 and "not verified" in t.source_of("r_access_ohm")
    assert get_target("cmos").r_access_ohm == 0.0  # resistor cells: no transistor


def test_the_access_resistance_is_a_series_resistor_in_every_cell():
    """With ideal wires the mesh's effective weights are exactly 1/(1/G + R_a) per cell; with
    the target's wires the access device lowers every column current further."""
    from anncc.runtime.mesh import ArrayMesh

    t = get_target("sot-mtj")
    g = 1.0 / np.random.default_rng(0).uniform(t.r_p_ohm, 13e3, (16, 12))
    ideal_wires = t.with_overrides(r_wire_ohm=0.0, r_contact_ohm=0.0)
    eff = ArrayMesh.from_target(g, ideal_wires).effective_weights()
    np.testing.assert_allclose(eff, 1.0 / (1.0 / g + t.r_access_ohm), rtol=1e-12)
    without = ArrayMesh.from_target(g, t.with_overrides(r_access_ohm=0.0)).effective_weights()
    with_a = ArrayMesh.from_target(g, t).effective_weights()
    v = np.ones((1, 16)) * t.v_read_v
    assert np.all(v @ with_a < v @ without)
    # the runtime's read (IR drop on) sees the same series combination
    ca = cell_array(random_weights(16, 2, seed=3), ideal_wires, array_rows=16, array_cols=16)
    opts = dict(A.IDEAL_OPTIONS, ir_drop=True, irdrop_cache="")
    m = A.array_model(ca.op, ca.with_input(np.zeros((1, 16), np.int64)),
                      ExecContext(analog=True, seed=0, options=dict(opts, target=ideal_wires)))
    g_prog = m.programmed.g_s
    torch.testing.assert_close(m.g_read_s, 1.0 / (1.0 / g_prog + t.r_access_ohm), rtol=1e-9, atol=0)
