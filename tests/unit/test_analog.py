"""The cell level with device physics (runtime/analog.py) and its differentiable twin.

Each test names the physics or the contract it checks. Arrays are small; one
slow test compares the runtime's column currents with ngspice.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from cell_ir import cell_array, mlp_model, random_inputs, random_weights, teacher_labels

from anncc.ir.contract import adc_read, input_planes
from anncc.runtime import analog as A
from anncc.runtime import devices
from anncc.runtime.cell_kernels import cell_mvm
from anncc.runtime.interpreter import ExecContext
from anncc.runtime.irdrop import MeshParams, effective_weights, solve_direct
from anncc.runtime.mesh import sensed_step_s
from anncc.targets import get_target, load_target

TARGETS = ["sot-mtj", "sot-mtj-dw", "rram", "pcm", "cmos"]


def ideal(ca, x):
    return cell_mvm(ca.op, ca.with_input(x), ExecContext())


def analog(ca, x, target, seed=0, ctx=None, **options):
    ctx = ctx or ExecContext(analog=True, seed=seed, options=dict(options, target=target))
    return A.analog_mvm(ca.op, ca.with_input(x), ctx)


def model_of(ca, x, target, seed=0, **options) -> A.ArrayModel:
    ctx = ExecContext(analog=True, seed=seed, options=dict(options, target=target))
    return A.array_model(ca.op, ca.with_input(x), ctx)


# --------------------------------------------------------------------------- the golden model


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("signed,dac_bits,adc_shift", [
    (False, 1, None), (True, 1, None), (True, 2, None), (False, 1, 1), (True, 3, 2), (False, 4, 0)])
@pytest.mark.parametrize("fast_path", [True, False])
def test_all_effects_off_equals_the_ideal_kernel_bit_for_bit(name, signed, dac_bits, adc_shift,
                                                              fast_path):
    t = get_target(name)
    ca = cell_array(random_weights(19, 5, seed=3), t, in_signed=signed, dac_bits=dac_bits,
                    adc_shift=adc_shift, adc_bits=None if adc_shift is None else 4)
    x = random_inputs(40, 19, signed=signed, seed=4)
    got = analog(ca, x, t, **dict(A.IDEAL_OPTIONS, fast_path=fast_path))
    assert got.dtype == torch.int64
    assert torch.equal(got, ideal(ca, x))


def test_ideal_lossless_read_is_the_exact_integer_product():
    t = get_target("sot-mtj")
    ca = cell_array(random_weights(64, 10), t)
    x = random_inputs(30, 64)
    assert torch.equal(analog(ca, x, t, **A.IDEAL_OPTIONS), torch.from_numpy(x @ ca.w))


def test_the_ir_fault_map_is_part_of_the_program_in_both_kernels():
    t = get_target("sot-mtj")
    w = random_weights(12, 4, seed=5)
    fm = np.zeros((64, 64), np.uint8)
    fm[3, 0], fm[7, 5], fm[0, 13] = 2, 1, 2  # stuck high/low cells in data columns
    faulty, healthy = cell_array(w, t, faults=fm), cell_array(w, t)
    x = random_inputs(25, 12)
    got = analog(faulty, x, t, **A.IDEAL_OPTIONS)
    assert torch.equal(got, ideal(faulty, x))
    assert not torch.equal(got, ideal(healthy, x))
    # faults=False asks what the same chip would do with healthy cells
    healthy_cells = dict(A.IDEAL_OPTIONS, faults=False)
    assert torch.equal(analog(faulty, x, t, **healthy_cells), ideal(healthy, x))


def test_digit_planes_by_table_equal_input_planes():
    x = torch.from_numpy(random_inputs(7, 9, signed=True, seed=2))
    for signed, dac in ((True, 1), (True, 3), (False, 2)):
        xs = x if signed else x & 0xFF
        planes, weights = A.digit_planes(xs, 8, signed, dac, torch.float64)
        ref, ref_w = input_planes(xs, 8, signed, dac)
        assert torch.equal(planes, ref.double()) and weights == ref_w


def test_in_place_adc_is_the_contract_adc():
    c = torch.linspace(-3, 40, 431, dtype=torch.float64)
    for bits, s in ((4, 0), (3, 1), (2, 2)):
        assert torch.equal(adc_read(c.clone(), bits, s, inplace=True), adc_read(c, bits, s))
    assert torch.equal(adc_read(torch.arange(20.0), 3, 1, inplace=True),
                       adc_read(torch.arange(20), 3, 1).double())


# --------------------------------------------------------------------------- fast path


def test_fast_path_applies_exactly_when_the_adc_is_the_identity():
    t = get_target("sot-mtj")
    ca = cell_array(random_weights(30, 8), t)
    x = random_inputs(10, 30)
    def fast(**o) -> bool:
        return model_of(ca, x, t, **dict(A.IDEAL_OPTIONS, **o)).combined is not None

    assert fast()
    assert not fast(d2d=True)  # the ADC rounds every plane's real-valued count
    assert fast(d2d=True, ideal_adc=True)
    assert not fast(read_noise=True, ideal_adc=True)  # per-read randomness
    lossy = cell_array(random_weights(30, 8), t, adc_bits=3)  # shift > 0
    assert model_of(lossy, x, t, **A.IDEAL_OPTIONS).combined is None


@pytest.mark.parametrize("name", ["sot-mtj", "rram", "pcm", "cmos"])
def test_collapsed_fast_path_equals_faithful_path(name):
    """x @ W (one product) equals planes x slices x polarities through a transparent ADC."""
    t = get_target(name)
    ca = cell_array(random_weights(24, 6, seed=8), t, in_signed=True)
    x = torch.from_numpy(random_inputs(33, 24, signed=True, seed=9))
    f = ca.op.params()
    for opts in (dict(A.IDEAL_OPTIONS), dict(programming_noise=True, d2d=True, read_noise=False,
                                              ideal_adc=True, precision="float64",
                                              opamp_rails=False)):
        fast = model_of(ca, x, t, seed=2, **opts)
        slow = model_of(ca, x, t, seed=2, **dict(opts, fast_path=False))
        assert fast.combined is not None and slow.combined is None
        a = A.analog_tile(x, fast, f, ideal_adc=opts["ideal_adc"])
        b = A.analog_tile(x, slow, f, ideal_adc=opts["ideal_adc"])
        if opts["ideal_adc"]:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-9)
        else:
            assert torch.equal(a, b)


# --------------------------------------------------------------------------- each effect


EFFECTS = [
    ("rram", dict(programming_noise=True), True),
    ("sot-mtj-dw", dict(programming_noise=True), True),
    ("sot-mtj", dict(d2d=True), True),
    ("pcm", dict(read_noise=True), True),
    ("pcm", dict(drift_time_s=86400.0, drift_compensation=False), True),
    ("rram", dict(drift_time_s=86400.0), True),
    ("sot-mtj", dict(stuck_at_low_rate=0.02, stuck_at_high_rate=0.02), True),
    ("sot-mtj", dict(ir_drop=True), False),
    ("sot-mtj", dict(adc_noise=True, adc_noise_sigma_lsb=0.5), True),
    ("sot-mtj", dict(dac_noise_sigma_lsb=0.1), True),
    ("cmos", dict(opamp_offset=True), True),
]


@pytest.mark.parametrize("name,effect,random", EFFECTS)
def test_each_effect_changes_the_output_reproducibly(name, effect, random):
    t = get_target(name)
    rows = min(t.array_rows, 48)
    ca = cell_array(random_weights(rows, 5, seed=11), t)
    x = random_inputs(60, rows, seed=12)
    opts = dict(A.IDEAL_OPTIONS, **effect)
    a = analog(ca, x, t, seed=1, **opts)
    assert not torch.equal(a, ideal(ca, x)), "the effect changed nothing"
    assert torch.equal(a, analog(ca, x, t, seed=1, **opts)), "not deterministic for a seed"
    assert torch.equal(a, analog(ca, x, t, seed=2, **opts)) != random


def test_bias_dependent_tmr_changes_multi_bit_dac_reads_only():
    """A domain-wall MTJ's AP part conducts less at lower bias (TMR(V) = TMR0/(1+(V/V_h)^2)):
    a 2-bit DAC's lower digits see a larger step; bit-serial reads are at V_read, unchanged."""
    t = load_target("sot-mtj-dw", v_read_v=0.25)  # TMR(V_read) is 80 % of TMR0
    w = random_weights(40, 5, seed=13)
    x = random_inputs(50, 40, seed=14)
    serial = cell_array(w, t, dac_bits=1)
    tmr = dict(A.IDEAL_OPTIONS, tmr_bias=True)
    assert torch.equal(analog(serial, x, t, **tmr), ideal(serial, x))
    multi = cell_array(w, t, dac_bits=2, adc_bits=12)
    m = model_of(multi, x, t, **dict(A.IDEAL_OPTIONS, tmr_bias=True))
    assert m.digits == [1, 2, 3] and m.combined is None
    # count per unit digit: larger at the lowest digit's bias, exactly 1 level step at V_read
    one_level = (m.programmed.levels[:40][:, multi.args[3].reshape(-1)] == 1)
    assert float(m.counts[0][one_level].mean()) > 1.0
    torch.testing.assert_close(m.counts[2][one_level], torch.ones_like(m.counts[2][one_level]))
    assert not torch.equal(analog(multi, x, t, **dict(A.IDEAL_OPTIONS, tmr_bias=True)),
                           ideal(multi, x))


