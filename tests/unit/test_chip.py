"""A programmed chip (runtime/chip.py): batched programming, re-reads, per-tile stream."""

from __future__ import annotations

import pytest
import torch
from cell_ir import mlp_model

from anncc.runtime.analog import IDEAL_OPTIONS, operand_tensor, program_tile
from anncc.runtime.chip import cell_ops, draw_fault_indices, level_tables
from anncc.runtime.interpreter import ExecContext
from anncc.targets import get_target


@pytest.fixture(scope="module")
def mlp():
    cm, x = mlp_model([16, 24, 5], target="rram", n_calib=64, seed=2)
    return cm, x


def test_a_kept_chip_reads_the_same_devices_with_fresh_read_noise(mlp):
    cm, x = mlp
    chip = cm.program(seed=3)
    assert chip.n_arrays == sum(1 for _ in cell_ops(cm.ir("cell"))) and chip.program_s > 0
    a, b = cm.run(x, level="cell", chip=chip), cm.run(x, level="cell", chip=chip)
    assert not torch.equal(a, b)  # read noise is drawn per read
    quiet = cm.program(seed=3, read_noise=False, adc_noise=False)
    q1, q2 = cm.run(x, level="cell", chip=quiet), cm.run(x, level="cell", chip=quiet)
    assert torch.equal(q1, q2)  # same devices, no per-read randomness: same outputs
    # a new chip per call equals a fresh chip of that seed
    fresh = cm.run(x, level="cell", analog=True, seed=3, read_noise=False, adc_noise=False)
    assert torch.equal(fresh, q1)
    other = cm.run(x, level="cell", analog=True, seed=4, read_noise=False, adc_noise=False)
    assert not torch.equal(other, q1)


def test_chip_arrays_equal_arrays_programmed_alone(mlp):
    """The stream is per tile: one array alone (SPICE, training, trace) gets the chip's devices."""
    cm, _ = mlp
    chip = cm.program(seed=5, drift_time_s=3600.0, stuck_at_low_rate=0.05, stuck_at_high_rate=0.05)
    ctx = ExecContext(store=cm.store)
    for op in cell_ops(cm.ir("cell")):
        tile = op.params().tile
        alone = program_tile(op, operand_tensor(op.levels, ctx), operand_tensor(op.faults, ctx),
                             cm.target(), 5, chip.ctx.options)
        kept = chip.programmed(tile)
        assert torch.equal(alone.g_s, kept.g_s) and torch.equal(alone.fault_map, kept.fault_map)
        assert torch.equal(alone.g_t0_s, kept.g_t0_s) and not torch.equal(kept.g_s, kept.g_t0_s)
        assert int((kept.fault_map != 0).sum()) > 0


def test_ideal_chip_is_exact_nominal_float64(mlp):
    cm, x = mlp
    chip = cm.program(seed=0, **IDEAL_OPTIONS)
    for tile in chip.index:
        p = chip.programmed(tile)
        assert p.g_s.dtype == torch.float64 and torch.equal(p.g_s, p.g_nominal_s)
    assert torch.equal(cm.run(x, level="cell", chip=chip), cm.run(x, level="cell"))


def test_run_with_a_chip_refuses_options(mlp):
    from anncc.errors import AnnccError

    cm, x = mlp
    with pytest.raises(AnnccError, match="program"):
        cm.run(x, level="cell", chip=cm.program(seed=0), read_noise=False)


def test_fault_index_draws_have_the_per_cell_law():
    gen = torch.Generator().manual_seed(0)
    n, p_low, p_high = 65536, 0.01, 0.03
    counts = []
    for _ in range(40):
        idx, kind = draw_fault_indices(n, p_low, p_high, gen)
        assert idx.unique().numel() == idx.numel() and int(idx.max()) < n
        counts.append((int((kind == 1).sum()), int((kind == 2).sum())))
    low = sum(c[0] for c in counts) / (40 * n)
    high = sum(c[1] for c in counts) / (40 * n)
    # 40 arrays: the rates to within about 5 standard errors
    assert abs(low - p_low) < 5 * (p_low / (40 * n)) ** 0.5
    assert abs(high - p_high) < 5 * (p_high / (40 * n)) ** 0.5
    idx, _ = draw_fault_indices(100, 0.5, 0.4, gen)  # dense: a permutation
    assert idx.unique().numel() == idx.numel()


@pytest.mark.parametrize("name", ["rram", "pcm", "sot-mtj", "cmos"])
def test_level_tables_are_the_device_models_at_each_level(name):
    from anncc.runtime import devices

    t = get_target(name)
    tab = level_tables(t, 3600.0 if name in ("rram", "pcm") else 0.0, True)
    g = devices.ideal_conductances(torch.arange(t.levels), t)
    for xi in (-1.5, 0.3, 2.0):
        want = devices.DEVICE_MODELS[t.cell_kind].program(g, t, torch.full_like(g, xi))
        torch.testing.assert_close((tab.base + tab.sigma * xi).clamp(min=0.0), want,
                                   rtol=1e-12, atol=0.0)


def test_effective_weights_are_cached_in_the_build_directory(mlp, tmp_path, monkeypatch):
    import anncc.runtime as R
    from anncc.runtime import irdrop

    cm, x = mlp
    cm.save(tmp_path / "build")
    loaded = R.load(tmp_path / "build")
    opts = dict(IDEAL_OPTIONS, programming_noise=True, ir_drop=True)
    first = loaded.run(x, level="cell", analog=True, seed=7, **opts)
    cached = sorted((tmp_path / "build" / "cache" / "irdrop").glob("*.npy"))
    assert len(cached) == sum(1 for _ in cell_ops(loaded.ir("cell")))

    def refuse(*a, **k):
        raise AssertionError("effective weights recomputed")

    monkeypatch.setattr(irdrop, "effective_weights", refuse)
    again = R.load(tmp_path / "build").run(x, level="cell", analog=True, seed=7, **opts)
    assert torch.equal(first, again)
    with pytest.raises(AssertionError, match="recomputed"):  # another chip: not in the cache
        R.load(tmp_path / "build").run(x, level="cell", analog=True, seed=8, **opts)
    monkeypatch.undo()  # an explicit cache directory for a model that has none
    assert torch.equal(cm.run(x, level="cell", analog=True, seed=7, irdrop_cache=tmp_path / "b",
                              **opts), first)
    assert len(list((tmp_path / "b").glob("*.npy"))) == len(cached)
