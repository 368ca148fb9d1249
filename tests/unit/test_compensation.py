"""IR-drop pre-compensation (runtime/precompensation.py) and per-column calibration folded into
the requantization (passes/column_calibration.py, runtime/column_calibration.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cell_ir import mlp_model

from anncc.errors import AnnccError
from anncc.ir.contract import requantize
from anncc.passes.column_calibration import ColumnCorrection, calibrated_constants
from anncc.runtime.column_calibration import calibrate_columns, fit_affine
from anncc.runtime.mesh import ArrayMesh
from anncc.runtime.precompensation import precompensate_array

#: every random device effect off: IR drop is the only error, the chip deterministic
QUIET = dict(programming_noise=False, d2d=False, read_noise=False, adc_noise=False, ir_drop=True)


def _levels_array(n: int, seed: int = 0) -> tuple[np.ndarray, float, float]:
    rng = np.random.default_rng(seed)
    g_min, g_max = 1e-6, 5e-6  # 2-bit rram-like levels at g_max/8 of a 40 µS device
    dg = (g_max - g_min) / 3
    return g_min + rng.integers(0, 4, (n, n)) * dg, g_min, dg


def test_precompensation_residual_falls_and_effective_weights_meet_the_intended():
    t, g_min, dg = _levels_array(32)
    r_wire, r_contact = 2.5, 50.0  # the targets' wire and contact resistances
    pc = precompensate_array(t, r_wire, r_contact, dg, g_min, 40e-6)
    before = ArrayMesh(t, r_wire, r_contact).effective_weights()
    after = ArrayMesh(pc.g_program_s, r_wire, r_contact).effective_weights()
    err_before = np.abs(before - t).max() / dg
    err_after = np.abs(after - t).max() / dg
    assert err_before > 0.05  # the mesh really loses current at this size
    assert err_after < 1e-3 < err_before / 50  # and the programmed devices win it back
    assert pc.residual_lsb == pytest.approx(err_after, rel=1e-9)
    assert pc.initial_lsb == pytest.approx(err_before, rel=1e-9)
    assert list(pc.history_lsb) == sorted(pc.history_lsb, reverse=True)  # falls every step
    assert pc.column_loss < pc.initial_column_loss / 50 and pc.clipped == 0
    assert np.all(pc.g_program_s >= t)  # losses are compensated by raising conductances


def test_precompensation_clips_to_the_window_and_reports_what_is_left():
    t, g_min, dg = _levels_array(24)
    pc = precompensate_array(t, 2.5, 50.0, dg, g_min, float(t.max()))  # no headroom at the top
    assert pc.clipped > 0 and pc.g_program_s.max() <= t.max()
    assert pc.residual_mean_lsb < pc.initial_mean_lsb  # better on average ...
    assert pc.residual_lsb > 1e-2  # ... but the clipped cells cannot meet their targets


def test_precompensation_holds_stuck_and_open_cells():
    t, g_min, dg = _levels_array(12)
    t[0, 0] = 0.0
    fixed = np.zeros_like(t, dtype=bool)
    fixed[3, 4] = True
    pc = precompensate_array(t, 2.5, 50.0, dg, g_min, 40e-6, fixed=fixed)
    assert pc.g_program_s[0, 0] == 0.0 and pc.g_program_s[3, 4] == t[3, 4]


@pytest.fixture(scope="module")
def rram():
    # a strong mesh (10 Ω wire segments) so that IR drop is well above the ADC's resolution
    cm, x = mlp_model([16, 12, 4], target="rram", n_calib=32, seed=3,
                      target_overrides={"array_rows": 64, "array_cols": 64, "r_wire_ohm": 10.0})
    return cm, x


def test_precompensated_chip_reads_the_ideal_outputs(rram):
    """Ideal devices + IR drop: pre-compensation brings the analog read back to the ideal one."""
    cm, x = rram
    ideal = cm.run(x, level="cell")
    plain = cm.run(x, level="cell", analog=True, seed=0, **QUIET)
    comp = cm.run(x, level="cell", analog=True, seed=0, precompensate=True, **QUIET)
    e_plain = float((plain - ideal).abs().mean())
    e_comp = float((comp - ideal).abs().mean())
    assert e_plain > 0 and e_comp < e_plain / 5
    with pytest.raises(AnnccError, match="needs ir_drop"):
        cm.run(x, level="cell", analog=True, seed=0, precompensate=True, ir_drop=False)


def test_fit_affine_recovers_a_gain_and_offset():
    rng = np.random.default_rng(0)
    t = rng.normal(0, 100, (200, 3))
    a = (t - np.array([5.0, -7.0, 0.0])) / np.array([2.0, 0.5, 1.0])  # a = (t − d)/c
    c, d = fit_affine(a, t)
    np.testing.assert_allclose(c, [2.0, 0.5, 1.0], rtol=1e-9)
    np.testing.assert_allclose(d, [5.0, -7.0, 0.0], atol=1e-7)


def test_calibrated_constants_apply_the_correction_through_the_contract():
    """requantize(a, b', M', S') equals requantize(c·a + d, b, M, S) up to the bias rounding."""
    rng = np.random.default_rng(1)
    acc = rng.integers(-5000, 5000, (400, 4)).astype(np.int64)
    b = np.array([10, -40, 0, 300], dtype=np.int32)
    m = np.array([1 << 30, 3 << 28, 1518500250, 1 << 30], dtype=np.int32)
    s = np.array([38, 37, 39, 36], dtype=np.int32)
    corr = ColumnCorrection(np.array([1.7, 0.8, 2.9, 1.0]), np.array([12.0, -3.5, 0.0, -100.0]))
    nb, nm, ns = calibrated_constants(b, m, s, corr)
    got = requantize(acc, nb, nm, ns, 0, -128, 127)
    want = requantize(np.round(corr.gain * acc + corr.offset).astype(np.int64), b, m, s, 0, -128, 127)
    assert np.abs(got - want).max() <= 1 and np.mean(got != want) < 0.02
    assert np.array_equal(nb, np.floor((b + corr.offset) / corr.gain + 0.5).astype(np.int32))
    with pytest.raises(AnnccError):
        ColumnCorrection(np.array([1.0, -1.0]), np.zeros(2))


@pytest.fixture(scope="module")
def calibrated():
    cm, x = mlp_model([16, 16, 4], target="sot-mtj", n_calib=400, seed=1,
                      target_overrides={"array_rows": 32, "array_cols": 32})
    cal = calibrate_columns(cm, x[:64], chips=1, seed=99, **QUIET)
    return cm, x[64:], cal


def test_calibration_improves_a_small_model_under_ir_drop(calibrated):
    """336 held-out inputs: the calibrated chip agrees with the xbar level's class more often."""
    cm, xe, cal = calibrated
    ref = cm.run(xe, level="xbar").argmax(-1)
    before = cm.run(xe, level="cell", analog=True, seed=0, **QUIET)
    after = cal.model.run(xe, level="cell", analog=True, seed=0, **QUIET)
    agree = lambda y: float((y.argmax(-1) == ref).float().mean())  # noqa: E731
    assert agree(before) < 0.8  # IR drop on 32×32 sot-mtj arrays costs this model a lot
    assert agree(after) > agree(before) + 0.03
    # IR drop loses current: every column's fitted gain is above 1
    assert all(r["gain_min"] > 1.0 for r in cal.report)


def test_calibrated_constants_stay_bit_exact_in_the_golden_vectors(calibrated, tmp_path):
    """The calibrated build's golden vectors, RTL plan and runtime agree through the contract."""
    from anncc.backends.verilog.plan import build_plan
    from anncc.runtime import load
    from anncc.runtime.golden import record_golden

    cm, xe, cal = calibrated
    cal.model.save(tmp_path)
    m = load(tmp_path)
    record_golden(m, xe[:8], tmp_path / "golden")
    index = json.loads((tmp_path / "golden" / "index.json").read_text())
    outs = np.load(tmp_path / "golden" / "outputs.npy")
    np.testing.assert_array_equal(outs, m.run(xe[:8], level="cell").numpy())
    plan = {layer.name: layer for layer in build_plan(m.ir("cell"), m.store).layers
            if hasattr(layer, "mult")}
    original = {layer.name: layer for layer in build_plan(cm.ir("cell"), cm.store).layers
                if hasattr(layer, "mult")}
    g = tmp_path / "golden"
    for entry in index["layers"]:
        acc, y = np.load(g / entry["acc"]["file"]), np.load(g / entry["output"]["file"])
        consts = [np.load(g / entry[k]["file"]) for k in ("bias", "multiplier", "shift")]
        rq = entry["requant"]
        np.testing.assert_array_equal(
            requantize(acc, *consts, rq["zero_point"], rq["lo"], rq["hi"]), y)
        rtl = plan[entry["name"]]  # the RTL's constants are the golden vectors'
        for got, want in zip(consts, (rtl.bias, rtl.mult, rtl.shift)):
            np.testing.assert_array_equal(got, want)
        assert not np.array_equal(rtl.mult, original[entry["name"]].mult)  # calibrated
    assert len(index["layers"]) == 2


def test_calibrated_model_keeps_its_ops_and_other_levels(calibrated):
    cm, _, cal = calibrated
    names = [op.name for op in cm.ir("cell").walk()]
    cal_names = [op.name for op in cal.model.ir("cell").walk()]
    assert [n for n in names if n != "ann.constant" and n != "ann.weight"] == [
        n for n in cal_names if n != "ann.constant" and n != "ann.weight"]
    assert cal.model.ir("xbar") is cm.ir("xbar")
    x = torch.zeros(2, 16)
    assert cal.model.run(x, level="cell").shape == (2, 4)


def test_report_section_shows_rows_residuals_and_fits(tmp_path):
    from anncc.backends.report.compensation import compensation_figure, compensation_lines

    row = {"condition": "rram devices + IR drop", "mean": 0.9, "std": 0.01, "ci95": [0.88, 0.92],
           "trials": 3}
    record = {"seeds": [0, 1, 2], "calibration_seeds": [1000000], "calibration_data": "digits",
              "target": "rram", "tunable": True,
              "conditions": [row, dict(row, condition="rram devices + IR drop + pre-compensation",
                                       mean=0.95, ci95=[0.94, 0.96])],
              "precompensation": [{"tile": "fc1.r0c0", "array": "64x64", "initial_lsb": 0.5,
                                   "residual_lsb": 1e-4, "initial_column_loss": 0.12,
                                   "column_loss": 1e-5, "iterations": 5, "clipped": 0}],
              "calibration": {"x": {"layers": [{"layer": "fc1", "gain_min": 1.0, "gain_max": 1.2,
                                                "rms_error_before": 0.2, "rms_error_after": 0.1}]}}}
    text = "\n".join(compensation_lines(record, "figures/compensation.png"))
    assert "| rram devices + IR drop + pre-compensation | 95.00 % |" in text
    assert "| fc1.r0c0 | 64x64 | 0.5 | 0.0001 |" in text and "| x | fc1 | 1–1.2 |" in text
    assert compensation_lines(None) == []
    assert compensation_figure({"compensation": record}, tmp_path / "c.png").stat().st_size > 1000


def test_spice_netlists_get_the_precompensated_devices(rram):
    """The SPICE backend programs through the runtime: with `precompensate` its meshes hold the
    pre-compensated conductances, whose effective weights are the levels' nominal ones."""
    from anncc.backends.spice.arrays import collect_arrays
    from anncc.runtime.analog import nominal_and_levels

    cm, _ = rram
    quiet = {k: v for k, v in QUIET.items() if k != "ir_drop"}
    plain = collect_arrays(cm, 0, options=quiet)
    comp = collect_arrays(cm, 0, options=dict(quiet, precompensate=True))
    for p, c in zip(plain, comp):
        nominal, _ = nominal_and_levels(p.model.programmed.levels, p.model.programmed.fault_map,
                                        p.target, p.params.bits_per_cell)
        t = nominal.numpy()
        dg = p.target.delta_g_s
        assert np.array_equal(p.mesh.g_s, t)
        e_plain = np.abs(p.mesh.effective_weights() - t).mean() / dg
        e_comp = np.abs(c.mesh.effective_weights() - t).mean() / dg
        assert e_comp < e_plain / 4  # mean over cells (an array clipped at the top keeps its max)