def test_read_noise_is_drawn_per_read_and_reproducible_per_seed():
    t = get_target("rram")
    ca = cell_array(random_weights(48, 5), t)
    x = random_inputs(40, 48)
    opts = dict(A.IDEAL_OPTIONS, read_noise=True, target=t)
    ctx = ExecContext(analog=True, seed=5, options=opts)
    first, second = analog(ca, x, t, ctx=ctx), analog(ca, x, t, ctx=ctx)
    assert not torch.equal(first, second)  # cycle-to-cycle: every read is new
    again = ExecContext(analog=True, seed=5, options=opts)
    assert torch.equal(first, analog(ca, x, t, ctx=again))
    assert torch.equal(second, analog(ca, x, t, ctx=again))


def test_read_noise_variance_is_the_sum_over_driven_cells():
    """Column noise of one read is Gaussian with variance Σ_i d_i² σ_ij² (independent cells),
    the reference column's noise is shared by every column of the read."""
    t = get_target("rram")
    ca = cell_array(random_weights(30, 3, seed=1), t)
    x = np.full((4000, 30), 255)  # every row on in every plane
    m = model_of(ca, x, t, **dict(A.IDEAL_OPTIONS, read_noise=True, precision="float64"))
    planes, _ = A.digit_planes(torch.from_numpy(x[:, :]), 8, False, 1, torch.float64)
    noise = (A.read_counts(m, planes, torch.Generator().manual_seed(0)) - planes @ m.counts[0])
    noise = noise.reshape(-1, noise.shape[-1])
    want = m.read_var[:, :-1].sum(0) + m.read_var[:, -1].sum()
    torch.testing.assert_close(noise.var(0), want, rtol=0.08, atol=0)
    shared = float(torch.corrcoef(noise[:, :2].T)[0, 1])
    assert shared == pytest.approx(float(m.read_var[:, -1].sum() / want[:2].mean()), abs=0.05)


