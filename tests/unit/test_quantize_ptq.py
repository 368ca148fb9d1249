"""Post-training quantization: each PTQ component on its own, calibration files, per-layer bits."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import anncc
from anncc.calibration import CalibrationWarning, check_sample_count, load_calibration
from anncc.errors import AnnccError
from anncc.ir.ann import LinearOp, quant_of
from anncc.passes._calibration import (
    RangeStats,
    bias_correction,
    choose_range,
    minmax_scales,
    parse_bits_per_layer,
    quantize_with_scale,
    search_weight_clip,
    weight_error,
)


def heavy_tailed(shape, seed=0) -> np.ndarray:
    """Student-t (3 degrees of freedom) weights: a few large outliers per column."""
    return np.random.default_rng(seed).standard_t(3, size=shape) * 0.05


def test_clip_search_reduces_mse_against_minmax_on_heavy_tails():
    m = heavy_tailed((256, 16))
    base = minmax_scales(m, 4, per_channel=True)
    best = search_weight_clip(m, 4, per_channel=True)
    e_base, e_best = weight_error(m, base, 4), weight_error(m, best, 4)
    assert np.all(e_best <= e_base + 1e-15)  # min-max is a candidate, so never worse
    assert e_best.sum() < 0.85 * e_base.sum()  # and on heavy tails better (measured 0.75)
    assert np.all(best <= base)  # clipping only shrinks the range


def test_clip_search_per_tensor_keeps_one_scale():
    m = heavy_tailed((64, 8), seed=1)
    s = search_weight_clip(m, 3, per_channel=False)
    assert np.allclose(s, s[0])
    assert weight_error(m, s, 3).sum() <= weight_error(m, minmax_scales(m, 3, False), 3).sum()


def test_bias_correction_removes_the_mean_output_shift():
    rng = np.random.default_rng(2)
    m = heavy_tailed((40, 12), seed=2)
    b = rng.normal(size=12)
    x = rng.random((500, 40)) + 0.5  # inputs with a large mean, as after a ReLU
    s = minmax_scales(m, 3, True)
    m_hat = quantize_with_scale(m, s, 3) * s
    shift = (x @ m_hat + b).mean(0) - (x @ m + b).mean(0)
    assert np.abs(shift).max() > 1e-2  # rounding moves the mean output
    fixed = (x @ m_hat + b + bias_correction(m, m_hat, x.mean(0))).mean(0) - (x @ m + b).mean(0)
    assert np.abs(fixed).max() < 1e-9


def test_activation_range_criteria():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=100_000), [60.0]])  # one outlier
    stats = RangeStats.of(x)
    assert stats.signed and stats.max_abs == pytest.approx(60.0)
    assert choose_range(stats, 8, "minmax") == pytest.approx(60.0)
    p = choose_range(stats, 8, "percentile", 99.9)
    assert 2.5 < p < 4.5  # |N(0,1)| 99.9th percentile is 3.29, within a bin of 60/2048
    assert choose_range(stats, 4, "mse") < 10.0  # at 4 bits one outlier in 1e5 is not worth its steps
    assert choose_range(stats, 8, "mse") <= 60.0


def test_degenerate_range_names_the_layer():
    stats = RangeStats.of(np.zeros(100))
    with pytest.raises(AnnccError, match="layer 'fc2'.*degenerate"):
        choose_range(stats, 8, "mse", layer="fc2")


def test_dead_layer_compiles_to_an_error_naming_it_not_zeros():
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.fill_(-1.0)  # the ReLU output is always 0
    x = torch.rand(40, 6)
    with pytest.raises(AnnccError, match=r"layer 'v2'.*input range is degenerate"):
        anncc.compile(net, (x[:1],), calib=x.numpy())


def test_tiny_weights_next_to_a_bias_are_refused_naming_the_layer():
    """Weights 1e-12 (the issue's case): the bias would saturate int32 instead of giving zeros."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    with torch.no_grad():
        net[0].weight.mul_(1e-12)
        net[2].weight.mul_(1e-12)
        net[0].bias.abs_()
    x = torch.rand(40, 6)
    with pytest.raises(AnnccError, match=r"layer 'v0': bias .* beyond int32"):
        anncc.compile(net, (x[:1],), calib=x.numpy())


def test_small_but_consistent_scales_are_not_floored():
    """Activations of 1e-12 with biases to match compile and run (the old 1e-8 floor gave zeros)."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4))
    with torch.no_grad():
        net[0].weight.mul_(1e-12)
        net[0].bias.mul_(1e-12)
    x = torch.rand(40, 6)
    cm = anncc.compile(net, (x[:1],), calib=x.numpy())
    want, got = net(x).detach(), cm.run(x, level="xbar")
    assert want.abs().max() < 1e-11
    peak = float(want.abs().max())
    assert float(got.abs().max()) > 0.5 * peak  # not the zeros of the old 1e-8 floor
    assert torch.allclose(got, want, atol=0.15 * peak, rtol=0)  # 4-bit weights over 6 inputs


def test_calibration_file_loading(tmp_path):
    x = np.random.default_rng(0).random((40, 6)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", x=x, y=np.zeros(40))
    np.savez(tmp_path / "c.npz", images=x)
    np.savez(tmp_path / "d.npz", p=x, q=x)
    for name in ("a.npy", "b.npz", "c.npz"):
        np.testing.assert_array_equal(load_calibration(tmp_path / name), x)
    with pytest.raises(AnnccError, match="holds p, q"):
        load_calibration(tmp_path / "d.npz")
    with pytest.raises(AnnccError, match="calibration inputs .*missing.npy does not exist"):
        load_calibration(tmp_path / "missing.npy")


def test_few_calibration_samples_warn():
    with pytest.warns(CalibrationWarning, match="calibrating on 1 input .*at least 32"):
        check_sample_count(np.zeros((1, 6)), "the example inputs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_sample_count(np.zeros((32, 6)), "calib")


def test_compile_with_the_example_input_only_warns():
    net = torch.nn.Sequential(torch.nn.Linear(6, 3))
    with pytest.warns(CalibrationWarning, match="the example inputs"):
        anncc.compile(net, (torch.rand(1, 6),))


def test_w_bits_per_layer():
    assert parse_bits_per_layer("fc1=8, conv2=3") == {"fc1": 8, "conv2": 3}
    with pytest.raises(AnnccError, match="bad per-layer"):
        parse_bits_per_layer("fc1:8")
    with pytest.raises(AnnccError, match="w-bits must be in"):
        parse_bits_per_layer("fc1=9")
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.rand(40, 6)
    # nn.Sequential's layer at index 2 is named v2 (an SSA name cannot start with a digit)
    cm = anncc.compile(net, (x[:1],), calib=x.numpy(), w_bits_per_layer="v2=6")
    bits = [quant_of(o).w_bits for o in cm.ir("ann").walk() if isinstance(o, LinearOp)]
    assert bits == [4, 6]
    with pytest.raises(AnnccError, match="unknown layer.*fc9.*layers: v0, v2"):
        anncc.compile(net, (x[:1],), calib=x.numpy(), w_bits_per_layer="fc9=6")


def test_ann_level_keeps_the_float_bias():
    """Bias correction changes what tile sees, not the float `ann` level."""
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.rand(64, 6)
    cm = anncc.compile(net, (x[:1],), calib=x.numpy(), bias_correct=True)
    torch.testing.assert_close(cm.run(x, level="ann"), net(x).detach(), rtol=1e-5, atol=1e-6)


def test_passes_do_not_import_the_runtime():
    code = ("import sys, anncc.passes.quantize, anncc.passes.tile; "
            "print(sorted(m for m in sys.modules if m.startswith('anncc.runtime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("groups,rk,cn", [(64, 49, 1), (2, 9, 1), (4, 27, 8), (32, 18, 2), (3, 5, 7)])
def test_grouped_clip_search_gives_the_whole_matrix_scales_bit_for_bit(groups, rk, cn):
    from anncc.passes.quantize import quantize_weights

    rng = np.random.default_rng(groups)
    m = np.zeros((groups * rk, groups * cn))
    for g in range(groups):  # block-diagonal, as weight_matrix lays out a grouped convolution
        m[g * rk:(g + 1) * rk, g * cn:(g + 1) * cn] = rng.standard_t(3, size=(rk, cn)) * 0.05
    if cn > 1:
        m[:, 0] = 0.0  # an all-zero column keeps its min-max scale of 1.0 either way
    for rw in (None, rng.random(m.shape[0]) + 0.5):
        whole = quantize_weights(m, 4, True, "mse", rw)
        grouped = quantize_weights(m, 4, True, "mse", rw, groups=groups)
        assert whole[1].tobytes() == grouped[1].tobytes()
        assert np.array_equal(whole[0], grouped[0])
