"""`anncc verify BUILD` (driver/verify.py) with stand-in backends, so it tests the command alone.

The RTL and SPICE backends are injected into `sys.modules` under the names the
command imports; each records the options it was called with and returns a
result of the documented shape.
"""

from __future__ import annotations

import json
import shutil
import sys
import types

import pytest
from cell_ir import mlp_model

from anncc.cli import main

RTL, SPICE = "anncc.backends.verilog.verify", "anncc.backends.spice.verify"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cm, _ = mlp_model([12, 8, 3], n_calib=16, seed=2)
    out = tmp_path_factory.mktemp("build") / "b"
    cm.emit(out)
    return out


@pytest.fixture
def build(built, tmp_path):
    return shutil.copytree(built, tmp_path / "b")


def fake_backend(monkeypatch, name: str, result: dict | Exception):
    calls: list[tuple] = []

    def run(build_dir, **kw):
        calls.append((build_dir, kw))
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(run=run))
    return calls


RTL_OK = {"passed": True, "lines": ["3/3 vectors bit-exact", "412 cycles per inference"],
          "vectors": 3, "vectors_passed": 3, "cycles_per_inference": 412, "simulator": "icarus"}
SPICE_OK = {"passed": True, "lines": ["2 arrays, max rel. error 3.1e-09"], "arrays": 2,
            "max_rel_err_current": 3.1e-9, "adc_code_mismatches": 0, "near_boundary": 1,
            "table": "| array | max rel err |\n|---|---|\n| fc0.r0c0 | 3.1e-09 |"}


def test_rtl_gets_its_options_and_results_reach_verify_json_and_the_report(build, monkeypatch, capsys):
    calls = fake_backend(monkeypatch, RTL, RTL_OK)
    assert main(["verify", str(build), "--rtl", "--vectors", "3", "--per-layer"]) == 0
    assert calls == [(build, {"per_layer": True, "simulator": "icarus", "limit": 3})]
    out = capsys.readouterr().out
    assert "passed" in out and "  3/3 vectors bit-exact" in out
    record = json.loads((build / "verify.json").read_text())
    assert record["passed"] is True and record["rtl"]["vectors_passed"] == 3 and "spice" not in record
    md = (build / "report.md").read_text()
    assert "## Verification" in md and "| vectors passed | 3 |" in md
    assert "| cycles per inference | 412 |" in md
    assert "Verification" in (build / "report.html").read_text()
    assert json.loads((build / "report.json").read_text())["verification"]["rtl"]["passed"] is True


def test_spice_gets_arrays_seed_jobs_and_a_later_rtl_run_keeps_its_result(build, monkeypatch):
    spice = fake_backend(monkeypatch, SPICE, SPICE_OK)
    (build / "figures" / "spice_parity.png").write_bytes(b"png")  # what the SPICE backend draws
    assert main(["verify", str(build), "--spice", "--arrays", "fc0.r0c0, fc1.r0c0", "--seed", "4",
                 "--jobs", "2"]) == 0
    assert spice == [(build, {"arrays": ["fc0.r0c0", "fc1.r0c0"], "seed": 4, "jobs": 2})]
    fake_backend(monkeypatch, RTL, dict(RTL_OK, passed=False, vectors_passed=2, mismatches=1))
    assert main(["verify", str(build), "--rtl"]) == 1
    record = json.loads((build / "verify.json").read_text())
    assert record["spice"]["max_rel_err_current"] == 3.1e-9 and record["rtl"]["passed"] is False
    assert record["passed"] is False
    md = (build / "report.md").read_text()
    assert "RTL against the golden vectors: FAILED" in md and "SPICE against the runtime: passed" in md
    assert "| vectors mismatched | 1 |" in md
    assert "| worst relative current error | 3.1e-09 |" in md
    assert "| fc0.r0c0 | 3.1e-09 |" in md and "(figures/spice_parity.png)" in md


def test_no_flag_runs_both_backends(build, monkeypatch):
    rtl, spice = fake_backend(monkeypatch, RTL, RTL_OK), fake_backend(monkeypatch, SPICE, SPICE_OK)
    assert main(["verify", str(build)]) == 0
    assert len(rtl) == 1 and len(spice) == 1 and rtl[0][1]["limit"] is None and spice[0][1]["arrays"] is None


def test_a_missing_backend_is_one_line_and_nothing_runs(build, monkeypatch, capsys):
    spice = fake_backend(monkeypatch, SPICE, SPICE_OK)
    monkeypatch.setitem(sys.modules, RTL, None)  # import of it fails as if not installed
    assert main(["verify", str(build), "--rtl", "--spice"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("anncc: error: the RTL (Verilog) backend is not present") and err.count("\n") == 1
    assert spice == [] and not (build / "verify.json").exists()


def test_a_backend_missing_a_python_package_names_it(build, monkeypatch, capsys):
    fake_backend(monkeypatch, RTL, ModuleNotFoundError("No module named 'cocotb'", name="cocotb"))
    assert main(["verify", str(build), "--rtl"]) == 1
    err = capsys.readouterr().err
    assert "needs the Python package 'cocotb'" in err and "pip install cocotb" in err
    assert "Traceback" not in err


def test_a_result_without_passed_and_lines_is_refused(build, monkeypatch, capsys):
    fake_backend(monkeypatch, RTL, {"ok": True})
    assert main(["verify", str(build), "--rtl"]) == 1
    assert "not a dict with 'passed' (bool) and 'lines'" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--vectors", "0"], "--vectors must be >= 1"),
    (["--rtl", "--arrays", "fc0.r0c0"], "--arrays chooses SPICE arrays"),
])
def test_bad_options_are_one_line(build, args, message, capsys):
    assert main(["verify", str(build), *args]) == 1
    assert message in capsys.readouterr().err


def test_not_a_build_or_no_golden_vectors(build, tmp_path, monkeypatch, capsys):
    fake_backend(monkeypatch, RTL, RTL_OK)
    assert main(["verify", str(tmp_path / "nope"), "--rtl"]) == 1
    assert "is not an anncc build directory" in capsys.readouterr().err
    shutil.rmtree(build / "golden")
    assert main(["verify", str(build), "--rtl"]) == 1
    assert "has no golden vectors" in capsys.readouterr().err