# --------------------------------------------------------------------------- drift


def test_pcm_drift_follows_the_power_law_device_by_device():
    """g(t) = g(0)·((t + t0)/t0)^−ν with ν fixed per device: the log ratios at two times
    are in the ratio of their log times, for every cell."""
    t = get_target("pcm")
    ca = cell_array(random_weights(40, 6), t)
    lv, fm = ca.args[2], ca.args[5]
    g = {s: A.programmed_conductances(ca.op, lv, fm, t, 3, dict(A.IDEAL_OPTIONS, drift_time_s=s))
         for s in (0.0, 3600.0, 3.15e7)}
    on = lv > 0
    r1 = torch.log(g[3600.0][on] / g[0.0][on])
    r2 = torch.log(g[3.15e7][on] / g[0.0][on])
    t0 = t.drift_t0_s
    want = math.log((3.15e7 + t0) / t0) / math.log((3600.0 + t0) / t0)
    # devices are drawn in float32 (anncc.runtime.chip): the law holds to float32 rounding
    torch.testing.assert_close(r2 / r1, torch.full_like(r1, want), rtol=1e-5, atol=0)
    nu = -r2 / math.log((3.15e7 + t0) / t0)
    assert 0.03 < float(nu.mean()) < 0.1  # aihwkit's fit: mean nu 0.049..0.1 by level


