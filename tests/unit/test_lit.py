"""The lit + FileCheck suite (`tests/filecheck`) run from pytest, one pytest test per lit test.

Every `.mlir` and `.py` file under `tests/filecheck` (outside `Inputs/`) is a
lit test, so a file added anywhere there (a pass's test in `passes/`, say) is
picked up with no change here, and CI's pytest summary counts each one. lit
runs once per session, in parallel, on exactly the files pytest selected
(`-k ops.mlir` runs one); each test then reports its own lit result and, on
failure, lit's output (the RUN lines and FileCheck's complaint).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SUITE = Path(__file__).resolve().parents[1] / "filecheck"
SUFFIXES = (".mlir", ".py")
NOT_TESTS = {"Inputs", "Output", "__pycache__"}
SUITE_NAME = "anncc"  # config.name in tests/filecheck/lit.cfg


def discover() -> list[str]:
    """The lit tests below the suite, as paths relative to it (what lit names them)."""
    found = []
    for path in SUITE.rglob("*"):
        rel = path.relative_to(SUITE)
        if path.is_file() and path.suffix in SUFFIXES and not NOT_TESTS & set(rel.parts[:-1]):
            found.append(rel.as_posix())
    return sorted(found)


def _missing_tools() -> list[str]:
    return [m for m in ("lit", "filecheck") if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="session")
def lit_results(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run lit once on the selected tests; their results by relative path."""
    if missing := _missing_tools():
        pytest.skip(f"{' and '.join(missing)} not installed (pip install -e '.[test]')")
    selected = sorted({
        item.callspec.params["lit_test"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_lit" and hasattr(item, "callspec")
    })
    out = tmp_path_factory.mktemp("lit")
    report = out / "results.json"
    env = dict(os.environ, ANNCC_LIT_EXEC_ROOT=str(out / "exec"))
    cmd = [sys.executable, "-c", "import lit.main; lit.main.main()", "-q", "-o", str(report),
           *(str(SUITE / t) for t in selected)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if not report.exists():
        pytest.fail(f"lit did not run (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    tests = json.loads(report.read_text())["tests"]
    prefix = f"{SUITE_NAME} :: "
    return {t["name"].removeprefix(prefix): t for t in tests}


@pytest.mark.parametrize("lit_test", discover())
def test_lit(lit_test: str, lit_results: dict[str, dict[str, Any]]) -> None:
    """The lit test passes: its RUN lines succeed and FileCheck matches every CHECK."""
    result = lit_results.get(lit_test)
    assert result is not None, f"lit did not report {lit_test}; ran: {sorted(lit_results)}"
    code = result["code"]
    if code == "UNSUPPORTED":
        pytest.skip(f"lit: {lit_test} is unsupported here")
    assert code in ("PASS", "XFAIL"), f"lit: {code}\n{result.get('output', '')}"


def test_suite_is_not_empty() -> None:
    """The dialect round-trip and invalid-IR tests exist (a broken glob would pass vacuously)."""
    tests = discover()
    for dialect in ("ann", "xbar", "cell"):
        assert f"dialects/{dialect}/ops.mlir" in tests
        assert f"dialects/{dialect}/invalid.mlir" in tests
