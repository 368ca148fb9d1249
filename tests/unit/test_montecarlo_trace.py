"""Monte-Carlo accuracy (runtime/montecarlo.py, `anncc eval`) and the per-layer trace."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pytest
import torch
from cell_ir import mlp_model, teacher_labels

from anncc.evaluate import eval_command, format_duration
from anncc.runtime.analog import IDEAL_OPTIONS
from anncc.runtime.irdrop import IRDropWarning
from anncc.runtime.montecarlo import monte_carlo, summarize, trial_accuracy
from anncc.runtime.trace import compare_levels, format_trace

NOISY = dict(IDEAL_OPTIONS, d2d=True, adc_noise=True, adc_noise_sigma_lsb=0.7)


@pytest.fixture(scope="module")
def mlp():
    cm, x = mlp_model([16, 24, 5], target="sot-mtj", n_calib=120, seed=1)
    return cm, x, teacher_labels(cm, x)


def test_confidence_interval_is_students_t_around_the_mean():
    r = summarize([0.90, 0.92, 0.91, 0.95, 0.89])
    assert r["mean"] == pytest.approx(0.914) and r["trials"] == 5
    assert r["std"] == pytest.approx(np.std([0.90, 0.92, 0.91, 0.95, 0.89], ddof=1))
    half = 2.7764451051977987 * r["std"] / np.sqrt(5)  # t_0.975 with 4 degrees of freedom
    assert r["ci95"] == pytest.approx([r["mean"] - half, r["mean"] + half])
    one = summarize([0.5])
    assert one["std"] == 0 and one["ci95"] == [0.5, 0.5]
    two = summarize([0.94, 0.97])  # the t interval of two chips reaches past 100 %: clipped
    assert two["ci95"][1] == 1.0 and 0.0 < two["ci95"][0] < 0.94


def test_ideal_levels_have_zero_spread(mlp):
    cm, x, y = mlp
    for level, analog, opts in (("xbar", False, {}), ("cell", False, {}),
                                ("cell", True, IDEAL_OPTIONS)):
        r = monte_carlo(cm, x, y, trials=4, level=level, analog=analog, **opts)
        assert r["std"] == 0 and r["deterministic"] and len(set(r["per_trial"])) == 1
        assert r["ci95"] == [r["mean"], r["mean"]]
        assert r["mean"] == pytest.approx(cm.accuracy(x, y, level=level))


def test_device_noise_spreads_accuracy_over_trials(mlp):
    cm, x, y = mlp
    r = monte_carlo(cm, x, y, trials=6, seed=10, **NOISY)
    assert not r["deterministic"] and r["trials"] == 6 and r["seeds"] == list(range(10, 16))
    assert r["std"] > 0 and r["ci95"][0] < r["mean"] < r["ci95"][1]
    assert min(r["per_trial"]) <= r["mean"] <= max(r["per_trial"])
    assert r["per_trial"] == monte_carlo(cm, x, y, trials=6, seed=10, **NOISY)["per_trial"]
    # trial i is one chip, seed + i
    assert r["per_trial"][2] == trial_accuracy(cm, x, y, "cell", True, 12, **NOISY)
    # with static device errors only, batching changes nothing
    static = dict(NOISY, adc_noise=False)
    assert trial_accuracy(cm, x, y, "cell", True, 12, batch_size=37, **static) == pytest.approx(
        cm.accuracy(x, y, level="cell", analog=True, seed=12, **static))


@pytest.mark.slow
def test_trials_in_a_process_pool_equal_trials_in_process(mlp):
    cm, x, y = mlp
    local = monte_carlo(cm, x, y, trials=3, seed=3, **NOISY)
    pooled = monte_carlo(cm, x, y, trials=3, seed=3, workers=2, **NOISY)
    assert pooled["per_trial"] == local["per_trial"]


def test_format_duration_names_the_default_drift_times():
    assert [format_duration(t) for t in (1.0, 86400.0, 3.15e7, 7200.0, 0.5)] == [
        "1 s", "1 day", "1 year", "2 h", "0.5 s"]


def _args(**kw) -> argparse.Namespace:
    base = dict(trials=2, data=None, level="cell", ideal=False, drift="", no_compensation=False,
                ir_drop=False, workers=1, seed=0, json=False)
    base.update(kw)
    return argparse.Namespace(**base)


def test_eval_command_reports_pcm_drift_with_and_without_compensation(tmp_path, capsys):
    cm, x = mlp_model([12, 16, 4], target="pcm", n_calib=80, seed=3)
    data = tmp_path / "eval.npz"
    np.savez(data, x=x.numpy(), y=teacher_labels(cm, x).numpy())
    result = eval_command(cm, _args(data=str(data)))
    names = [c["condition"] for c in result["conditions"]]
    off = ", no IR drop"  # _args leaves IR drop out (--no-ir-drop): this test is about drift
    assert names == ["ideal devices", "pcm devices" + off,
                     "drift 1 s, compensated" + off, "drift 1 s, uncompensated" + off,
                     "drift 1 day, compensated" + off, "drift 1 day, uncompensated" + off,
                     "drift 1 year, compensated" + off, "drift 1 year, uncompensated" + off]
    assert all(c["options"]["ir_drop"] is False for c in result["conditions"][1:])
    table = capsys.readouterr().out
    assert "95 % CI" in table and "drift 1 year, uncompensated" in table
    assert result["conditions"][0]["std"] == 0 and result["samples"] == 80
    year = {c["condition"]: c for c in result["conditions"]}
    assert year["drift 1 year, uncompensated" + off]["options"]["drift_time_s"] == 3.15e7
    json.dumps(result)  # the --json output is plain data

    only = eval_command(cm, _args(data=str(data), drift="3600", no_compensation=True, ir_drop=True,
                                  json=True))
    assert [c["condition"] for c in only["conditions"]] == [
        "ideal devices", "pcm devices + IR drop", "drift 1 h, uncompensated + IR drop"]
    assert "ir_drop" not in only["conditions"][1]["options"]  # on by default in every analog run
    assert capsys.readouterr().out == ""
    ideal = eval_command(cm, _args(data=str(data), ideal=True, json=True))
    assert [c["condition"] for c in ideal["conditions"]] == ["ideal devices"]


def test_eval_command_defaults_to_held_out_digits_for_a_digits_model():
    cm, _ = mlp_model([64, 16, 10], target="sot-mtj", n_calib=40, seed=5)
    result = eval_command(cm, _args(level="xbar", json=True))
    assert result["samples"] == 359 and "digits" in result["data"]
    assert [c["condition"] for c in result["conditions"]] == ["xbar level (exact)"]


def test_anncc_eval_command_line_on_a_saved_build(tmp_path, capsys):
    from anncc.cli import main

    cm, x = mlp_model([10, 12, 3], target="sot-mtj", n_calib=60, seed=6)
    cm.save(tmp_path / "build")
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=teacher_labels(cm, x).numpy())
    assert main(["eval", str(tmp_path / "build"), "--trials", "2", "--data",
                 str(tmp_path / "d.npz")]) == 0
    out = capsys.readouterr().out
    assert "sot-mtj devices" in out and "ideal devices" in out
    assert main(["eval", str(tmp_path / "build"), "--trials", "2", "--json", "--data",
                 str(tmp_path / "d.npz")]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "sot-mtj"


# --------------------------------------------------------------------------- trace


def test_trace_table_names_every_layer_and_the_levels_agree_where_they_must(mlp):
    cm, x, _ = mlp
    with pytest.warns(IRDropWarning, match="arrays are expected to lose"):
        rows = compare_levels(cm, x)
    assert [r["layer"] for r in rows] == ["fc0", "fc1", "output"]
    assert [r["op"] for r in rows] == ["linear+relu", "linear", "return"]
    assert rows[0]["shape"] == [24] and rows[1]["shape"] == [5]
    for r in rows:
        assert r["cell_vs_xbar"] == 0.0  # ideal devices, lossless ADC: the integer contract
        assert 0 < r["xbar_vs_ann"] < 0.3  # 4-bit weights, 8-bit activations
    arrays = rows[0]["arrays"]
    assert arrays and {"tile", "alpha", "beta", "expected_error"} <= set(arrays[0])
    a = arrays[0]
    assert a["expected_error"] == pytest.approx(a["alpha"] / 2 + 2 * a["beta"])
    assert rows[0]["max_expected_irdrop"] > 0.01
    text = format_trace(rows)
    assert "fc0" in text and "fc1" in text and "cell vs xbar" in text


def test_trace_with_device_physics_shows_where_the_cell_level_departs(mlp):
    cm, x, _ = mlp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IRDropWarning)
        rows = compare_levels(cm, x, analog=True, seed=2, **NOISY)
    assert all(r["cell_vs_xbar"] > 0 for r in rows)
    assert rows[-1]["values"]["cell"].shape == (len(x), 5)


def test_trace_aligns_convolutions_in_their_feature_map_layout():
    import anncc

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3),
                                torch.nn.Flatten(), torch.nn.Linear(6 * 2 * 2, 3)).eval()
    x = torch.rand(16, 1, 8, 8)
    cm = anncc.compile(model, (x[:1],), target="sot-mtj", calib=x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IRDropWarning)
        rows = compare_levels(cm, x)
    assert [r["op"] for r in rows] == ["conv+relu", "conv", "linear", "return"]
    assert [r["shape"] for r in rows] == [[4, 8, 8], [6, 2, 2], [3], [3]]
    assert len({r["layer"] for r in rows}) == 4
    assert all(r["cell_vs_xbar"] == 0.0 and r["xbar_vs_ann"] < 0.3 for r in rows)