def test_global_drift_compensation_restores_the_array_outputs():
    t = get_target("pcm")
    ca = cell_array(random_weights(60, 8), t)
    x = random_inputs(200, 60)
    ref = ideal(ca, x).double()

    def err(**o):
        out = analog(ca, x, t, seed=4, **dict(A.IDEAL_OPTIONS, **o)).double()
        return float((out - ref).norm() / ref.norm())

    year = 3.15e7
    uncompensated = err(drift_time_s=year, drift_compensation=False)
    compensated = err(drift_time_s=year, drift_compensation=True)
    assert uncompensated > 0.4  # ((t + t0)/t0)^-nu with nu ~ 0.05: about -50 % after a year
    # what remains is the device-to-device spread of nu (sigma_nu * ln(t/t0) ~ 0.3)
    assert compensated < 0.2 and compensated < uncompensated / 2
    m = model_of(ca, x, t, seed=4, **dict(A.IDEAL_OPTIONS, drift_time_s=year))
    assert 1.5 < m.compensation < 3.0


def test_drift_compensation_restores_output_scale():
    """A day of PCM drift shrinks every array's outputs by ((t + t0)/t0)^-nu ~ 0.66; one
    digital factor per array brings the logits' scale back (their least-squares gain on
    the ideal logits). What remains is the spread of nu and the ADC rounding of the
    shrunken counts, which no factor after the ADC undoes (about 8 % of the logits' norm
    already after 25 s, when the mean shrink is only 4 %); the argmax of the last layer
    does not see a scale, so accuracy moves only through the hidden layer's clipping."""
    cm, x = mlp_model([24, 40, 6], target="pcm", n_calib=300, seed=2)
    y = teacher_labels(cm, x)
    ref = cm.run(x, level="cell")
    day = dict(A.IDEAL_OPTIONS, drift_time_s=86400.0)
    results = {}
    for comp in (False, True):
        out = cm.run(x, level="cell", analog=True, seed=1, **dict(day, drift_compensation=comp))
        results[comp] = (float((out * ref).sum() / (ref * ref).sum()),
                         float((out.argmax(-1) == y).float().mean()))
    assert results[False][0] < 0.8  # the shrink
    assert abs(results[True][0] - 1.0) < 0.15, results  # the scale restored
    assert abs(results[True][1] - results[False][1]) < 0.05, results


# --------------------------------------------------------------------------- faults, devices


def test_random_stuck_at_faults_hit_the_asked_fraction_of_cells():
    t = get_target("sot-mtj")
    ca = cell_array(random_weights(64, 10), t)
    opts = A.AnalogOptions.resolve(dict(A.IDEAL_OPTIONS, stuck_at_low_rate=0.05,
                                        stuck_at_high_rate=0.02), t)
    prog = A.program_tile(ca.op, ca.args[2], ca.args[5], t, 7, opts)
    n = prog.fault_map.numel()
    assert abs(int((prog.fault_map == 1).sum()) / n - 0.05) < 0.01
    assert abs(int((prog.fault_map == 2).sum()) / n - 0.02) < 0.01
    assert torch.all(prog.g_s[prog.fault_map == 2] == t.g_max_s)
    assert torch.all(prog.levels[prog.fault_map == 1] == 0)


