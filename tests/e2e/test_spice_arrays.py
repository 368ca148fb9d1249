"""Emitted array netlists against the runtime: by hand with `ngspice -b`, and through PySpice.

Small arrays (32x32, the digits MLP) so the whole file runs in seconds.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


def _compiled(target: str):
    import anncc
    from anncc.examples import digits

    model = digits.train_mlp()
    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    cm = anncc.compile(model, x_test[:1], target=target, w_bits=4, in_bits=8, calib=x_train[:128],
                       target_overrides={"array_rows": 32, "array_cols": 32})
    return cm, x_test


@pytest.mark.slow
@needs_ngspice
def test_emitted_netlist_run_by_hand_reproduces_the_runtime(tmp_path):
    """Write build/spice/, then run one harness exactly as a designer would: `ngspice -b x.cir`."""
    from anncc.backends.spice.arrays import collect_arrays
    from anncc.backends.spice.emit import emit_spice

    cm, x_test = _compiled("sot-mtj")
    spice = tmp_path / "spice"
    emit_spice(cm, spice, seed=5, inputs=x_test[:2], tiles=["fc1.r0c0"])
    proc = subprocess.run(["ngspice", "-b", "fc1_r0c0.cir"], cwd=spice, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-500:] + proc.stderr[-500:]
    rows = (spice / "out" / "fc1_r0c0.csv").read_text().splitlines()
    assert rows[0].split()[:2] == ["v-sweep", "vsense0#branch"]
    got = np.array([[float(t) for t in r.split()[1:]] for r in rows[1:]])
    volts = np.load(spice / "vectors" / "fc1_r0c0.npy")
    assert got.shape == (len(volts), 32) and len(volts) >= 4
    # the runtime's chip of seed 5, read through its own IR-drop solve
    (arr,) = collect_arrays(cm, seed=5, names=["fc1.r0c0"])
    want = arr.runtime_currents(volts)
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-3 * arr.unit_current_a)
    assert rel.max() <= 1e-6, rel.max()
    assert rel.max() <= 1e-10  # 16 printed digits: far better than the tolerance
    # a different chip (seed) would not match: the netlist holds this seed's devices
    (other,) = collect_arrays(cm, seed=6, names=["fc1.r0c0"])
    assert np.abs(other.runtime_currents(volts) - got).max() > 1e3 * np.abs(got - want).max()


@pytest.mark.slow
@needs_ngspice
@pytest.mark.parametrize("target", ["sot-mtj", "rram", "pcm"])
def test_pyspice_verify_matches_the_runtime(target, tmp_path):
    pytest.importorskip("PySpice")
    from anncc.backends.spice.verify import run

    cm, x_test = _compiled(target)
    cm.save(tmp_path)
    jobs = 2 if target == "rram" else 1  # one target through the process pool
    summary = run(tmp_path, seed=0, jobs=jobs, inputs=x_test[:2], max_vectors=8, progress=False)
    assert summary["passed"], summary["lines"]
    assert summary["arrays"] == 2  # one per layer: the default sample covers every layer
    assert summary["max_rel_err_current"] <= 1e-6
    assert summary["adc_code_mismatches"] == 0
    assert (tmp_path / "spice" / "verify.json").exists()
    assert (tmp_path / "figures" / "spice_parity.png").stat().st_size > 1000
    assert "near a boundary" in summary["lines"][-1]


@pytest.mark.slow
def test_non_convergence_is_a_one_line_error():
    pytest.importorskip("PySpice")
    from anncc.backends.spice.simulate import SpiceConvergenceError, simulate_deck

    # two ideal sources in parallel at different voltages: no operating point exists
    deck = ("* bad\nVidx idx 0 DC 0\nBdac0 in0 0 V = pwl(v(idx), 0, 0.1, 1, 0.2)\n"
            "Vsense0 in0 0 DC 0\n.end\n")
    with pytest.raises(SpiceConvergenceError, match="no operating point") as e:
        simulate_deck(deck, 2, 1, where="bad.cir")
    assert "\n" not in str(e.value) and str(e.value).startswith("bad.cir: ")


@pytest.mark.slow
@needs_ngspice
def test_access_resistance_reaches_netlist_and_runtime_alike(tmp_path, monkeypatch):
    """A nonzero r_access_ohm: the netlist's Ra resistors and the runtime's mesh use the same value."""
    pytest.importorskip("PySpice")
    from anncc.backends.spice.arrays import collect_arrays
    from anncc.backends.spice.netlist import array_subckt
    from anncc.backends.spice.verify import run
    from anncc.targets import get_target

    r_access = 1234.5
    cls = type(get_target("sot-mtj"))
    if "r_access_ohm" not in getattr(cls, "model_fields", {}):  # until the targets carry the field
        monkeypatch.setattr(cls, "r_access_ohm", r_access, raising=False)
    cm, x_test = _compiled("sot-mtj")
    if "r_access_ohm" in getattr(cls, "model_fields", {}):
        import anncc
        from anncc.examples import digits

        x_train, _, _, _ = digits.load_digits_split(flat=True)
        cm = anncc.compile(digits.train_mlp(), x_test[:1], target="sot-mtj", w_bits=4, in_bits=8,
                           calib=x_train[:128], target_overrides={"array_rows": 32, "array_cols": 32,
                                                                  "r_access_ohm": r_access})
    (arr,) = collect_arrays(cm, seed=0, names=["fc2.r0c0"])
    assert arr.mesh.r_access_ohm == r_access and arr.mesh.bias is not None
    text = array_subckt(arr)
    assert f"R_access {r_access!r} ohm" in text
    ra = re.findall(r"^Ra\d+_\d+ \S+ \S+ (\S+)$", text, re.M)
    assert len(ra) == 32 * 32 and {float(r) for r in ra} == {r_access}
    cm.save(tmp_path)
    summary = run(tmp_path, arrays=["fc2.r0c0"], seed=0, jobs=1, inputs=x_test[:2], max_vectors=4,
                  progress=False)
    assert summary["passed"], summary["lines"]
    assert summary["max_rel_err_current"] <= 1e-9
    assert "| fc2_r0c0 | fc2 | 32x32 | MTJ, bias-dependent |" in summary["table"]


@pytest.mark.slow
def test_arrays_over_max_rows_are_refused_with_the_estimated_time(tmp_path):
    from anncc.backends.spice.verify import run
    from anncc.errors import AnnccError

    cm, x_test = _compiled("rram")
    cm.save(tmp_path)
    with pytest.raises(AnnccError, match=r"32x32: ngspice 39 .* about \d+ s .*--max-rows 32 runs it"):
        run(tmp_path, seed=0, jobs=1, inputs=x_test[:2], max_vectors=4, progress=False, max_rows=16)
