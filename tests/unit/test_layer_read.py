"""Batched layer reads (runtime/layer_read.py) give the per-array path's integers (issue 16)."""

from __future__ import annotations

import pytest
import torch
from cell_ir import mlp_model

from anncc.runtime.chip import cell_ops
from anncc.runtime.interpreter import ExecContext
from anncc.runtime.layer_read import layer_plan


@pytest.fixture(scope="module")
def wide():
    # 600 inputs x 130 outputs on 256x256 rram arrays: a group of 4 arrays of 256 rows x 63 columns
    cm, x = mlp_model([600, 130, 5], target="rram", n_calib=48, seed=4)
    return cm, x[:6]


def test_layer_groups_share_input_and_shape(wide):
    cm, _ = wide
    ops = list(cell_ops(cm.ir("cell")))
    plan = layer_plan(ops[0], ExecContext(store=cm.store))
    groups = {id(g): g for g in plan.values()}
    assert groups and max(len(g.ops) for g in groups.values()) >= 4
    for g in groups.values():
        p0 = g.params[0]
        assert all((p.layer, p.rows, p.cols) == (p0.layer, p0.rows, p0.cols) for p in g.params)
        assert len({o.operands[0] for o in g.ops}) == 1


@pytest.mark.parametrize("options", [
    {},                                                      # the target's noise
    {"drift_time_s": 3600.0, "stuck_at_low_rate": 0.01},     # drift compensation, faults
    {"read_noise": False, "adc_noise": True, "adc_noise_sigma_lsb": 0.7},  # ADC noise only
    {"ir_drop": True},                                       # counts from effective weights
])
def test_batched_read_equals_per_array_read(wide, options):
    cm, x = wide
    per_array = cm.run(x, level="cell", analog=True, seed=7, layer_batch=False, **options)
    batched = cm.run(x, level="cell", analog=True, seed=7, **options)
    assert torch.equal(per_array, batched)
    # and the read noise is live: another seed's read differs
    assert not torch.equal(batched, cm.run(x, level="cell", analog=True, seed=8, **options))


def test_kept_chip_rereads_batched_with_fresh_noise(wide):
    cm, x = wide
    chip = cm.program(seed=2)
    a, b = cm.run(x, level="cell", chip=chip), cm.run(x, level="cell", chip=chip)
    assert not torch.equal(a, b)
    chip2 = cm.program(seed=2, layer_batch=False)
    a2, b2 = cm.run(x, level="cell", chip=chip2), cm.run(x, level="cell", chip=chip2)
    assert torch.equal(a, a2) and torch.equal(b, b2)
