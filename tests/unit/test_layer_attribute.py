"""Consumers key on the `layer` attribute (issue 8), estimates are pinned by hand, TMR masks a fault.

- Renaming every SSA value and every tile (as a user pass may) leaves the
  estimate unchanged: no consumer reads a layer from a name.
- One estimate figure is computed here from the target's coefficients alone.
- A stuck-at fault in one replica of a triplicated array changes that
  replica's partial sums but not the voted result.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import anncc
from anncc.ir._xdsl import Context, StringAttr
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.cell import VoteOp
from anncc.passes._store import attach_store
from anncc.passes.estimate import EstimatePass
from anncc.runtime.interpreter import ExecContext, run_module


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3)).eval()


@pytest.fixture(scope="module")
def small():
    x = torch.rand(16, 4)
    return x, anncc.compile(_model(), x[:1], target="sot-mtj", calib=x, w_bits=4, in_bits=8)


def _estimate(cm, module) -> dict:
    attach_store(module, cm.store)
    EstimatePass().apply(Context(), module)
    return json.loads(module.attributes["anncc.estimate"].data)


def test_renamed_values_and_tiles_give_the_same_estimate(small):
    _, cm = small
    module = cm.ir("cell")
    before = _estimate(cm, module.clone())
    renamed = module.clone()
    for i, op in enumerate(renamed.walk()):
        for j, res in enumerate(op.results):
            res.name_hint = f"v{i}_{j}"  # drops every `_q` and layer-shaped name
        if "tile" in op.properties:
            op.properties["tile"] = StringAttr(f"array{i}")
    after = _estimate(cm, renamed)
    assert before["per_layer"] == after["per_layer"] and len(before["per_layer"]) == 2
    assert before["per_layer"][next(iter(before["per_layer"]))]["energy_digital_j"] > 0


def test_one_estimate_figure_by_hand(small):
    """ADC and DAC energy, area of the first layer from the target's coefficients."""
    _, cm = small
    t = cm.target()
    est = json.loads(cm.ir("cell").attributes["anncc.estimate"].data)
    (first, arr) = next((o.layer.data, o) for o in cm.ir("cell").walk() if isinstance(o, CellMvmOp))
    layer = est["per_layer"][first]
    # Linear(4, 2), 4-bit weights on 1-bit cells: 3 slices x 2 polarities x 2 columns = 12 columns
    # read per input plane; inputs of torch.rand are unsigned 8-bit, read bit-serially (8 planes)
    assert (t.bits_per_cell, t.dac_bits) == (1, 1)
    reads, phys_cols, rows = 8, 12, 4
    assert layer["reads"] == reads and layer["adc_conversions"] == phys_cols * reads
    assert layer["energy_adc_j"] == pytest.approx(t.adc_energy_per_conversion_j * phys_cols * reads)
    assert layer["energy_dac_j"] == pytest.approx(t.dac_energy_per_conversion_j * rows * reads)
    ar, ac = arr.params().array_rows, arr.params().array_cols
    sizing = json.loads(cm.ir("cell").attributes["anncc.array_sizing"].data)[first]
    assert (ar, ac) == (sizing["array_rows"], sizing["array_cols"])  # sized to its IR drop
    assert ar >= 4 and ac >= 13 and ar <= t.array_rows and ac <= t.array_cols
    n_adc = -(-ac // t.adc_columns_per_adc)  # columns share an ADC (ISAAC: 128 per ADC)
    assert layer["area_m2"] == pytest.approx(ar * ac * t.cell_area_m2 + n_adc * t.adc_area_m2
                                             + ac * t.sample_hold_area_m2 + ar * t.dac_area_m2)


def test_tmr_vote_masks_a_stuck_replica(tmp_path):
    x = torch.rand(16, 4)
    model = _model()
    clean = anncc.compile(model, x[:1], target="sot-mtj", calib=x, redundancy="tmr", tmr_layers="all")
    tiles = [o.tile.data for o in clean.ir("cell").walk() if isinstance(o, CellMvmOp)]
    bad_tile = next(t for t in tiles if t.endswith(".tmr1"))
    arr = next(o for o in clean.ir("cell").walk()
               if isinstance(o, CellMvmOp) and o.tile.data == bad_tile).params()
    faults = np.zeros((arr.array_rows, arr.array_cols), dtype=np.uint8)
    faults[: arr.rows, : arr.ref_col] = 2  # every used cell of replica 1 stuck at the top level
    path = tmp_path / "faults.npz"
    np.savez(path, **{bad_tile: faults})
    faulty = anncc.compile(model, x[:1], target="sot-mtj", calib=x, redundancy="tmr",
                           tmr_layers="all", fault_map=str(path), use_spares=False)
    # the stuck replica computes other partial sums ...
    values: dict = {}
    run_module(faulty.ir("cell"), faulty.store, [x], ExecContext(store=faulty.store), values=values)
    votes = [o for o in faulty.ir("cell").walk() if isinstance(o, VoteOp)]
    vote = next(v for v in votes if any(
        isinstance(a.owner, CellMvmOp) and a.owner.tile.data == bad_tile for a in v.inputs))
    reps = [values[a] for a in vote.inputs]
    assert not torch.equal(reps[1], reps[0]) and torch.equal(reps[0], reps[2])
    assert torch.equal(values[vote.results[0]], reps[0])
    # ... and the voted network equals the fault-free one
    assert torch.equal(faulty.run(x, level="cell"), clean.run(x, level="cell"))


def test_tmr_of_an_unknown_layer_is_an_error_naming_the_layers():
    from anncc.errors import AnnccError

    x = torch.rand(16, 4)
    with pytest.raises(AnnccError, match="insert-redundancy: layers nope are not in the model"):
        anncc.compile(_model(), x[:1], target="sot-mtj", calib=x, redundancy="tmr", tmr_layers="nope")
