"""Post-training quantization end to end: the digits CNN at 4-bit weights loses at most 1 point."""

from __future__ import annotations

import anncc
from anncc.examples import digits


def test_digits_cnn_4_bit_ptq_within_1_point_of_float():
    model = digits.train_cnn()
    x_train, _, x_test, y_test = digits.load_digits_split()
    cm = anncc.compile(model, x_test[:1], target="sot-mtj", w_bits=4, in_bits=8, calib=x_train[:256])
    float_acc = digits.accuracy(model, x_test, y_test)
    xbar_acc = cm.accuracy(x_test, y_test, level="xbar")
    assert xbar_acc >= float_acc - 0.01, (float_acc, xbar_acc)
