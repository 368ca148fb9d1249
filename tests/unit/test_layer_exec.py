"""Fused layer execution (runtime/layer_exec.py): a layer's arrays as one step, the same integers."""

from __future__ import annotations

import pytest
import torch

import anncc
from anncc.ir.cell import MvmOp as CellMvm
from anncc.runtime.interpreter import entry_function
from anncc.runtime.layer_exec import Fusion, build_plan, fused_plan


def cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(12, 12, 3, padding=1, groups=3), torch.nn.ReLU(),  # grouped: row ranges per group
        torch.nn.Conv2d(12, 20, 1, stride=2), torch.nn.Flatten(), torch.nn.Linear(20 * 2 * 2, 7))


def compile_small(overrides: dict, **kw):
    model = cnn().eval()
    x = torch.rand(6, 3, 8, 8)
    cm = anncc.compile(model, x[:1], target="rram", calib=x,
                       target_overrides={"array_rows": 16, "array_cols": 32, **overrides}, **kw)
    return cm, x


@pytest.fixture(scope="module")
def lossless():
    return compile_small({"adc_bits": 16})


@pytest.fixture(scope="module")
def lossy():  # 3-bit ADCs: every array reads through shifts and clipping (no collapsed weights)
    return compile_small({"adc_bits": 3})


def test_every_layer_is_one_fused_step(lossless):
    cm, _ = lossless
    for level in ("xbar", "cell"):
        block = entry_function(cm.ir(level)).body.block
        plan = build_plan(block)
        fusions = [s for s in plan.steps if isinstance(s, Fusion)]
        assert len(fusions) == 4  # three convolutions and the linear layer
        assert sum(len(f.mvms) for f in fusions) == sum(
            1 for o in block.ops if o.name in ("xbar.mvm", "cell.mvm"))
        assert max(len(f.mvms) for f in fusions) > 4  # the layers really are tiled
        assert len(plan.steps) < len(list(block.ops))


def test_the_plan_is_kept_while_the_ops_are_the_same_and_rebuilt_when_they_change(lossless):
    cm, _ = lossless
    block = entry_function(cm.ir("cell").clone()).body.block
    plan = fused_plan(block)
    assert fused_plan(block) is plan
    ops = list(block.ops)
    moved = ops[0]  # the same ops, in another order
    block.detach_op(moved)
    block.insert_op_after(moved, ops[1])
    assert fused_plan(block) is not plan
    plan = fused_plan(block)
    extra = moved.clone()  # an unused op: one op more
    block.insert_op_before(extra, ops[1])
    assert fused_plan(block) is not plan
    plan = fused_plan(block)
    block.detach_op(extra)  # one op fewer
    assert fused_plan(block) is not plan


def test_fused_runs_equal_op_by_op_runs(lossless, lossy):
    for cm, x in (lossless, lossy):
        for level in ("xbar", "cell"):
            assert torch.equal(cm.run(x, level=level), cm.run(x, level=level, fuse_layers=False))
    cm, x = lossy
    shifts = {o.params().adc_shift for o in cm.ir("cell").walk() if isinstance(o, CellMvm)}
    assert max(shifts) > 0  # the faithful bit-serial read ran, not the collapsed product
    assert not torch.equal(cm.run(x, level="cell"), cm.run(x, level="xbar"))


@pytest.mark.parametrize("options", [
    {},                                                       # the target's noise
    {"drift_time_s": 3600.0, "stuck_at_low_rate": 0.02},      # drift compensation, faults
    {"read_noise": False, "programming_noise": False},        # no per-read randomness: per array
    {"ir_drop": True},
])
def test_fused_analog_runs_equal_op_by_op_runs(lossy, options):
    cm, x = lossy
    fused = cm.run(x, level="cell", analog=True, seed=5, **options)
    assert torch.equal(fused, cm.run(x, level="cell", analog=True, seed=5, fuse_layers=False,
                                     **options))
    assert torch.equal(fused, cm.run(x, level="cell", analog=True, seed=5, fuse_layers=False,
                                     layer_batch=False, **options))


