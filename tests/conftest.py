"""Suite-wide rules: under CI (`CI=true`), a tool the suite needs fails the run instead of skipping.

On a developer's machine a test that needs ngspice, lit or filecheck skips
when the tool is missing. In CI a skip would hide that the SPICE cross-checks
or the FileCheck suites never ran, so with `CI=true` the session stops at once
naming what is missing and how to install it, and any skip whose reason names
one of these tools is reported as a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable

import pytest

#: what CI must have: executables on PATH, and Python modules (lit and filecheck run in-process)
CI_EXECUTABLES = ("ngspice",)
CI_MODULES = ("lit", "filecheck")
INSTALL_HINT = ("sudo apt-get install -y ngspice (or bash scripts/install.sh); "
                "pip install -e '.[test]' for lit and filecheck")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_ci_tools(which: Callable[[str], str | None] = shutil.which,
                     find_spec: Callable[[str], object] = importlib.util.find_spec) -> list[str]:
    """The CI tools this machine lacks."""
    return ([t for t in CI_EXECUTABLES if which(t) is None]
            + [m for m in CI_MODULES if find_spec(m) is None])


def names_a_ci_tool(reason: str) -> bool:
    words = reason.lower().replace("'", " ").replace('"', " ").split()
    return any(tool in words for tool in (*CI_EXECUTABLES, *CI_MODULES))


def pytest_sessionstart(session: pytest.Session) -> None:
    if in_ci() and (missing := missing_ci_tools()):
        pytest.exit(f"CI=true: {', '.join(missing)} not installed, so tests would skip; "
                    f"install: {INSTALL_HINT}", returncode=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if names_a_ci_tool(reason):
            report.outcome = "failed"
            report.longrepr = f"CI=true: skipped for a missing tool, which CI requires: {reason}"
