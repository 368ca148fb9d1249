"""A fresh virtual environment that sees the packages of the environment running the tests.

`venv --system-site-packages` alone sees the *base* interpreter's packages: run
from inside a virtual environment (as a new user runs `scripts/test.sh`), the
nested one would miss torch, xDSL, pip's build tools and anncc itself, all of
which live in the outer environment. So a `.pth` file in the nested
environment adds the outer one's site directories with `site.addsitedir`,
which also runs their own `.pth` files (an editable anncc is found through
one). The nested environment's own site-packages stay first on `sys.path`, so
what is installed into it wins.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path


def outer_site_dirs() -> list[str]:
    """This interpreter's site-packages directories when it runs inside a virtual environment."""
    if sys.prefix == sys.base_prefix:
        return []  # the base interpreter: --system-site-packages already sees its packages
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def make_venv(path: Path) -> Path:
    """Create a venv at `path` that sees this environment's packages; returns its python."""
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(path)
    python = path / "bin" / "python"
    outer = outer_site_dirs()
    if outer:
        site_dir = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, timeout=120).stdout.strip()
        lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in outer)
        (Path(site_dir) / "_anncc_outer_env.pth").write_text(lines)
    return python
