"""The digits models through the whole compiler: the issue's accuracy and fault criteria.

- MLP and CNN at 4-bit weights and 8-bit inputs keep accuracy within 1.5 points
  of float at the xbar level on the held-out digits;
- the ideal cell level equals the xbar level where the ADC is lossless;
- with 2 % stuck-at faults (seed 1), spares recover most of the loss.
"""

from __future__ import annotations

import pytest

import anncc
from anncc.examples import digits


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def trained(request):
    flat = request.param == "mlp"
    model = digits.train_mlp() if flat else digits.train_cnn()
    x_train, _, x_test, y_test = digits.load_digits_split(flat=flat)
    return request.param, model, x_train[:256], x_test, y_test


def test_xbar_accuracy_within_1_5_points_of_float(trained):
    name, model, calib, x, y = trained
    cm = anncc.compile(model, x[:1], target="sot-mtj", w_bits=4, in_bits=8, calib=calib)
    float_acc = digits.accuracy(model, x, y)
    assert cm.accuracy(x, y, level="ann") == pytest.approx(float_acc, abs=1e-6)
    xbar_acc = cm.accuracy(x, y, level="xbar")
    assert xbar_acc >= float_acc - 0.015, (name, float_acc, xbar_acc)
    assert cm.accuracy(x, y, level="cell") >= xbar_acc - 0.01


def test_spares_recover_most_of_the_stuck_at_loss(trained):
    from anncc.frontend import import_model
    from anncc.pipeline import CompileOptions
    from anncc.studies import fault_study

    _, model, calib, x, y = trained
    # sot-mtj at its nominal 64x64: this test is about spares, and IR-drop sizing would pick
    # 16x32 arrays (8 usable rows, 2 weights each) and several times the arrays to simulate
    opts = CompileOptions(target="sot-mtj", calib=calib, fault_rate=0.02, seed=1,
                          spare_cols=16, spare_rows=8,
                          target_overrides={"array_rows": 64, "array_cols": 64})
    acc = fault_study(lambda: import_model(model, x[:1]), opts, x[:1], (x, y))
    clean, faulty, spared = acc.values()
    assert faulty < clean  # 2 % stuck-at faults cost accuracy
    assert clean - spared <= 0.5 * (clean - faulty)  # spares recover at least half the loss
