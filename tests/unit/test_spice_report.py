"""The SPICE error table and parity plot reach the report's Verification section (no ngspice run)."""

from __future__ import annotations

import numpy as np


def _row(name: str, bias: bool) -> dict:
    rng = np.random.default_rng(0)
    i_rt = rng.uniform(1e-7, 1e-4, (4, 6))
    codes = rng.integers(0, 16, (4, 10))
    return {"array": name, "layer": "fc1", "rows": 32, "cols": 32, "vectors": 4, "bias_dependent": bias,
            "max_rel_err_current": 3e-12, "adc_codes": 40, "adc_code_mismatches": 0, "near_boundary": 1,
            "pipeline_code_diffs": 2 if bias else 0, "_i_runtime": i_rt, "_i_spice": i_rt * (1 + 1e-12),
            "_codes_runtime": codes, "_codes_spice": codes}


def test_table_and_parity_plot_go_into_report_html(tmp_path):
    from anncc.backends.report.render import html_page
    from anncc.backends.report.verification import verification_lines
    from anncc.backends.spice.verify import _parity_plot, _table

    rows = [_row("fc1_r0c0", True), _row("fc2_r0c0", False)]
    table = _table(rows, {"fc1_r0c0": 1.25})
    assert "| fc1_r0c0 | fc1 | 32x32 | MTJ, bias-dependent | 4 | 1.2 | 3.00e-12 | 40 | 0 | 1 | 2 |" in table
    png = _parity_plot(rows, tmp_path / "figures" / "spice_parity.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    md = "\n".join(verification_lines({"spice": {"passed": True, "lines": ["spice: PASSED"], "table": table,
                                                 "figures": ["figures/spice_parity.png"]}}))
    page = html_page(md)
    assert '<img alt="spice spice_parity" src="figures/spice_parity.png">' in page
    assert "<th>pipeline codes differing</th>" in page and "<td>MTJ, bias-dependent</td>" in page
