"""The crossbar IR-drop mesh: exact and iterative solvers, effective weights, α/β.

Every test names the physics or the contract it checks. Arrays are small so the
whole file runs in a few seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from anncc.errors import AnnccError, TargetError
from anncc.ir.contract import irdrop_expected_error
from anncc.runtime.irdrop import (
    DirectMeshSolver,
    IRDropWarning,
    MeshParams,
    _mesh_pattern,
    _nd_plan,
    alpha_beta,
    cg_error_vs_direct,
    dense_nd,
    effective_weights,
    ideal_currents,
    mean_irdrop_error,
    solve_cg,
    solve_direct,
    warn_if_irdrop_significant,
)

# Yi Li et al., Nature Electronics 2022 (706x706 array): 2.5 ohm per segment, 50 ohm contacts.
NATURE_2022 = MeshParams(r_wire_ohm=2.5, r_contact_ohm=50.0)


def cells(n_rows: int, n_cols: int, seed: int = 0) -> np.ndarray:
    """Cell conductances from resistances uniform in 5-10 kOhm (an SOT-MTJ's R_P..R_AP)."""
    return 1.0 / np.random.default_rng(seed).uniform(5e3, 10e3, (n_rows, n_cols))


def inputs(n_rows: int, n_vectors: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.2, (n_rows, n_vectors))


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_no_parasitics_gives_the_ideal_crossbar_exactly():
    G, V = cells(9, 7), inputs(9, 3)
    ideal = MeshParams(0.0, 0.0)
    np.testing.assert_array_equal(solve_direct(G, V, ideal), V.T @ G)
    np.testing.assert_array_equal(effective_weights(G, ideal), G)
    assert solve_cg(G, V, ideal).iterations == 0


@pytest.mark.parametrize("backend", ["splu", "dense-nd"])
@pytest.mark.parametrize("r_ohm", [1e-6, 1e-9])
def test_vanishing_wire_and_contact_resistance_approaches_V_dot_G(r_ohm, backend):
    G, V = cells(12, 10), inputs(12, 4)
    p = MeshParams(r_ohm, r_ohm)
    ideal = ideal_currents(G, V)
    # The remaining loss is first order in R: alpha/2 + 2*beta.
    bound = 2 * alpha_beta(G, p).expected_error + 1e-12
    assert rel_err(solve_direct(G, V, p, backend=backend), ideal) < bound
    assert rel_err(V.T @ effective_weights(G, p, backend=backend), ideal) < bound
    assert rel_err(solve_cg(G, V, p).currents, ideal) < bound


def test_orderings_and_backends_of_the_direct_solve_agree():
    G, V = cells(17, 23), inputs(17, 5)
    nd = solve_direct(G, V, NATURE_2022, backend="splu", ordering="nested-dissection")
    mmd = solve_direct(G, V, NATURE_2022, backend="splu", ordering="mmd")
    assert rel_err(nd, mmd) < 1e-12


def test_cg_with_line_preconditioner_matches_the_direct_solve():
    G, V = cells(40, 28), inputs(40, 6)
    result = solve_cg(G, V, NATURE_2022, rtol=1e-12)
    assert result.converged
    assert result.relative_residual < 1e-11
    assert result.iterations < 30  # the line preconditioner captures the wires
    assert rel_err(result.currents, solve_direct(G, V, NATURE_2022)) < 1e-10


def test_cg_error_report_against_the_direct_solver():
    report = cg_error_vs_direct(cells(32, 32), inputs(32, 2), NATURE_2022, rtol=1e-12)
    assert report.converged and report.max_relative_error < 1e-10
    loose = cg_error_vs_direct(cells(32, 32), inputs(32, 2), NATURE_2022, rtol=1e-3)
    assert loose.iterations <= report.iterations
    assert loose.max_relative_error > report.max_relative_error


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (16, 16), (21, 13), (13, 21)])
def test_effective_weights_reproduce_the_direct_solve(shape):
    G, V = cells(*shape), inputs(shape[0], 4)
    exact = solve_direct(G, V, NATURE_2022)
    assert rel_err(V.T @ effective_weights(G, NATURE_2022), exact) < 1e-12
    assert rel_err(V.T @ effective_weights(G, NATURE_2022, ordering="mmd"), exact) < 1e-12
    assert rel_err(V.T @ effective_weights(G, NATURE_2022, backend="dense-nd"), exact) < 1e-12