def test_programmed_conductances_are_the_devices_the_runtime_reads():
    t = get_target("sot-mtj")
    ca = cell_array(random_weights(40, 9), t)
    lv, fm = ca.args[2], ca.args[5]
    g = A.programmed_conductances(ca.op, lv, fm, t, 11, {})
    m = model_of(ca, random_inputs(3, 40), t, seed=11, ir_drop=False)  # counts from G itself
    assert torch.equal(g, m.programmed.g_s)
    assert not torch.equal(g, A.programmed_conductances(ca.op, lv, fm, t, 12, {}))
    ref = ca.op.params().ref_col
    assert torch.all((g[:, ref] / t.g_min_s - 1).abs() < 0.25)  # level-0 cells with d2d
    assert float((g[:, ref] / t.g_min_s).std()) > 0.01           # its own variation
    # the count matrix is the reference-subtracted conductance over the level step
    rows, cols = ca.args[4], ca.args[3].reshape(-1)
    want = (g[rows][:, cols] - g[rows][:, ref:ref + 1]) / t.delta_g_s
    torch.testing.assert_close(m.counts[0].double(), want, rtol=1e-5, atol=1e-5)


def test_allocated_conductance_range_is_used():
    t = get_target("rram")
    ca = cell_array(random_weights(20, 4), t, g_max_s=t.g_max_s / 2)
    prog = A.program_tile(ca.op, ca.args[2], ca.args[5], t, 0, A.IDEAL_OPTIONS)
    assert prog.target.g_max_s == t.g_max_s / 2 and float(prog.g_s.max()) <= t.g_max_s / 2
    mtj = get_target("sot-mtj-dw")
    tt = A.array_target(mtj, mtj.g_min_s * 1.1, mtj.g_max_s / 2)
    assert tt.g_max_s == pytest.approx(mtj.g_max_s / 2) and tt.g_min_s == pytest.approx(
        mtj.g_min_s * 1.1)


def test_cmos_summer_counts_are_the_device_models_op_amp():
    t = load_target("cmos", r_feedback_ohm=90e3)  # rails at 4.5 V / (90 kOhm * 1 uA) = 50 counts
    ca = cell_array(random_weights(32, 3, w_bits=8, seed=2), t, w_bits=8, adc_shift=1)
    x = random_inputs(300, 32, seed=3)
    m = model_of(ca, x, t, seed=6, **dict(A.IDEAL_OPTIONS, opamp_offset=True, opamp_rails=True,
                                          precision="float64"))
    planes, _ = A.digit_planes(torch.from_numpy(x), 8, False, 1, torch.float64)
    counts = A.read_counts(m, planes)
    got = (counts - m.count_offset).clamp(*m.count_range)
    unit = t.unit_current_a
    offsets = devices.draw_opamp_offsets_v([ca.op.params().array_cols], t,
                                           ExecContext(seed=6).generator("t.r0c0", "opamp"))
    cols = ca.args[3].reshape(-1)
    gsum = m.programmed.g_s.sum(0)[cols]
    want = devices.opamp_counts(counts * unit, gsum, offsets[cols], t)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-6)
    assert bool((got == m.count_range[1]).any())  # the rails clip some reads


# --------------------------------------------------------------------------- IR drop


def test_ir_drop_read_through_effective_weights_equals_the_direct_mesh_solve():
    t = get_target("sot-mtj")
    ca = cell_array(random_weights(20, 6, seed=4), t, array_rows=24, array_cols=40)
    x = random_inputs(6, 20, seed=5)
    m = model_of(ca, x, t, seed=3, **dict(A.IDEAL_OPTIONS, d2d=True, ir_drop=True,
                                          precision="float64"))
    g = m.programmed.g_s
    planes, _ = A.digit_planes(torch.from_numpy(x), 8, False, 1, torch.float64)
    v = torch.zeros(planes.shape[0] * 6, 24, dtype=torch.float64)
    v[:, :20] = planes.reshape(-1, 20) * t.v_read_v
    params = MeshParams(t.r_wire_ohm, t.r_contact_ohm)
    g_cells = 1.0 / (1.0 / g + t.r_access_ohm)  # each cell in series with its access device
    exact = torch.from_numpy(solve_direct(g_cells.numpy(), v.T.numpy(), params))
    torch.testing.assert_close(A.column_currents(m, v), exact, rtol=1e-10, atol=1e-15)
    ref = ca.op.params().ref_col
    cols = ca.args[3].reshape(-1)
    # one count is the series cell's step: the periphery is sized for the cells as built
    step = (1 / (1 / t.g_max_s + t.r_access_ohm) - 1 / (1 / t.g_min_s + t.r_access_ohm))
    assert step == pytest.approx(sensed_step_s(t), rel=1e-12) and step < t.delta_g_s
    want = (exact[:, cols] - exact[:, ref:ref + 1]) / (step * t.v_read_v)
    got = A.read_counts(m, planes).reshape(-1, cols.numel())
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    assert m.irdrop.expected_error > 0.01


