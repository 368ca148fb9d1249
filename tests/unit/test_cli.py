"""The `anncc` command as a user meets it: help, the main job, and one-line errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from anncc.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anncc.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_help_names_the_subcommands():
    r = run_cli("--help")
    assert r.returncode == 0 and "anncc eval" in r.stdout and "--target" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["missing.pt2"], "does not exist"),
    (["--target", "nope"], "unknown target 'nope'"),
    (["--w-bits", "1"], "--w-bits must be in [2, 8]"),
    (["--fault-rate", "0.9"], "--fault-rate must be in [0, 0.5]"),
    (["--target-file", "missing.yaml"], "not found"),
])
def test_bad_input_is_one_line_and_exit_1(args, message, capsys, tmp_path):
    assert main([*args, "-o", str(tmp_path / "b"), "-q"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_corrupt_model_file(tmp_path, capsys):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip archive")
    assert main([str(bad), "-o", str(tmp_path / "b"), "-q"]) == 1
    assert "corrupt" in capsys.readouterr().err


def test_main_job_writes_a_loadable_build_and_is_deterministic(tmp_path):
    """The embedded example end to end; a second run gives byte-identical files."""
    import anncc.runtime

    outs = []
    for name in ("a", "b"):
        assert main(["--example", "digits-mlp", "-o", str(tmp_path / name), "-q"]) == 0
        outs.append(tmp_path / name)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert {"model.mlir", "weights.safetensors", "report.md", "report.html", "report.json"} <= {
        str(f) for f in files}
    for f in files:
        if str(f) == "report.json":  # identical except the measured compile times
            a, b = (json.loads((o / f).read_text()) for o in outs)
            for r in (a, b):
                assert r.pop("compile_time_total_s") > 0 and r.pop("compile_time_s")
            assert a == b
            continue
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    report = json.loads((outs[0] / "report.json").read_text())
    assert report["accuracy"]["xbar (integer)"] > 0.9
    # model.mlir is the final level's ir/ file itself (a hard link), not a second copy
    final, mirror = outs[0] / "ir" / "cell.mlir", outs[0] / "model.mlir"
    assert final.stat().st_ino == mirror.stat().st_ino and final.stat().st_nlink == 2
    model = anncc.runtime.load(outs[0])
    from anncc.examples import digits

    _, _, x, y = digits.load_digits_split(flat=True)
    assert model.accuracy(x, y, level="xbar") == pytest.approx(report["accuracy"]["xbar (integer)"])


def test_targets_subcommand_lists_every_target(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for name in ("sot-mtj", "sot-mtj-dw", "rram", "pcm", "cmos"):
        assert name in out
