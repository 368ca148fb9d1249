"""quantize -> tile -> allocate-resistance -> insert-redundancy -> estimate, level against level.

The xbar level must follow the integer contract exactly (checked against a
direct integer matmul of the same quantized weights), the ideal cell level with
a lossless ADC must equal the xbar level bit for bit, and tiling must cover each
matrix exactly once, grouped convolutions included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import anncc
from anncc.ir.ann import ConvOp, LinearOp, quant_of
from anncc.ir.cell import MvmOp as CellMvm
from anncc.ir.xbar import MvmOp as XbarMvm
from anncc.runtime.model import module_json_attr

torch.manual_seed(0)


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(37, 23), torch.nn.ReLU(), torch.nn.Linear(23, 11))


def cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 6, 3, padding=1, groups=6), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 5, 1, stride=2), torch.nn.Flatten(), torch.nn.Linear(5 * 2 * 2, 7))


def compile_small(model, x, **kw):
    overrides = {"array_rows": 16, "array_cols": 32, **kw.pop("overrides", {})}
    return anncc.compile(model, x[:1], target="sot-mtj", calib=x, target_overrides=overrides, **kw)


@pytest.fixture(scope="module")
def mlp_case():
    model = mlp().eval()
    x = torch.rand(32, 37) * 2 - 0.5  # signed inputs
    # bias_correct off: the expected accumulator below uses the model's own bias
    return model, x, compile_small(model, x, overrides={"adc_bits": 16}, bias_correct=False)


@pytest.fixture(scope="module")
def cnn_case():
    model = cnn().eval()
    x = torch.rand(8, 3, 8, 8)
    return model, x, compile_small(model, x, overrides={"adc_bits": 16})


def test_xbar_level_equals_direct_integer_matmul_bit_for_bit(mlp_case):
    """Layer 1 of an odd-sized MLP split into 16-row tiles: requant output == numpy integer contract."""
    model, x, cm = mlp_case
    layer = next(o for o in cm.ir("ann").walk() if isinstance(o, LinearOp))
    q = quant_of(layer)  # the ann snapshot is the module quantize left
    assert q is not None and q.in_signed  # calibration inputs go below 0
    name = layer.results[0].name_hint
    mvms = [o for o in cm.ir("xbar").walk() if isinstance(o, XbarMvm) and o.layer.data == name]
    assert len(mvms) == math.ceil(37 / 16) * math.ceil(23 / 5)  # 16 rows; (32-1)//(2·3) = 5 cols
    wq = np.asarray(cm.store.get(q.qweight, q.qweight_digest)).astype(np.int64)
    wscale = np.asarray(cm.store.get(q.wscale))
    xq = np.clip(np.rint(x.double().numpy() / q.in_scale), -128, 127).astype(np.int64)
    bias = np.rint(model[0].bias.detach().double().numpy() / (q.in_scale * wscale)).astype(np.int64)
    # the reference rescales in exact real arithmetic (float64 of an integer accumulator), not
    # through the pass's fixed-point multiplier: round half up, ReLU clamp to [0, 255]
    real = (xq @ wq + bias) * (q.in_scale * wscale / q.out_scale)
    want = np.clip(np.floor(real + 0.5), 0, 255)
    got = cm.trace(x)["xbar"][f"{name}_q"].numpy()
    # a 31-bit multiplier moves a result by one step only next to a rounding threshold
    assert np.abs(got - want).max() <= 1
    near = np.abs(real - np.floor(real) - 0.5) < 1e-6
    np.testing.assert_array_equal(got[~near], want[~near])


@pytest.mark.parametrize("case", ["mlp_case", "cnn_case"])
def test_ideal_cell_level_with_lossless_adc_equals_xbar_level(case, request):
    _, x, cm = request.getfixturevalue(case)
    cell = cm.ir("cell")
    assert all(o.params().adc_shift == 0 for o in cell.walk() if isinstance(o, CellMvm))
    torch.testing.assert_close(cm.run(x, level="cell"), cm.run(x, level="xbar"), rtol=0, atol=0)


@pytest.mark.parametrize("case", ["mlp_case", "cnn_case"])
def test_xbar_level_tracks_float_model(case, request):
    model, x, cm = request.getfixturevalue(case)
    ref = model(x).detach()
    err = (cm.run(x, level="xbar") - ref).abs().max() / ref.abs().max()
    assert err < 0.25  # 4-bit weights, 8-bit activations
    torch.testing.assert_close(cm.run(x, level="ann"), ref, rtol=1e-5, atol=1e-5)


def test_depthwise_convolution_tiles_skip_zero_blocks(cnn_case):
    _, _, cm = cnn_case
    xbar = cm.ir("xbar")
    ann_convs = [o for o in cm.ir("ann").walk() if isinstance(o, ConvOp)]
    dw = next(o for o in ann_convs if o.groups.value.data == 6).results[0].name_hint
    tiles = [o for o in xbar.walk() if isinstance(o, XbarMvm) and o.layer.data == dw]
    # 6 groups of a 9x1 block: 16 rows hold one group (9 rows), so one tile per group
    assert len(tiles) == 6
    assert all(o.bounds()[2:] == (9, 1) for o in tiles)
    assert sorted(o.bounds()[0] for o in tiles) == [0, 9, 18, 27, 36, 45]


def test_narrower_adc_loses_more(mlp_case):
    """An ADC too narrow for the busiest column rounds LSBs away; a narrower one loses more."""
    model, x, _ = mlp_case
    ref = None
    errs = []
    for bits in (3, 2):  # 16 binary rows count up to 16: the busiest columns need shifts
        cm = compile_small(model, x, overrides={"adc_bits": bits})
        shifts = {o.params().adc_shift for o in cm.ir("cell").walk() if isinstance(o, CellMvm)}
        assert max(shifts) >= 4 - bits
        ref = cm.run(x, level="xbar") if ref is None else ref
        errs.append(float((cm.run(x, level="cell") - ref).abs().mean()))
    assert 0 < errs[0] < errs[1]


def test_faults_hurt_and_spares_repair(mlp_case):
    model, x, _ = mlp_case
    base = compile_small(model, x, overrides={"array_cols": 48})
    faulty = compile_small(model, x, overrides={"array_cols": 48}, fault_rate=0.04, seed=3)
    spared = compile_small(model, x, overrides={"array_cols": 48}, fault_rate=0.04, seed=3,
                           spare_cols=8, spare_rows=4)
    ref = base.run(x, level="cell")
    red_f = module_json_attr(faulty.ir("cell"), "anncc.redundancy")
    red_s = module_json_attr(spared.ir("cell"), "anncc.redundancy")
    before = sum(v["harmful_before"] for v in red_f.values())
    after = sum(v["harmful_after"] for v in red_s.values())
    assert before > 0 and after < before / 2
    err_f = (faulty.run(x, level="cell") - ref).abs().mean()
    err_s = (spared.run(x, level="cell") - ref).abs().mean()
    assert err_s < err_f


def test_tmr_votes_over_three_replicas(mlp_case):
    model, x, _ = mlp_case
    cm = compile_small(model, x, fault_rate=0.02, redundancy="tmr", tmr_layers="all")
    cell = cm.ir("cell")
    n_mvm = sum(isinstance(o, CellMvm) for o in cell.walk())
    n_vote = sum(o.name == "cell.vote" for o in cell.walk())
    assert n_vote > 0 and n_mvm == 3 * n_vote
    assert torch.isfinite(cm.run(x, level="cell")).all()


def test_estimate_counts_every_array(cnn_case):
    _, _, cm = cnn_case
    est = module_json_attr(cm.ir("cell"), "anncc.estimate")
    arrays = sum(isinstance(o, CellMvm) for o in cm.ir("cell").walk())
    tot = est["per_inference"]
    assert tot["arrays"] == arrays
    assert tot["energy_j"] > 0 and tot["latency_s"] > 0 and tot["area_m2"] > 0
    assert 0 < tot["utilization"] <= 1


def test_an_array_op_reuses_the_tile_attributes_it_is_given_only_when_they_match():
    from cell_ir import cell_array, random_weights

    from anncc.ir._xdsl import StringAttr
    from anncc.ir.xbar import TileAttr
    from anncc.targets import load_target

    op = cell_array(random_weights(6, 2), load_target("rram")).op
    same = CellMvm(*op.operands, op.results[0].type, op.params(), tile_attrs=(op.tile, op.geometry))
    assert same.geometry is op.geometry and same.tile is op.tile
    other = CellMvm(*op.operands, op.results[0].type, op.params(),
                    tile_attrs=(op.tile, TileAttr(op.rows, op.cols, 1, 0)))
    assert other.geometry == op.geometry and other.geometry is not op.geometry
    renamed = CellMvm(*op.operands, op.results[0].type, op.params(),
                      tile_attrs=(StringAttr("u.r0c0"), op.geometry))
    assert renamed.tile == op.tile
