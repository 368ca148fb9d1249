"""The SPICE twin of the IR-drop mesh: netlist, harness, parser, and ngspice vs runtime.

Tests that run ngspice are marked slow; the netlist and parser tests are not.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from anncc.backends.spice.mesh import (
    SpiceConvergenceError,
    find_ngspice,
    mesh_netlist,
    parse_column_currents,
    run_mesh,
)
from anncc.errors import AnnccError, ToolMissingError
from anncc.runtime.irdrop import MeshParams, effective_weights, solve_direct

NATURE_2022 = MeshParams(r_wire_ohm=2.5, r_contact_ohm=50.0)
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


def cells(n_rows: int, n_cols: int, seed: int = 0) -> np.ndarray:
    return 1.0 / np.random.default_rng(seed).uniform(5e3, 10e3, (n_rows, n_cols))


def test_netlist_has_every_element_of_the_runtime_mesh():
    N, M = 3, 4
    G = cells(N, M)
    G[1, 2] = 0.0  # an open cell has no resistor
    text = mesh_netlist(G, np.full((N, 2), 0.1), NATURE_2022)
    lines = text.splitlines()

    def count(prefix: str) -> int:
        return sum(1 for line in lines if line.startswith(prefix))

    assert count("Vin") == N and count("Rcr") == N and count("Vsense") == M and count("Rcc") == M
    assert count("Rwr") == N * (M - 1) and count("Rwc") == M * (N - 1)
    assert count("Rx") == N * M - 1 and not any(line.startswith("Rx1_2 ") for line in lines)
    # the cell resistor is 1/G with full precision, between r(i,j) and c(i,j)
    rx = next(line for line in lines if line.startswith("Rx2_3 "))
    assert rx.split()[1:3] == ["r2_3", "c2_3"] and float(rx.split()[3]) == 1.0 / G[2, 3]
    assert "Rcc3 c2_3 vg3 50.0" in lines and "Vsense3 vg3 0 DC 0" in lines
    assert "Rcr0 in0 r0_0 50.0" in lines and "Rwr0_0 r0_0 r0_1 2.5" in lines
    # one op per input vector in one control block, the second after altering the sources
    assert text.count("\nop\n") == 2 and count("alter vin") == N
    assert "set numdgt=15" in lines and lines[-1] == ".end"


def test_parser_reads_sixteen_digit_currents_per_vector():
    out = (
        "ANNCC_VECTOR 0\n"
        "i(vsense0) = 2.217162080266943e-04\n"
        "i(vsense1) = -1.5e-06\n"
        "ANNCC_VECTOR 1\n"
        "i(vsense1) = 3.000000000000001e-05\n"
        "i(vsense0) = 4.0e-05\n"
    )
    got = parse_column_currents(out, 2, 2)
    assert got[0, 0] == 2.217162080266943e-04 and got[1, 1] == 3.000000000000001e-05
    assert got[0, 1] == -1.5e-06


def test_parser_reports_non_convergence_and_missing_values():
    with pytest.raises(SpiceConvergenceError, match="no operating point"):
        parse_column_currents("Error: singular matrix:  check nodes r3_4 and r3_4\n", 1, 2)
    with pytest.raises(SpiceConvergenceError):
        parse_column_currents("doAnalyses: no convergence\nop simulation(s) aborted\n", 1, 1)
    with pytest.raises(AnnccError, match="lacks 1 of 2"):
        parse_column_currents("ANNCC_VECTOR 0\ni(vsense0) = 1e-5\n", 1, 2)


def test_missing_ngspice_says_how_to_install_it():
    with pytest.raises(ToolMissingError, match=re.escape("apt-get install -y ngspice")):
        find_ngspice("ngspice-that-does-not-exist")
    with pytest.raises(ToolMissingError):
        run_mesh(cells(2, 2), np.ones(2), NATURE_2022, ngspice="ngspice-that-does-not-exist")


def test_netlist_needs_positive_parasitics():
    with pytest.raises(AnnccError, match="positive wire and contact"):
        mesh_netlist(cells(2, 2), np.ones(2), MeshParams(0.0, 0.0))


@pytest.mark.slow
@needs_ngspice
def test_ngspice_matches_the_direct_solver_on_a_32x32_array(tmp_path):
    """32x32, cells 5-10 kOhm, R_wire 2.5 ohm, R_contact 50 ohm: ngspice and the runtime's
    sparse direct solve agree to 1e-6 relative (measured: ~1e-13)."""
    rng = np.random.default_rng(7)
    G = cells(32, 32, seed=7)
    V = np.column_stack([np.full(32, 0.1), rng.integers(0, 2, 32) * 0.1, rng.uniform(0.0, 0.2, 32)])
    spice = run_mesh(G, V, NATURE_2022, workdir=tmp_path)
    exact = solve_direct(G, V, NATURE_2022)
    rel = np.abs(spice - exact) / np.abs(exact)
    assert rel.max() <= 1e-6, rel.max()
    # ngspice printed 16 significant digits, so the agreement is far better than 1e-6
    assert rel.max() <= 1e-10
    assert (
        np.abs(V.T @ effective_weights(G, NATURE_2022) - spice).max() / np.abs(spice).max() < 1e-10
    )
    assert (tmp_path / "mesh.cir").exists() and "ANNCC_VECTOR 2" in (
        tmp_path / "ngspice.log"
    ).read_text()


@pytest.mark.slow
@needs_ngspice
def test_ngspice_single_vector_and_rectangular_array():
    G = cells(6, 11, seed=3)
    v = np.linspace(0.0, 0.2, 6)
    spice = run_mesh(G, v, NATURE_2022)
    assert spice.shape == (11,)
    np.testing.assert_allclose(spice, solve_direct(G, v, NATURE_2022), rtol=1e-10)
