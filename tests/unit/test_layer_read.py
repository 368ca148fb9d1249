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


def test_read_noise_threads_draw_each_arrays_stream_in_order():
    """`chip.draw_normals` (a group read's noise) on threads: array i's numbers are
    `torch.randn` from its own generator, xi[i] then ref[i], whatever the thread count."""
    from anncc.runtime import chip as chip_mod

    def gens():
        return [torch.Generator().manual_seed(1000 + i) for i in range(7)]

    expected = []
    for g in gens():
        expected.append((torch.randn((40, 9), generator=g, dtype=torch.float64),
                         torch.randn((40, 1), generator=g, dtype=torch.float64)))
    threads = torch.get_num_threads()
    try:
        for n, threshold in ((1, 0), (3, 0), (3, 1 << 30)):
            torch.set_num_threads(n)
            chip_mod.THREADED_DRAW_MIN, saved = threshold, chip_mod.THREADED_DRAW_MIN
            try:
                xi = torch.empty(7, 40, 9, dtype=torch.float64)
                ref = torch.empty(7, 40, 1, dtype=torch.float64)
                chip_mod.draw_normals(gens(), xi, ref)
            finally:
                chip_mod.THREADED_DRAW_MIN = saved
            for i, (a, b) in enumerate(expected):
                assert torch.equal(xi[i], a) and torch.equal(ref[i], b)
    finally:
        torch.set_num_threads(threads)
    only = torch.empty(7, 40, 9, dtype=torch.float64)  # ADC noise alone: no reference draw
    chip_mod.draw_normals(gens(), only)
    assert all(torch.equal(only[i], a) for i, (a, _) in enumerate(expected))


def test_read_scratch_reuses_one_buffer_per_role_and_lives_for_one_run(wide):
    from anncc.runtime import layer_read
    from anncc.runtime.interpreter import SCRATCH_KEY

    sc = layer_read.ReadScratch()
    a = sc.take("noise", (4, 5), torch.float32)
    b = sc.take("noise", (2, 3), torch.float32)  # smaller: a view of the same memory
    assert b.data_ptr() == a.data_ptr() and b.shape == (2, 3) and b.is_contiguous()
    c = sc.take("noise", (5, 5), torch.float32)  # larger: a new buffer
    assert c.shape == (5, 5) and sc.take("noise", (5, 5), torch.float32).data_ptr() == c.data_ptr()
    assert sc.take("noise", (5, 5), torch.float64).dtype == torch.float64
    counts, noise = sc.take("counts", (5, 5), torch.float64), sc.take("noise", (5, 5), torch.float64)
    assert counts.data_ptr() != noise.data_ptr()
    cm, x = wide
    chip = cm.program(seed=2, ir_drop=False)
    used = []
    real = layer_read.read_scratch

    def spy(ctx):
        used.append(ctx)
        return real(ctx)

    layer_read.read_scratch = spy
    try:
        cm.run(x, level="cell", chip=chip)
    finally:
        layer_read.read_scratch = real
    assert used and all(c is chip.ctx for c in used)  # the group reads took their buffers here...
    assert SCRATCH_KEY not in chip.ctx.cache  # ...and the kept chip does not hold them after the run
