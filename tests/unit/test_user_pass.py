"""A user pass installed as its own package is found by anncc-opt (docs/writing-a-pass.md).

The example package `examples/user_pass` declares `prefix-tiles` in the
`anncc.passes` entry-point group. It is installed into a fresh virtual
environment that sees this one's packages (`--system-site-packages`, so anncc,
xDSL and torch need not be installed again), from a copy so that the build
leaves nothing in the checkout; then anncc-opt in that environment runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "user_pass"

TILES = """\
%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x4xsi4>)
%p0 = xbar.mvm %x, %w tile "fc.r0c0" <4x4 at 0, 0> layer "fc" w_bits 4 acc_bits 12 \
: (tensor<?x8xsi8>, tensor<8x4xsi4>) -> tensor<?x4xsi32>
%p1 = xbar.mvm %x, %w tile "fc.r1c0" <4x4 at 4, 0> layer "fc" w_bits 4 acc_bits 12 \
: (tensor<?x8xsi8>, tensor<8x4xsi4>) -> tensor<?x4xsi32>
%a = xbar.accumulate %p0, %p1 layer "fc" acc_bits 13 : (tensor<?x4xsi32>, tensor<?x4xsi32>) \
-> tensor<?x4xsi32>
""".replace("\\\n", "")


def _run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with the example user pass installed."""
    work = tmp_path_factory.mktemp("user_pass")
    source = shutil.copytree(EXAMPLE, work / "src",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(work / "venv")
    python = work / "venv" / "bin" / "python"
    # pip and setuptools come from the outer environment (system site packages)
    proc = _run(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                "--no-index", "--disable-pip-version-check", source, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return python


def test_the_entry_point_makes_the_pass_known(user_env: Path, tmp_path: Path) -> None:
    proc = _run(user_env, "-c", "from anncc.passes import all_passes, get_pass; "
                "print(sorted(all_passes())); print(get_pass('prefix-tiles').__module__)",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "'prefix-tiles'" in proc.stdout and "anncc_prefix_tiles" in proc.stdout


def test_anncc_opt_runs_the_user_pass(user_env: Path, tmp_path: Path) -> None:
    (tmp_path / "tiles.mlir").write_text(TILES)
    proc = _run(user_env, "-m", "anncc.opt", "tiles.mlir", "-p",
                'prefix-tiles{prefix="npu1."},cse', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert 'tile "npu1.fc.r0c0"' in out and 'tile "npu1.fc.r1c0"' in out
    assert "builtin.module attributes {prefix_tiles.count = 2 : i64}" in out
    # the rewritten module is valid IR: it parses back
    (tmp_path / "out.mlir").write_text(out)
    again = _run(user_env, "-m", "anncc.opt", "out.mlir", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout == out


def test_its_options_are_checked_like_anncc_own(user_env: Path, tmp_path: Path) -> None:
    (tmp_path / "tiles.mlir").write_text(TILES)
    proc = _run(user_env, "-m", "anncc.opt", "tiles.mlir", "-p", "prefix-tiles{prefx=a}",
                cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "pass 'prefix-tiles'" in proc.stderr and "its options are prefix" in proc.stderr


def test_stock_xdsl_opt_sees_the_user_pass_too(user_env: Path, tmp_path: Path) -> None:
    (tmp_path / "tiles.mlir").write_text(TILES)
    proc = _run(user_env, "-c", "from xdsl.tools.xdsl_opt import main; main()", "tiles.mlir",
                "-p", "prefix-tiles", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'tile "chip0.fc.r0c0"' in proc.stdout
