"""Under `CI=true` a missing ngspice, lit or filecheck fails the run (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _rules():
    spec = importlib.util.spec_from_file_location("suite_rules", CONFTEST)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_missing_tools_are_named():
    rules = _rules()
    assert rules.missing_ci_tools(which=lambda t: None, find_spec=lambda m: None) == [
        "ngspice", "lit", "filecheck"]
    assert rules.missing_ci_tools(which=lambda t: "/usr/bin/" + t, find_spec=lambda m: object()) == []


@pytest.mark.parametrize("reason,names", [
    ("ngspice not installed", True), ("lit and filecheck not installed (pip install)", True),
    ("lit: x.mlir is unsupported here", False), ("verilator not installed", False),
])
def test_only_skips_for_a_ci_tool_count(reason, names):
    assert _rules().names_a_ci_tool(reason) is names


def _pytest(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_needs_ngspice.py").write_text(
        "import pytest\n\ndef test_it():\n    pytest.skip('ngspice not installed')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_a_skip_for_ngspice_fails_under_ci_and_skips_elsewhere(tmp_path):
    if _rules().missing_ci_tools():
        pytest.skip("this machine lacks a CI tool: the session check would stop the inner run first")
    ci = _pytest(tmp_path, ci=True)
    assert ci.returncode == 1 and "skipped for a missing tool, which CI requires" in ci.stdout, ci.stdout
    local = _pytest(tmp_path, ci=False)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