def test_ir_drop_model_is_built_once_per_array_and_cached():
    t = get_target("sot-mtj")
    ca = cell_array(random_weights(16, 4), t, array_rows=16, array_cols=32)
    x = random_inputs(5, 16)
    ctx = ExecContext(analog=True, seed=1, options=dict(A.IDEAL_OPTIONS, ir_drop=True, target=t))
    analog(ca, x, t, ctx=ctx)
    models = [v for k, v in ctx.cache.items() if k[0] == "analog-array"]
    analog(ca, x, t, ctx=ctx)
    assert len(models) == 1
    assert [v for k, v in ctx.cache.items() if k[0] == "analog-array"] == models
    g_cells = 1.0 / (1.0 / models[0].programmed.g_s.numpy() + t.r_access_ohm)  # access in series
    torch.testing.assert_close(
        models[0].g_read_s, torch.from_numpy(effective_weights(
            g_cells, MeshParams(t.r_wire_ohm, t.r_contact_ohm))))


def test_unknown_option_is_named():
    t = get_target("sot-mtj")
    with pytest.raises(Exception, match="read_nosie"):
        A.AnalogOptions.resolve({"read_nosie": True}, t)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_runtime_column_currents_match_ngspice_on_a_32x32_array(tmp_path):
    """The runtime's devices (programmed_conductances, seed 5, with d2d and faults) in
    ngspice's mesh give the same column currents as the runtime's IR-drop read (≤ 1e-6)."""
    from anncc.backends.spice.mesh import run_mesh

    t = get_target("sot-mtj")
    ca = cell_array(random_weights(32, 5, seed=6), t, array_rows=32, array_cols=32)
    x = random_inputs(4, 32, seed=7)
    opts = dict(d2d=True, stuck_at_low_rate=0.01, stuck_at_high_rate=0.01, ir_drop=True,
                precision="float64", read_noise=False)
    m = model_of(ca, x, t, seed=5, **opts)
    g = A.programmed_conductances(ca.op, ca.args[2], ca.args[5], t, 5, opts)
    planes, _ = A.digit_planes(torch.from_numpy(x), 8, False, 1, torch.float64)
    v = (planes.reshape(-1, 32) * t.v_read_v)[:12]
    g_cells = 1.0 / (1.0 / g.numpy() + t.r_access_ohm)  # the access device in series
    spice = torch.from_numpy(run_mesh(g_cells, v.T.numpy(),
                                      MeshParams(t.r_wire_ohm, t.r_contact_ohm), workdir=tmp_path))
    rel = ((A.column_currents(m, v) - spice).abs() / spice.abs().clamp(min=1e-12)).max()
    assert float(rel) <= 1e-6


# --------------------------------------------------------------------------- gradients


def test_gradient_wrt_inputs_is_the_ideal_linear_map():
    """Straight-through planes and ADC: d acc / d x = W, the tile's integer weights."""
    from anncc.runtime.training import DIFFERENTIABLE_KERNELS

    t = get_target("sot-mtj")
    ca = cell_array(random_weights(30, 7, seed=2), t, adc_bits=3)  # lossy ADC: faithful path
    x = torch.from_numpy(random_inputs(9, 30)).double().requires_grad_(True)
    ctx = ExecContext(analog=True, options=dict(A.IDEAL_OPTIONS, target=t, precision="float64"))
    out = DIFFERENTIABLE_KERNELS["cell.mvm"](ca.op, [x, *ca.args[1:]], ctx)
    assert torch.equal(out.detach().long(), ideal(ca, x.detach().long()))
    g = torch.randn(out.shape, dtype=torch.float64)
    out.backward(g)
    torch.testing.assert_close(x.grad, g @ torch.from_numpy(ca.w).double().T)


