"""mypy on the packages `anncc.ir` and `anncc.passes` (what `.ci/run` checks).

The repository maps folders to subpackages with setuptools `package-dir`
(`driver/` is `anncc`, `ir/` is `anncc.ir`, ...), which mypy cannot follow, and
an editable install is found through an import hook mypy does not run. So this
script lays the package out as it is installed — a tree of symbolic links in
`.mypy_tree/anncc/` (git-ignored) — and runs mypy there with the configuration
in pyproject.toml ([tool.mypy]); messages name the files of the repository.

    python scripts/typecheck.py                    # anncc.ir and anncc.passes
    python scripts/typecheck.py anncc.runtime      # any other subpackages
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / ".mypy_tree"
DEFAULT_PACKAGES = ("anncc.ir", "anncc.passes")


def package_dirs() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def link_tree() -> dict[str, str]:
    """Build `.mypy_tree/anncc`; returns {path prefix in the tree: path prefix in the repository}."""
    shutil.rmtree(TREE, ignore_errors=True)
    top = TREE / "anncc"
    top.mkdir(parents=True)
    prefixes: dict[str, str] = {}
    subpackages = {k: v for k, v in package_dirs().items() if k.count(".") == 1}
    for name, folder in sorted(subpackages.items()):
        (top / name.split(".")[1]).symlink_to(ROOT / folder, target_is_directory=True)
        prefixes[f"anncc/{name.split('.')[1]}/"] = f"{folder}/"
    own = package_dirs()["anncc"]
    for path in sorted((ROOT / own).glob("*.py")):
        (top / path.name).symlink_to(path)
    prefixes["anncc/"] = f"{own}/"
    return prefixes


def main(argv: list[str]) -> int:
    packages = argv or list(DEFAULT_PACKAGES)
    prefixes = link_tree()
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
           "--cache-dir", str(ROOT / ".mypy_cache"), *[a for p in packages for a in ("-p", p)]]
    proc = subprocess.run(cmd, cwd=TREE, env=dict(os.environ, MYPYPATH=str(TREE)),
                          capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        for tree_prefix, repo_prefix in prefixes.items():  # subpackages come before the top package
            if line.startswith(tree_prefix):
                line = repo_prefix + line[len(tree_prefix):]
                break
        print(line)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
