"""A build with per-column calibration folded into its requant constants stays bit-exact in RTL."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import anncc
from anncc.examples import digits

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog is not installed")]


def test_calibrated_build_is_bit_exact_in_rtl(tmp_path):
    from anncc.backends.verilog import emit_rtl, write_vectors
    from anncc.backends.verilog.verify import run
    from anncc.compensation import calibrate_compiled

    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    cm = anncc.compile(digits.train_mlp(), x_test[:1], target="sot-mtj", calib=x_train[:256])
    before = cm.run(x_test[:64], level="cell")
    report = calibrate_compiled(cm, x_train[:64], 1, quiet=True)
    assert len(report) == 2 and all(r["gain_min"] > 1.0 for r in report)
    assert not np.array_equal(before.numpy(), cm.run(x_test[:64], level="cell").numpy())
    emit_rtl(cm, tmp_path / "rtl")
    write_vectors(cm, x_test[:64], tmp_path / "rtl")
    res = run(tmp_path)
    assert res["passed"] and res["mismatches"] == 0 and res["vectors"] == 64, res["lines"]