# The dense nested-dissection backend (the default from 64x64 cells up) against SuperLU.
# Shapes: one site, single rows and columns, at and just above the leaf size (6x6),
# odd and unequal halves, rectangles both ways, the auto threshold, and a medium array.
DENSE_ND_SHAPES = [
    (1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (1, 40), (40, 1), (2, 2), (3, 7), (7, 3),
    (6, 6), (7, 7), (13, 5), (5, 13), (16, 16), (21, 13), (13, 21), (40, 37), (33, 64),
    (64, 33), (64, 64), (97, 61), (150, 130),
]  # fmt: skip


@pytest.mark.parametrize("shape", DENSE_ND_SHAPES)
def test_dense_nd_backend_matches_superlu(shape):
    G, V = cells(*shape, seed=3), inputs(shape[0], 3)
    reference = solve_direct(G, V, NATURE_2022, backend="splu")
    assert rel_err(solve_direct(G, V, NATURE_2022, backend="dense-nd"), reference) < 1e-11
    g_eff = effective_weights(G, NATURE_2022, backend="dense-nd")
    assert g_eff.shape == shape
    assert rel_err(V.T @ g_eff, reference) < 1e-11


def test_dense_nd_with_open_cells_and_an_empty_array():
    """Cells of zero conductance (open, or stuck at high resistance) keep the mesh solvable."""
    G, V = cells(45, 52, seed=4), inputs(45, 2)
    G[np.random.default_rng(5).random(G.shape) < 0.3] = 0.0
    G[:, 7] = 0.0  # a whole column open
    G[11, :] = 0.0  # and a whole row
    reference = solve_direct(G, V, NATURE_2022, backend="splu")
    currents = solve_direct(G, V, NATURE_2022, backend="dense-nd")
    assert rel_err(currents, reference) < 1e-11
    np.testing.assert_allclose(currents[:, 7], 0.0, atol=1e-16)  # the open column carries nothing
    empty = solve_direct(np.zeros((20, 30)), inputs(20, 2), NATURE_2022, backend="dense-nd")
    np.testing.assert_allclose(empty, 0.0, atol=1e-16)


def test_auto_backend_is_dense_nd_for_large_arrays_only():
    assert DirectMeshSolver(cells(64, 64), NATURE_2022).backend == "dense-nd"
    assert DirectMeshSolver(cells(128, 40), NATURE_2022).backend == "dense-nd"
    assert DirectMeshSolver(cells(63, 64), NATURE_2022).backend in ("splu", "cholmod")
    assert DirectMeshSolver(cells(8, 8), NATURE_2022, backend="dense-nd").backend == "dense-nd"
    with pytest.raises(AnnccError, match="unknown backend"):
        DirectMeshSolver(cells(8, 8), NATURE_2022, backend="lu")  # type: ignore[arg-type]


def test_dense_nd_node_voltages_fall_back_to_superlu_and_agree_with_its_currents():
    G, V = cells(70, 66), inputs(70, 2)
    solver = DirectMeshSolver(G, NATURE_2022)
    assert solver.backend == "dense-nd"
    row_v, col_v = solver.node_voltages(V)
    assert row_v.shape == col_v.shape == (2, 70, 66)
    from_nodes = col_v[:, -1, :] / NATURE_2022.r_contact_ohm
    assert rel_err(solver.column_currents(V), from_nodes) < 1e-11
    # Kirchhoff: what the drivers push in is what the virtual grounds take out.
    into_rows = ((V.T - row_v[:, :, 0]) / NATURE_2022.r_contact_ohm).sum(axis=1)
    np.testing.assert_allclose(solver.column_currents(V).sum(axis=1), into_rows, rtol=1e-10)


def test_dense_nd_reciprocity():
    G = cells(70, 81, seed=6)
    mirrored = G[::-1, ::-1].T
    g_eff = effective_weights(G, NATURE_2022, backend="dense-nd")
    np.testing.assert_allclose(
        effective_weights(mirrored, NATURE_2022, backend="dense-nd"), g_eff[::-1, ::-1].T, rtol=1e-10
    )


def test_dense_nd_batched_and_one_block_merges_and_threads_agree(monkeypatch):
    """Every merge can run batched (small inverses) or block by block (Cholesky), on threads or not."""
    G, V = cells(90, 77, seed=7), inputs(90, 2)
    monkeypatch.setattr(dense_nd, "_ND_WORKERS", 3)
    reference = solve_direct(G, V, NATURE_2022, backend="dense-nd")
    monkeypatch.setattr(dense_nd, "_ND_WORKERS", 1)  # the same tasks, in order: the same bits
    np.testing.assert_array_equal(solve_direct(G, V, NATURE_2022, backend="dense-nd"), reference)
    for face in (1, 10**9):  # all block by block / all batched
        monkeypatch.setattr(dense_nd, "_ND_BATCH_MAX_FACE", face)
        assert rel_err(solve_direct(G, V, NATURE_2022, backend="dense-nd"), reference) < 1e-12


@pytest.mark.parametrize("shape", [(706, 706), (64, 64), (1, 50), (50, 1), (37, 91)])
def test_dense_nd_plan_covers_the_array_once(shape):
    N, M = shape
    plan = _nd_plan(N, M)
    covered = np.zeros(shape, dtype=int)
    for (h, w, _, _), (r0, c0) in plan.origins.items():
        assert h <= dense_nd._ND_LEAF and w <= dense_nd._ND_LEAF
        for r, c in zip(r0, c0, strict=True):
            covered[r : r + h, c : c + w] += 1
    assert np.all(covered == 1)
    assert sorted(plan.terminal_pos) == list(range(N + M))
    for key in plan.halves:  # no half is one site thin unless the array is
        for h, w, _, _ in dense_nd._nd_children(key)[:2]:
            assert (h >= 2 or N == 1) and (w >= 2 or M == 1)


def test_dense_nd_plan_is_cached_per_shape():
    _nd_plan.cache_clear()
    solve_direct(cells(70, 65, seed=1), inputs(70, 1), NATURE_2022, backend="dense-nd")
    effective_weights(cells(70, 65, seed=2), NATURE_2022, backend="dense-nd")
    info = _nd_plan.cache_info()
    assert info.misses == 1 and info.hits == 1


def test_mesh_is_linear_in_the_inputs():
    G, V = cells(15, 11), inputs(15, 2)
    solver = DirectMeshSolver(G, NATURE_2022)
    a, b = 0.7, -1.3
    combined = solver.column_currents(a * V[:, 0] + b * V[:, 1])
    parts = a * solver.column_currents(V[:, 0]) + b * solver.column_currents(V[:, 1])
    assert rel_err(combined, parts) < 1e-12
    np.testing.assert_array_equal(solver.column_currents(np.zeros(15)), np.zeros(11))


def test_reciprocity_swapping_drivers_and_sense_amplifiers():
    """The mesh is reciprocal: driving columns at their sense end and sensing rows at their
    driver end is the same array rotated by 180 degrees and transposed."""
    G = cells(10, 7)
    mirrored = G[::-1, ::-1].T
    g_eff = effective_weights(G, NATURE_2022)
    np.testing.assert_allclose(
        effective_weights(mirrored, NATURE_2022), g_eff[::-1, ::-1].T, rtol=1e-11
    )


def test_uniform_drive_only_loses_current_and_the_far_corner_loses_most():
    G = np.full((24, 24), 1 / 7.5e3)
    V = np.full(24, 0.1)
    exact = solve_direct(G, V, NATURE_2022)
    assert np.all(exact > 0) and np.all(exact < V @ G)
    # With identical cells the column farthest from the row drivers gets the least current.
    assert np.argmin(exact) == 23 and np.argmax(exact) == 0


def test_kirchhoff_current_from_drivers_equals_current_into_virtual_grounds():
    G, V = cells(14, 9), inputs(14, 3)
    solver = DirectMeshSolver(G, NATURE_2022)
    row_v, col_v = solver.node_voltages(V)
    into_rows = ((V.T - row_v[:, :, 0]) / NATURE_2022.r_contact_ohm).sum(axis=1)
    out_columns = solver.column_currents(V)
    np.testing.assert_allclose(out_columns.sum(axis=1), into_rows, rtol=1e-11)
    # and each column's current is its bottom node's voltage over R_contact
    np.testing.assert_allclose(out_columns, col_v[:, -1, :] / NATURE_2022.r_contact_ohm, rtol=1e-10)


def test_reference_column_is_just_another_column():
    G_levels = cells(12, 5)
    g_min = np.full((12, 1), 1 / 10e3)  # level-0 cells
    V = inputs(12, 2)
    with_ref = solve_direct(np.hstack([G_levels, g_min]), V, NATURE_2022)
    assert with_ref.shape == (2, 6)
    # its presence loads the rows, so the data columns change (a little)
    alone = solve_direct(G_levels, V, NATURE_2022)
    assert 0 < rel_err(with_ref[:, :5], alone) < 0.05


def test_single_vector_in_single_vector_out():
    G = cells(8, 5)
    v = np.full(8, 0.1)
    assert solve_direct(G, v, NATURE_2022).shape == (5,)
    assert solve_cg(G, v, NATURE_2022).currents.shape == (5,)
    assert solve_direct(G, v[:, None], NATURE_2022).shape == (1, 5)


def test_irdrop_error_at_8x8_and_64x64_matches_design_figures():
    """DESIGN.md section 7: 11 % at 8x8 and 64 % at 64x64 with 2.5 ohm / 50 ohm wiring."""
    assert mean_irdrop_error(cells(8, 8), np.full(8, 0.1), NATURE_2022) == pytest.approx(
        0.11, abs=0.01
    )
    assert mean_irdrop_error(cells(64, 64), np.full(64, 0.1), NATURE_2022) == pytest.approx(
        0.64, abs=0.02
    )


def test_alpha_beta_formula():
    G = np.full((8, 8), 1e-4)
    f = alpha_beta(G, NATURE_2022)
    assert f.alpha == pytest.approx(2.5 * 1e-4 * 64)
    assert f.beta == pytest.approx(50 * 1e-4 * 8)
    assert f.expected_error == pytest.approx(f.alpha / 2 + 2 * f.beta)
    assert irdrop_expected_error(0.1, 0.01) == pytest.approx(0.07)
    # rectangles: the row wire carries M cells, the column wire N
    r = alpha_beta(np.full((4, 16), 1e-4), NATURE_2022)
    assert r.alpha == pytest.approx(2.5 * 1e-4 * (16 + 256) / 2)
    assert r.beta == pytest.approx(50 * 1e-4 * (4 + 16) / 2)


def test_warning_above_one_percent_expected_error():
    G = cells(64, 64)
    with pytest.warns(IRDropWarning, match="tile_3"):
        warn_if_irdrop_significant(G, NATURE_2022, where="tile_3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = warn_if_irdrop_significant(G, MeshParams(1e-4, 1e-3))
    assert f.expected_error < 0.01


def test_pattern_is_cached_per_shape():
    _mesh_pattern.cache_clear()
    solve_direct(cells(11, 9, seed=1), inputs(11, 1), NATURE_2022)
    solve_direct(cells(11, 9, seed=2), inputs(11, 1), NATURE_2022)
    info = _mesh_pattern.cache_info()
    assert info.misses == 1 and info.hits == 1


@pytest.mark.parametrize(
    "r_wire, r_contact", [(-1.0, 50.0), (2.5, float("nan")), (0.0, 50.0), (2.5, 0.0)]
)
def test_bad_mesh_parameters_are_rejected_with_the_field_named(r_wire, r_contact):
    with pytest.raises(TargetError, match="MeshParams"):
        MeshParams(r_wire, r_contact)


def test_bad_shapes_are_rejected():
    with pytest.raises(AnnccError, match="N = 4 rows"):
        solve_direct(cells(4, 3), np.zeros(5), NATURE_2022)
    with pytest.raises(AnnccError, match="conductance"):
        solve_direct(-cells(4, 3), np.zeros(4), NATURE_2022)


@pytest.mark.parametrize("shape", [(7, 300), (256, 512), (64, 257), (40, 100)])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_dense_nd_gram_is_numpys_product_bit_for_bit(shape, layout):
    """`_gram` (dsyrk on the upper triangle, mirrored by blocks) gives `X.T @ X` exactly."""
    X = np.asarray(np.random.default_rng(3).standard_normal(shape), order=layout)
    reference = X.T @ X
    out = np.full((shape[1], shape[1]), np.nan)
    dense_nd._gram(X, out)
    np.testing.assert_array_equal(out, reference)
    dense_nd._gram(X, out, negate=True)
    np.testing.assert_array_equal(out, -reference)
    stack = np.full((2, shape[1], shape[1]), np.nan)  # a block of a stack, as the merges pass it
    dense_nd._gram(X, stack[1])
    np.testing.assert_array_equal(stack[1], reference)
    assert np.isnan(stack[0]).all()


def test_series_conductance_in_place_gives_the_same_numbers():
    import torch

    from anncc.runtime.mesh import series_conductance

    g = torch.rand(1000, dtype=torch.float64) * 1e-4 + 1e-7
    want = series_conductance(g, 2e3)
    h = g.clone()
    got = series_conductance(h, 2e3, inplace=True)
    assert got is h and torch.equal(got, want) and not torch.equal(g, h)
    assert series_conductance(g, 0.0, inplace=True) is g  # no access device: nothing to do
