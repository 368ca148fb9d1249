"""The reference column is part of the ideal model, of fault maps and of redundancy (issue 15).

The sense amplifier subtracts the reference column's current from every column
before the ADC. Its cells hold level 0, so a healthy one subtracts nothing; a
stuck-high one lowers every column of its row. The ideal cell level (the golden
model), the golden vectors and the analog read with every effect off agree on it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from cell_ir import cell_array, random_inputs, random_weights

from anncc.runtime import analog as A
from anncc.runtime.cell_kernels import cell_mvm, ideal_tile, sensed_levels
from anncc.runtime.golden import tile_read
from anncc.runtime.interpreter import ExecContext
from anncc.targets import get_target


def ideal(ca, x):
    return cell_mvm(ca.op, ca.with_input(x), ExecContext())


def analog(ca, x, target, **options):
    ctx = ExecContext(analog=True, seed=0, options=dict(options, target=target))
    return A.analog_mvm(ca.op, ca.with_input(x), ctx)


def stuck_reference(target, rows=24, cols=5, **kw):
    w = random_weights(rows, cols, seed=7)
    healthy = cell_array(w, target, **kw)
    ref = healthy.op.params().ref_col
    ar, ac = healthy.args[2].shape
    fm = np.zeros((ar, ac), np.uint8)
    fm[[1, 5, 11], ref] = 2  # three stuck-high reference cells on driven rows
    fm[2, ref] = 1           # a stuck-low one is harmless (the cell should be level 0)
    return healthy, cell_array(w, target, faults=fm, **kw)


@pytest.mark.parametrize("name", ["sot-mtj", "rram", "pcm"])
@pytest.mark.parametrize("signed,dac_bits,adc_shift", [(False, 1, None), (True, 1, 1), (True, 2, 0)])
def test_a_stuck_reference_cell_is_seen_alike_by_ideal_analog_and_golden(name, signed, dac_bits,
                                                                         adc_shift):
    t = get_target(name)
    healthy, faulty = stuck_reference(t, in_signed=signed, dac_bits=dac_bits, adc_shift=adc_shift,
                                      adc_bits=None if adc_shift is None else 5)
    x = random_inputs(60, 24, signed=signed, seed=2)
    want = ideal(faulty, x)
    assert not torch.equal(want, ideal(healthy, x))  # the ideal model sees the reference column
    for fast in (True, False):  # every noise effect off: analog equals the ideal level
        assert torch.equal(analog(faulty, x, t, **dict(A.IDEAL_OPTIONS, fast_path=fast)), want)
    f = faulty.op.params()
    _x, _w, lv, cm, rm, fm = faulty.with_input(x)
    xt = torch.from_numpy(x)
    assert torch.equal(ideal_tile(xt, lv, cm, rm, fm, f), want)
    assert np.array_equal(tile_read(xt, lv, cm, rm, fm, f)["acc"], want.numpy())


def test_sensed_levels_subtract_the_reference_cell_of_each_row():
    t = get_target("sot-mtj")
    healthy, faulty = stuck_reference(t)
    f = faulty.op.params()
    _x, _w, lv, cm, rm, fm = faulty.args
    s = sensed_levels(lv, cm, rm, fm, f.ref_col, f.bits_per_cell)
    h = sensed_levels(*healthy.args[2:], f.ref_col, f.bits_per_cell)
    assert torch.equal(s[[0, 2, 3]], h[[0, 2, 3]])
    assert torch.equal(s[[1, 5, 11]], h[[1, 5, 11]] - 1)  # binary cells: top level 1


def test_redundancy_repairs_a_stuck_reference_cell_with_a_spare_row_or_reports_it():
    from anncc.passes.insert_redundancy import remap_array

    levels = np.zeros((8, 6), np.uint8)
    levels[:4, :4] = np.random.default_rng(0).integers(0, 2, (4, 4))
    colmap = np.arange(4, dtype=np.int32).reshape(2, 1, 2)
    rowmap = np.arange(4, dtype=np.int32)
    faults = np.zeros((8, 6), np.uint8)
    faults[2, 4] = 2  # reference column 4, driven row 2
    spared = remap_array(levels, faults, colmap, rowmap, 1, 4, spare_rows=4, spare_cols=1)
    assert spared.reference_before == 1 and spared.reference_after == 0
    assert spared.harmful_before >= 1 and spared.harmful_after == 0
    assert spared.rowmap[2] >= 4  # row 2 moved to a spare row with a healthy reference cell
    none = remap_array(levels, faults, colmap, rowmap, 1, 4, spare_rows=0, spare_cols=1)
    assert none.reference_after == 1 and none.harmful_after >= 1  # not claimed repaired


def test_insert_redundancy_reports_an_unrepaired_reference_fault(tmp_path):
    import anncc
    from anncc.ir.cell import MvmOp
    from anncc.passes.insert_redundancy import RedundancyWarning
    from anncc.runtime.model import module_json_attr

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 4)).eval()
    x = torch.rand(32, 12)
    kw = dict(target="sot-mtj", calib=x, target_overrides={"array_rows": 16, "array_cols": 32})
    clean = anncc.compile(model, x[:1], **kw)
    op = next(o for o in clean.ir("cell").walk() if isinstance(o, MvmOp))
    f = op.params()
    fm = np.zeros((f.array_rows, f.array_cols), np.uint8)
    fm[3, f.ref_col] = 2
    np.savez(tmp_path / "faults.npz", **{f.tile: fm})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        faulty = anncc.compile(model, x[:1], fault_map=str(tmp_path / "faults.npz"), **kw)
    assert any(issubclass(w.category, RedundancyWarning) for w in caught)
    red = module_json_attr(faulty.ir("cell"), "anncc.redundancy")
    assert red[f.tile]["reference_after"] == 1 and red[f.tile]["harmful_after"] >= 1
    spared = anncc.compile(model, x[:1], fault_map=str(tmp_path / "faults.npz"), spare_rows=2, **kw)
    red = module_json_attr(spared.ir("cell"), "anncc.redundancy")
    assert red[f.tile]["reference_after"] == 0
    assert torch.equal(spared.run(x, level="cell"), clean.run(x, level="cell"))
    assert not torch.equal(faulty.run(x, level="cell"), clean.run(x, level="cell"))
