"""The estimate's figures, each computed here from the target's coefficients (no golden numbers).

- ADC sharing: an array has ceil(array_cols / adc_columns_per_adc) ADCs; sharing
  cuts the ADC area and lengthens the pipelined reads, with the same conversions.
- Input-bit activity: measured on the calibration inputs (fraction of 1-bits per
  plane of each layer's integer input), 0.5 per plane without it, and listed.
- cmos: the op-amp summers' power is counted per used column and read.
- Digital float ops (softmax) are in the totals: energy and latency.
- Every assumption has a value and a source, in report.json's estimate and the report.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import anncc
from anncc.ir._xdsl import Context
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.xbar import MvmOp as XbarMvmOp
from anncc.passes._store import attach_store
from anncc.passes._target import set_target
from anncc.passes.estimate import (
    ACTIVITY_ATTR,
    DIGITAL_CLOCK_HZ,
    DIGITAL_LANES,
    INPUT_BIT_ACTIVITY,
    EstimatePass,
)
from anncc.runtime.interpreter import ExecContext, run_module


def _model(softmax: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3)]
    if softmax:
        layers.append(torch.nn.Softmax(dim=-1))
    return torch.nn.Sequential(*layers).eval()


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(1)
    x = torch.rand(40, 4)
    return x, anncc.compile(_model(), x[:1], target="sot-mtj", calib=x, w_bits=4, in_bits=8)


def _estimate(cm, overrides: dict | None = None, drop_activity: bool = False) -> dict:
    module = cm.ir("cell").clone()
    attach_store(module, cm.store)
    if overrides is not None:
        set_target(module, cm.target().name, overrides)
    if drop_activity and ACTIVITY_ATTR in module.attributes:
        del module.attributes[ACTIVITY_ATTR]
    EstimatePass().apply(Context(), module)
    return json.loads(module.attributes["anncc.estimate"].data)


def _arrays(cm) -> list:
    return [o.params() for o in cm.ir("cell").walk() if isinstance(o, CellMvmOp)]


def test_adc_count_area_and_latency_follow_columns_per_adc(small):
    _, cm = small
    t = cm.target()
    shared = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)
    per_col = _estimate(cm, {"adc_columns_per_adc": 1})
    arrays = _arrays(cm)
    n_shared = sum(math.ceil(p.array_cols / t.adc_columns_per_adc) for p in arrays)
    n_per_col = sum(p.array_cols for p in arrays)
    assert t.adc_columns_per_adc == 128 and shared["per_inference"]["adcs"] == n_shared
    assert per_col["per_inference"]["adcs"] == n_per_col
    for est, n in ((shared, n_shared), (per_col, n_per_col)):
        tot = est["per_inference"]
        assert tot["area_adc_m2"] == pytest.approx(n * t.adc_area_m2)
        assert tot["adc_area_share"] == pytest.approx(tot["area_adc_m2"] / tot["area_m2"])
    # the same conversions, so the same ADC energy; sharing costs time, saves area
    assert shared["per_inference"]["energy_adc_j"] == pytest.approx(per_col["per_inference"]["energy_adc_j"])
    assert shared["per_inference"]["area_m2"] < per_col["per_inference"]["area_m2"]
    assert shared["per_inference"]["latency_s"] > per_col["per_inference"]["latency_s"]
    # Linear(4, 2): 4-bit weights on 1-bit cells, 3 slices x 2 polarities x 2 outputs = 12 columns,
    # 8 bit-serial planes; the busiest ADC converts all 12 (shared) or 1 (per column) per read
    first = arrays[0]
    for est, convs in ((shared, 12), (per_col, 1)):
        t_conv = convs / t.adc_sample_rate_hz
        expect = t.t_read_s + t_conv + 7 * max(t.t_read_s, t_conv)
        assert est["per_layer"][first.layer]["latency_s"] == pytest.approx(expect)


def test_adc_energy_per_conversion_is_isaacs_adc(small):
    _, cm = small
    t = cm.target()
    layer = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)["per_layer"][_arrays(cm)[0].layer]
    isaac_8bit_j = 16e-3 / 8 / 1.28e9  # ISAAC: 8 ADCs take 16 mW at 1.28 GS/s each
    assert t.adc_energy_per_conversion_j == pytest.approx(isaac_8bit_j * 2.0 ** (t.adc_bits - 8))
    assert layer["energy_adc_j"] == pytest.approx(t.adc_energy_per_conversion_j * layer["adc_conversions"])
    assert layer["energy_sample_hold_j"] == pytest.approx(t.sample_hold_energy_j * layer["adc_conversions"])


def test_input_bit_activity_is_measured_on_the_calibration_inputs(small):
    x, cm = small
    est = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)
    act = est["input_activity"]
    assert act["source"] == "calibration" and act["samples"] == 40
    # by hand: the integer input of each analog layer at the xbar level, its bits counted in numpy
    values: dict = {}
    run_module(cm.ir("xbar"), cm.store, [x], ExecContext(store=cm.store), values=values)
    firsts = {}
    for op in cm.ir("xbar").walk():
        if isinstance(op, XbarMvmOp):
            firsts.setdefault(op.layer.data, op)
    assert set(firsts) == set(act["per_layer"])
    for name, op in firsts.items():
        xq = values[op.input].numpy().astype(np.int64)
        assert xq.min() >= 0  # unsigned 8-bit inputs here
        ones = [float(((xq >> b) & 1).mean()) for b in range(8)]
        assert act["per_layer"][name] == pytest.approx(ones)
    # the cell energy of a one-array layer scales with the summed activity of its planes
    fallback = _estimate(cm, drop_activity=True)
    for name, a in act["per_layer"].items():
        ratio = est["per_layer"][name]["energy_cells_j"] / fallback["per_layer"][name]["energy_cells_j"]
        assert ratio == pytest.approx(sum(a) / (INPUT_BIT_ACTIVITY * len(a)))


def test_without_calibration_activity_the_fallback_is_listed(small):
    _, cm = small
    est = _estimate(cm, drop_activity=True)
    assert est["input_activity"]["source"] == "assumed"
    assert all(v == [INPUT_BIT_ACTIVITY] * 8 for v in est["input_activity"]["per_layer"].values())
    rows = [r for r in est["assumptions"] if r["assumption"].startswith("input-bit activity")]
    assert len(rows) == 1 and rows[0]["value"] == INPUT_BIT_ACTIVITY
    assert "every layer" in rows[0]["assumption"]


def test_cmos_counts_its_op_amp_summers():
    x = torch.rand(40, 4)
    cm = anncc.compile(_model(), x[:1], target="cmos", calib=x, w_bits=4, in_bits=8)
    t = cm.target()
    est = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)
    for layer in est["per_layer"].values():
        # one summer per used physical column, powered for each read
        expect = t.opamp_power_w * t.t_read_s * layer["adc_conversions"]
        assert layer["energy_opamp_j"] == pytest.approx(expect)
    assert t.opamp_power_w == pytest.approx(10.0 * 1.6e-3)  # OPAx172: 1.6 mA across +-5 V
    assert any("op-amp" in r["assumption"] and r["value"] == t.opamp_power_w for r in est["assumptions"])
    assert "energy_opamp_j" not in json.loads(
        anncc.compile(_model(), x[:1], target="rram", calib=x).ir("cell").attributes["anncc.estimate"].data
    )["per_inference"]


def test_digital_float_ops_are_in_the_totals():
    from anncc.passes.digital_ops import FP32_ADD_J, FP32_MUL_J, PER_ELEMENT

    x = torch.rand(40, 4)
    cm = anncc.compile(_model(softmax=True), x[:1], target="sot-mtj", calib=x)
    est = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)
    tot, per = est["per_inference"], est["per_layer"]
    sm = est["digital_ops"]["per_op"]["ann.softmax"]
    m, a = PER_ELEMENT["ann.softmax"]
    assert (sm["multiplies"], sm["adds"]) == (3 * m, 3 * a)  # 3 outputs
    dig = est["digital_ops"]["total"]
    assert dig["energy_j"] == pytest.approx(dig["multiplies"] * FP32_MUL_J + dig["adds"] * FP32_ADD_J)
    assert tot["energy_j"] == pytest.approx(sum(L["energy_j"] for L in per.values()) + dig["energy_j"])
    lat = (dig["multiplies"] + dig["adds"]) / (DIGITAL_LANES * DIGITAL_CLOCK_HZ)
    assert tot["latency_s"] == pytest.approx(sum(L["latency_s"] for L in per.values()) + lat)


def test_every_assumption_has_a_source_in_report_json_and_the_report(small):
    from anncc.backends.report.render import markdown
    from anncc.backends.report.summary import summarize

    _, cm = small
    summary = summarize(cm)
    rows = summary["estimate"]["assumptions"]
    assert len(rows) >= 15
    assert all(r["source"] and r["value"] not in (None, "") for r in rows)
    fields = ("adc_columns_per_adc", "adc_sample_rate_hz", "adc_area_m2", "sample_hold_area_m2")
    sources = " ".join(r["source"] for r in rows)
    assert all(type(cm.target()).source_of(f) in sources for f in fields)
    json.dumps(summary["estimate"])  # report.json carries it as is
    md = markdown(summary, {})
    assert "## Estimate model" in md and "| assumption | value | source |" in md
    assert all(r["assumption"] in md for r in rows)


def test_multi_bit_dac_activity_is_the_mean_squared_drive():
    """With 2-bit DACs a plane's digit d drives d/3 of V_read: a_t = mean((d/3)²), from the bits here."""
    torch.manual_seed(2)
    x = torch.rand(40, 4)
    cm = anncc.compile(_model(), x[:1], target="sot-mtj", calib=x, target_overrides={"dac_bits": 2})
    act = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)["input_activity"]["per_layer"]
    values: dict = {}
    run_module(cm.ir("xbar"), cm.store, [x], ExecContext(store=cm.store), values=values)
    op = next(o for o in cm.ir("xbar").walk() if isinstance(o, XbarMvmOp))
    xq = values[op.input].numpy().astype(np.int64)
    digits = [(xq >> (2 * t)) & 3 for t in range(4)]  # unsigned 8-bit input: four 2-bit planes
    assert act[op.layer.data] == pytest.approx([float(((d / 3.0) ** 2).mean()) for d in digits])


def test_the_activity_run_keeps_to_its_multiply_accumulate_budget(small, monkeypatch):
    import anncc.activity as activity

    x, cm = small
    monkeypatch.setattr(activity, "MAC_BUDGET", 1)  # less than one input's products: one input is run
    _, samples = activity.measure_input_activity(cm.ir("xbar"), cm.store, x.numpy(), 1)
    assert samples == 1
    monkeypatch.setattr(activity, "MAC_BUDGET", 1 << 40)
    _, samples = activity.measure_input_activity(cm.ir("xbar"), cm.store, x.numpy(), 1, max_samples=7)
    assert samples == 7
