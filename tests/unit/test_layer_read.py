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
    # every array's partial sums, not only the outputs (requantization hides a count or two)
    assert all(torch.equal(a, b) for a, b in zip(
        _partial_sums(cm, x, layer_batch=False, **options), _partial_sums(cm, x, **options),
        strict=True))
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


@pytest.fixture(scope="module")
def mtj_wide():
    # sot-mtj: each cell's read noise is relative to its conductance (a variance per cell)
    cm, x = mlp_model([600, 130, 5], target="sot-mtj", n_calib=48, seed=5)
    return cm, x[:6]


def _partial_sums(cm, x, **options):
    """Every `cell.mvm`'s integer partial sums of one analog run (seed 7), op by op."""
    from anncc.runtime.interpreter import run_module

    values: dict = {}
    with torch.no_grad():
        run_module(cm.ir("cell"), cm.store, [x], cm.context(True, 7, **options), values=values)
    return [values[op.results[0]] for op in cell_ops(cm.ir("cell"))]


def _spy_group_reads(monkeypatch):
    from anncc.runtime import layer_read

    seen = []
    real = layer_read.read_group

    def spy(grp, m_, x, ctx):
        seen.append((len(grp.ops), m_.uniform_var is not None, m_.read_var is not None,
                     m_.adc_sigma_counts > 0))
        return real(grp, m_, x, ctx)

    monkeypatch.setattr(layer_read, "read_group", spy)
    return seen


@pytest.mark.parametrize("model, options", [
    ("wide", {}),                                                        # one σ for every cell
    ("wide", {"read_noise": False, "adc_noise": True, "adc_noise_sigma_lsb": 0.7}),  # ADC noise only
    ("wide", {"ir_drop": True, "adc_noise": True, "adc_noise_sigma_lsb": 0.3}),
    ("mtj_wide", {}),                                                    # a variance per cell
])
def test_group_reads_in_pieces_on_threads_give_the_per_array_integers(request, monkeypatch, model,
                                                                      options):
    """Pieces of a few hundred elements (many per group, one array or less each), read on
    two threads, and the layout's order (row blocks of a 2x2 grid): the per-array path's
    integers, bit for bit."""
    from anncc.runtime import layer_read

    cm, x = request.getfixturevalue(model)
    per_array = _partial_sums(cm, x, layer_batch=False, **options)
    monkeypatch.setattr(layer_read, "PIECE_ELEMENTS", 300)
    seen = _spy_group_reads(monkeypatch)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batched = _partial_sums(cm, x, **options)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads  # the read gave the caller's thread count back
    assert all(torch.equal(a, b) for a, b in zip(per_array, batched, strict=True))
    assert seen and max(n for n, *_ in seen) >= 4
    if model == "mtj_wide":
        assert any(per_cell for _, _, per_cell, _ in seen)
    elif options.get("read_noise", True):
        assert any(uniform for _, uniform, _, _ in seen)
    else:
        assert all(adc and not uniform and not per_cell for _, uniform, per_cell, adc in seen)


def test_block_layout_groups_arrays_by_the_rows_they_read():
    from types import SimpleNamespace

    from anncc.runtime.layer_read import LayerGroup, block_layout, read_pieces

    def group(offsets):
        return LayerGroup([None] * len(offsets), [f"t{i}" for i in range(len(offsets))],
                          [SimpleNamespace(row_offset=r) for r in offsets])

    # a 3 x 2 grid in IR order (row blocks fastest): blocks of the arrays at rows 0, 16, 32
    lay = block_layout(group([0, 16, 32, 0, 16, 32]))
    assert lay.per_block == 2 and lay.n_blocks == 3 and lay.source is None
    assert lay.order is not None and lay.order.tolist() == [0, 3, 1, 4, 2, 5]
    t = torch.arange(6 * 2 * 3).view(6, 2, 3)  # [A, rows, n]
    b = lay.blocked(t)
    assert b.shape == (3, 2, 6)
    assert torch.equal(b[1, :, :3], t[1]) and torch.equal(b[1, :, 3:], t[4])
    # already in block order: no reordering
    assert block_layout(group([0, 0, 16, 16])).order is None
    # row ranges with different numbers of arrays: one array per block, planes by source
    odd = block_layout(group([16, 0, 16, 16]))
    assert odd.per_block == 1 and odd.n_blocks == 4
    assert odd.order.tolist() == [1, 0, 2, 3] and odd.source.tolist() == [0, 1, 1, 1]
    # pieces: whole blocks while they fit, else ranges of a block's arrays; every array once
    for n_blocks, per_block, elements, limit in ((5, 3, 10, 40), (3, 4, 100, 30), (2, 5, 50, 1)):
        pieces = read_pieces(n_blocks, per_block, elements, limit)
        covered = [(b, c) for b0, b1, c0, c1 in pieces for b in range(b0, b1) for c in range(c0, c1)]
        assert sorted(covered) == [(b, c) for b in range(n_blocks) for c in range(per_block)]
        assert len(pieces) > 1


def test_group_read_with_one_array_per_block_gives_the_per_array_integers(wide, monkeypatch):
    """The layout for row ranges of unequal size (each array its own block, its digit planes
    picked by `source`), forced on the 2x2 grid."""
    from anncc.runtime import layer_read

    cm, x = wide
    per_array = _partial_sums(cm, x, layer_batch=False)
    real = layer_read.block_layout

    def one_per_block(grp):
        lay = real(grp)
        order = lay.order if lay.order is not None else torch.arange(len(grp.ops))
        inverse = torch.unique(torch.tensor([p.row_offset for p in grp.params]),
                               return_inverse=True)[1]
        return layer_read.BlockLayout(lay.offsets, order, inverse[order], 1)

    monkeypatch.setattr(layer_read, "block_layout", one_per_block)
    assert all(torch.equal(a, b) for a, b in zip(per_array, _partial_sums(cm, x), strict=True))
