"""anncc.backends.report: report.md, report.html, report.json and figures."""

from __future__ import annotations

from anncc.backends.report.render import write_report
from anncc.backends.report.summary import summarize

__all__ = ["summarize", "write_report"]
