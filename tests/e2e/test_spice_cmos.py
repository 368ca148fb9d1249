"""The cmos digits MLP as one ngspice netlist, end to end, against the runtime's cmos model."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_cmos_network_agrees_with_the_runtime_on_held_out_digits(tmp_path):
    pytest.importorskip("PySpice")
    import anncc
    from anncc.backends.spice.cmos import run_cmos_end_to_end
    from anncc.examples import digits

    model = digits.train_mlp()
    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    cm = anncc.compile(model, x_test[:1], target="cmos", w_bits=4, in_bits=8, calib=x_train[:256])
    summary = run_cmos_end_to_end(cm, x_test, seed=0, out_dir=tmp_path)
    assert summary["inputs"] == len(x_test) == 359
    assert summary["agreement"] >= 0.99, summary["lines"]
    assert 1e-6 < summary["signal_power_mean_w"] < 1.0
    assert summary["opamp_static_power_w"] > 0
    deck = (tmp_path / "cmos_network.cir").read_text()
    assert deck.count("ANNCC_OPAMP params:") == summary["n_opamps"] and "Bdac63p7 " in deck
    # the same deck by hand: ngspice -b, outside anncc, gives the same classes for the first digits
    small = run_cmos_end_to_end(cm, x_test[:5], seed=0, out_dir=tmp_path)
    proc = subprocess.run(["ngspice", "-b", "cmos_network.cir"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-400:]
    out = np.loadtxt(tmp_path / "out" / "cmos_network.csv", skiprows=1, ndmin=2)[:, 1:]
    assert out.shape == (5, 10)
    assert out.argmax(1).tolist() == small["classes"]
