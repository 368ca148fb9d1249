"""The wheel holds every subpackage and installs and imports on its own (DESIGN.md section 2).

The repository maps folders to subpackages with setuptools `package-dir`
(`driver/` is `anncc`, `ir/` is `anncc.ir`, ...), so a subpackage missing from
`packages` is silently left out of the wheel while every test of an editable
checkout still passes. This test builds the wheel from a copy of the tree,
checks its file list against the tree, installs it into a fresh virtual
environment (one that sees this environment's packages, so torch and xDSL are
not reinstalled: `nested_venv.make_venv`) and imports every subpackage from a directory outside the
checkout.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from nested_venv import make_venv

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGE_DIRS: dict[str, str] = SETUPTOOLS["package-dir"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
#: What DESIGN.md's layout promises at the least.
CORE = ["anncc", "anncc.frontend", "anncc.ir", "anncc.passes", "anncc.targets",
        "anncc.backends", "anncc.runtime", "anncc.examples"]
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                    ".hypothesis", ".pytest_cache", ".ruff_cache", "*.pyc")

pytestmark = pytest.mark.slow


def _folder_of(package: str) -> Path:
    """The source folder of a dotted package name, through `package-dir`."""
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in PACKAGE_DIRS:
            return ROOT / PACKAGE_DIRS[prefix] / Path(*parts[i:])
    raise AssertionError(f"{package} is not mapped by package-dir")


def _wheel_path(package: str, name: str) -> str:
    return "/".join(package.split(".") + [name])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the tree (a build writes into the tree it builds)."""
    work = tmp_path_factory.mktemp("wheel")
    src = shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCE)
    out = work / "dist"
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation",
               "--skip-dependency-check", "--outdir", str(out), str(src)]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--no-index", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    wheels = list(out.glob("anncc-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_pyproject_lists_every_subpackage_of_the_tree() -> None:
    assert set(CORE) <= set(PACKAGES)
    for package in PACKAGES:
        assert (_folder_of(package) / "__init__.py").is_file(), f"{package} has no __init__.py"
    for top, folder in PACKAGE_DIRS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            dotted = ".".join([top, *rel.parts])
            if any(dotted == p or _folder_of(p) == init.parent for p in PACKAGES):
                continue
            pytest.fail(f"{init.parent.relative_to(ROOT)} is a package but not in pyproject's "
                        f"[tool.setuptools] packages (it would be missing from the wheel)")


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        folder = _folder_of(package)
        for module in folder.glob("*.py"):
            assert _wheel_path(package, module.name) in names, f"{package}/{module.name} missing"
    for package, patterns in SETUPTOOLS.get("package-data", {}).items():
        folder = _folder_of(package)
        for pattern in patterns:
            for path in folder.glob(pattern):
                rel = path.relative_to(folder).as_posix()
                assert _wheel_path(package, rel) in names, f"data {package}/{rel} missing"
    entry_points = next(n for n in names if fnmatch.fnmatch(n, "anncc-*.dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "anncc-opt = anncc.opt:main" in text and "anncc = anncc.opt:get_universe" in text


def test_wheel_installs_and_imports_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    python = make_venv(env)
    # pip comes from the outer environment; --ignore-installed: the outer anncc (an editable
    # checkout, most likely) must not count as already installed
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--no-index",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    script = (
        "import importlib, sys\n"
        f"names = {PACKAGES!r}\n"
        "for name in names:\n"
        "    mod = importlib.import_module(name)\n"
        "    assert mod.__file__ and mod.__file__.startswith(sys.prefix), (name, mod.__file__)\n"
        "print('imported', len(names))\n"
    )
    env_vars = {"PATH": f"{env / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=outside,
                          env=env_vars, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"imported {len(PACKAGES)}" in proc.stdout
    opt = subprocess.run([env / "bin" / "anncc-opt", "--version"], capture_output=True,
                         text=True, cwd=outside, env=env_vars, timeout=600)
    assert opt.returncode == 0 and "anncc-opt" in opt.stdout, opt.stderr