def test_fault_maps_and_tmr_run_the_same_fused(tmp_path):
    cm, x = compile_small({"adc_bits": 16}, fault_rate=0.05, redundancy="tmr",
                          tmr_layers="v0")
    cell = cm.ir("cell")
    assert any(o.name == "cell.vote" for o in cell.walk())  # TMR layers keep their ops
    assert torch.equal(cm.run(x, level="cell"), cm.run(x, level="cell", fuse_layers=False))
    assert torch.equal(cm.run(x, level="cell", analog=True, seed=1),
                       cm.run(x, level="cell", analog=True, seed=1, fuse_layers=False))


def test_trace_still_records_every_partial_sum(lossless):
    cm, x = lossless
    names = cm.trace(x[:2])["cell"]
    assert any("_r1c0" in n for n in names)  # op by op: the per-array results are there


def test_report_json_lists_arrays_only_up_to_its_limit(lossless, monkeypatch):
    """report.json keeps one row per array for small models; a ResNet on small arrays has
    10^5 of them, so above `TILE_ROWS` only the layer table, the count and the sizes remain."""
    from anncc.backends.report import summary as summary_mod
    from anncc.backends.report.render import markdown

    cm, _ = lossless
    full = summary_mod.summarize(cm)
    n = full["tiles_total"]
    assert len(full["tiles"]) == n == sum(L["arrays"] for L in full["layers"].values())
    monkeypatch.setattr(summary_mod, "TILE_ROWS", n - 1)
    short = summary_mod.summarize(cm)
    assert short["tiles"] == [] and short["tiles_total"] == n and short["layers"] == full["layers"]
    assert short["array_sizes"] == full["array_sizes"] == ["16x32"]
    assert "arrays 16×32 (sized to IR drop" in markdown(short, {})


def test_groups_of_arrays_above_the_block_solver_read_the_same_with_ir_drop():
    """Arrays of more than 64 rows: each array's exact solve (dense-nd or SuperLU), stacked into
    the group's counts, gives the per-array path's integers."""
    cm, x = compile_small({"array_rows": 72, "array_cols": 64, "adc_bits": 6})
    assert max(o.params().array_rows for o in cm.ir("cell").walk() if isinstance(o, CellMvm)) > 64
    fused = cm.run(x, level="cell", analog=True, seed=2, ir_drop=True)
    assert torch.equal(fused, cm.run(x, level="cell", analog=True, seed=2, ir_drop=True,
                                     fuse_layers=False, layer_batch=False))


@pytest.mark.parametrize("c0, grid", [
    ([0, 4, 8, 0, 4, 8], True),    # two row blocks of three arrays side by side
    ([2, 6, 2, 6, 2, 6], True),    # a grid that starts at column 2
    ([0, 0, 4, 4, 8, 8], True),    # column block by column block
    ([3, 3, 3], True),             # one column block
    ([5], True),                   # one array
    ([0, 0, 4, 4, 8], False),      # unequal column blocks: the index-add path
    ([0, 4, 8, 0, 4], False),      # unequal row blocks
    ([0, 4, 0, 8], False),         # no grid
    ([0, 3, 0, 3], False),         # overlapping column ranges
])
def test_scatter_sums_are_the_int64_scatter(c0, grid, monkeypatch):
    """The rounded float partial sums added per column block equal the int64 index-add exactly,
    also where float32 would round (values near 2^24, several row blocks)."""
    from anncc.runtime import layer_exec
    from anncc.runtime.layer_exec import _scatter, scatter_sums

    g = torch.Generator().manual_seed(len(c0))
    cols, m, n = 4, 5, 16
    part = (torch.randint(-2**24, 2**24, (len(c0), m, cols), generator=g)).to(torch.float32)
    col = torch.tensor(c0, dtype=torch.int64)
    want = torch.randint(-9, 9, (m, n), generator=g)
    got = want.clone()
    _scatter(want, part.to(torch.int64), col)
    fallbacks = []
    monkeypatch.setattr(layer_exec, "_scatter", lambda *a: fallbacks.append(1) or _scatter(*a))
    scatter_sums(got, part, col)
    assert torch.equal(got, want)
    assert fallbacks == ([] if grid else [1])
