"""Bias-dependent MTJ cells on the array mesh (`anncc.runtime.mesh_newton`): Newton vs independent checks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from anncc.errors import AnnccError
from anncc.runtime import devices
from anncc.runtime.mesh import ArrayMesh
from anncc.runtime.mesh_newton import MtjCells, solve_biased
from anncc.targets import get_target


@pytest.fixture(scope="module")
def mtj():
    t = get_target("sot-mtj")
    rng = np.random.default_rng(1)
    lv = rng.integers(0, 2, (12, 10))
    g = devices.ideal_conductances(torch.tensor(lv), t, torch.float64).numpy()
    g = g * rng.uniform(0.9, 1.1, lv.shape)
    v = rng.integers(0, 2, (3, 12)) * t.v_read_v
    return t, lv, g, v


def test_cells_are_the_runtimes_device_model(mtj):
    t, lv, g, _ = mtj
    cells = MtjCells.from_programmed(g, lv, t)
    vb = np.random.default_rng(2).uniform(-0.4, 0.4, g.shape)
    i, di = cells.current(vb)
    i_rt, di_rt = devices.mtj_cell_current(torch.tensor(vb), torch.tensor(g), torch.tensor(lv), t)
    np.testing.assert_allclose(i, i_rt.numpy(), rtol=1e-13, atol=1e-20)
    np.testing.assert_allclose(di, di_rt.numpy(), rtol=1e-13, atol=1e-20)
    # at the read bias every cell conducts its programmed conductance; AP cells less at lower bias
    np.testing.assert_allclose(cells.conductance_at(t.v_read_v), g, rtol=1e-13)
    ap = lv == 0
    assert np.all(cells.conductance_at(0.01)[ap] < g[ap]) and np.allclose(cells.conductance_at(0.01)[~ap],
                                                                         g[~ap], rtol=1e-12)


@pytest.mark.parametrize("r_access", [0.0, 1500.0])
def test_linear_cells_match_the_effective_weights(mtj, r_access):
    _, _, g, v = mtj
    mesh = ArrayMesh(g, 2.5, 50.0, r_access)
    want = mesh.column_currents(v)  # the runtime's linear IR-drop solve
    np.testing.assert_allclose(solve_biased(mesh, v), want, rtol=1e-11, atol=0)


@pytest.mark.parametrize("r_access", [0.0, 1500.0])
def test_newton_agrees_with_an_independent_fixed_point_solve(mtj, r_access):
    """Picard iteration on the linear solver (secant conductance I/V per cell) reaches the same point."""
    from anncc.runtime.irdrop import DirectMeshSolver

    t, lv, g, v = mtj
    mesh = ArrayMesh(g, 2.5, 50.0, r_access, MtjCells.from_programmed(g, lv, t))
    got = mesh.column_currents(v)
    cells = mesh.bias
    for k, row in enumerate(v):
        vm = np.full(g.shape, t.v_read_v)  # MTJ voltages
        for _ in range(200):
            gm = cells.current(vm)[0] / np.where(vm == 0, 1e-30, vm)
            gm = np.where(vm == 0, cells.conductance_at(1e-9), gm)
            gb = gm / (1 + r_access * gm)
            solver = DirectMeshSolver(gb, mesh.params, backend="splu")
            rv, cv = solver.node_voltages(row)
            vm_new = (rv[0] - cv[0]) / (1 + r_access * gm)
            if np.max(np.abs(vm_new - vm)) < 1e-15:
                break
            vm = vm_new
        want = solver.column_currents(row)
        np.testing.assert_allclose(got[k], want, rtol=1e-10, atol=0)
    # and the bias dependence matters here: the linear read-bias mesh is off by far more
    lin = ArrayMesh(g, 2.5, 50.0, r_access).column_currents(v)
    assert np.max(np.abs(lin - got) / np.abs(got)) > 1e-4


def test_ideal_mesh_is_the_sum_of_cell_currents(mtj):
    t, lv, g, v = mtj
    mesh = ArrayMesh(g, bias=MtjCells.from_programmed(g, lv, t))
    i, _ = mesh.bias.current(np.broadcast_to(v[:, :, None], (3, *g.shape)).copy())
    np.testing.assert_allclose(mesh.column_currents(v), i.sum(1), rtol=1e-14)


def test_no_convergence_and_bad_shapes_are_errors(mtj):
    t, lv, g, v = mtj
    mesh = ArrayMesh(g, 2.5, 50.0, bias=MtjCells.from_programmed(g, lv, t))
    with pytest.raises(AnnccError, match="did not converge"):
        solve_biased(mesh, v, max_iter=1)
    with pytest.raises(AnnccError, match="row voltages"):
        solve_biased(mesh, np.zeros((1, 5)))


def test_from_target_reads_access_resistance_and_bias(mtj):
    t, lv, g, _ = mtj
    plain = ArrayMesh.from_target(g, SimpleNamespace(r_wire_ohm=2.5, r_contact_ohm=50.0, r_access_ohm=800.0))
    assert plain.r_access_ohm == 800.0 and plain.bias is None
    assert ArrayMesh.from_target(g, t).bias is None  # no levels: linear cells at the read bias
    biased = ArrayMesh.from_target(g, t, torch.tensor(lv))
    assert biased.bias is not None and biased.r_access_ohm == float(getattr(t, "r_access_ohm", 0.0))