def test_gradient_wrt_conductances_matches_finite_differences():
    t = get_target("rram")
    ca = cell_array(random_weights(12, 3, seed=3), t, array_rows=16, array_cols=16)
    f = ca.op.params()
    x = torch.from_numpy(random_inputs(5, 12))
    opts = A.AnalogOptions.resolve(dict(A.IDEAL_OPTIONS, ideal_adc=True, fast_path=False,
                                        precision="float64"), t)
    g0 = A.programmed_conductances(ca.op, ca.args[2], ca.args[5], t, 0, dict(opts.__dict__))
    weights = torch.randn(5, 3, dtype=torch.float64)

    def loss(g: torch.Tensor) -> torch.Tensor:
        m = A.build_array_model(ca.op, *ca.args[2:], t, 0, opts, conductances=g)
        return (A.analog_tile(x, m, f, ideal_adc=True, differentiable=True) * weights).sum()

    g = g0.clone().requires_grad_(True)
    loss(g).backward()
    eps = 1e-7  # the read is linear in G (transparent ADC): no truncation error, less round-off
    for i, j in [(0, 0), (3, 5), (11, 12), (5, 1)]:  # data cells and the reference column (12)
        gp, gm = g0.clone(), g0.clone()
        gp[i, j] += eps
        gm[i, j] -= eps
        fd = (loss(gp) - loss(gm)) / (2 * eps)
        assert float(g.grad[i, j]) == pytest.approx(float(fd), rel=1e-6, abs=1e-4)
    assert float(g.grad[12:, :].abs().sum()) == 0  # undriven rows carry no current


def test_differentiable_forward_has_the_inference_values_and_the_chain_gradient():
    from anncc.ir.xbar import QuantizeOp, RequantOp
    from anncc.runtime.training import analog_forward, tile_conductances

    cm, x = mlp_model([10, 4], target="sot-mtj", n_calib=50, seed=4)
    for opts in ({}, A.IDEAL_OPTIONS):  # the gradient check below is for ideal devices
        xx = x.clone().requires_grad_(True)
        y = analog_forward(cm, xx, seed=2, **opts)
        assert torch.equal(y.detach(), cm.run(x, level="cell", analog=True, seed=2, **opts))
    g_out = torch.randn(y.shape)
    y.backward(g_out)
    # one linear layer: y = s_out·((x/s_in)·Wq·M/2^S), inside the clamps
    ops = list(cm.ir("cell").walk())
    s_in = next(o for o in ops if isinstance(o, QuantizeOp)).scale.value.data
    req = next(o for o in ops if isinstance(o, RequantOp))
    const = {o.results[0]: o for o in ops if o.name == "ann.constant"}
    mult = torch.from_numpy(const[req.multiplier].to_numpy()).double()
    shift = torch.from_numpy(const[req.shift].to_numpy()).double()
    wq = torch.from_numpy(np.asarray(cm.store.get(next(
        o for o in ops if o.name == "ann.weight" and o.key.data.endswith(".q")).key.data))).double()
    scale = req.out_scale.value.data * mult / 2.0 ** shift / s_in
    y_q = torch.round(y.detach().double() / req.out_scale.value.data)
    inside = (y_q > req.lo.value.data) & (y_q < req.hi.value.data)  # clamps pass no gradient
    want = (g_out.double() * inside * scale) @ wq.T
    torch.testing.assert_close(xx.grad.double(), want, rtol=1e-5, atol=1e-6)
    # and w.r.t. the programmed conductances of every array
    gs = tile_conductances(cm, seed=2)
    for v in gs.values():
        v.requires_grad_(True)
    out = analog_forward(cm, x, seed=2, conductances=gs)
    assert torch.equal(out.detach(), cm.run(x, level="cell", analog=True, seed=2))
    out.square().sum().backward()
    assert all(float(v.grad.abs().sum()) > 0 for v in gs.values())
