"""Golden vectors (runtime/golden.py): what the RTL and SPICE testbenches compare against.

The recorded integers must be the runtime's (accumulators and outputs equal the
`xbar` level's where the ADC is lossless, and the cell level's always), the
codes of a recorded array must be DESIGN.md section 4's, recomputed here by hand
on its worked example, and `index.json` must describe every file exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cell_ir import cell_array, mlp_model

from anncc.ir.xbar import RequantOp
from anncc.runtime.golden import layer_of, record_golden, tile_read
from anncc.runtime.interpreter import ExecContext, entry_function, run_module
from anncc.targets import get_target


def _requant_values(cm, level: str, x: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """(accumulator, requantized output) of every layer at `level`, in program order."""
    values: dict = {}
    run_module(cm.ir(level), cm.store, [x], ExecContext(store=cm.store), values=values)
    ops = [o for o in entry_function(cm.ir(level)).body.block.ops if isinstance(o, RequantOp)]
    return [(values[o.input].numpy(), values[o.results[0]].numpy()) for o in ops]


def _load(d: Path, entry: dict) -> np.ndarray:
    arr = np.load(d / entry["file"], allow_pickle=False)
    assert list(arr.shape) == entry["shape"] and str(arr.dtype) == entry["dtype"], entry
    return arr


@pytest.fixture(scope="module")
def mlp():
    return mlp_model([20, 70, 6], target="sot-mtj", n_calib=40, seed=3)


def test_recorded_accumulators_and_outputs_are_the_runtimes(mlp, tmp_path):
    cm, x = mlp
    index = record_golden(cm, x[:9], tmp_path)
    xbar = _requant_values(cm, "xbar", x[:9])  # lossless ADC here: cell == xbar exactly
    assert [lay["name"] for lay in index["layers"]] == ["fc0", "fc1"]
    for lay, (acc, out) in zip(index["layers"], xbar):
        assert np.array_equal(_load(tmp_path, lay["acc"]), acc)
        assert np.array_equal(_load(tmp_path, lay["output"]), out)
        tile_sum = sum(_load(tmp_path, t["acc"]) for t in lay["tiles"] if t["fields"]["col_offset"] == 0)
        cols = lay["tiles"][0]["fields"]["cols"]
        assert np.array_equal(tile_sum, acc[:, :cols])  # row tiles of the first column block
    got = _load(tmp_path, index["outputs"])
    assert np.array_equal(got, cm.run(x[:9], level="cell").numpy())
    assert np.array_equal(_load(tmp_path, index["inputs"]), x[:9].numpy())
    assert index["vectors"] == 9


def test_index_lists_every_file_with_its_ssa_value_in_the_printed_ir(mlp, tmp_path):
    from anncc.ir import print_module

    cm, x = mlp
    index = json.loads(json.dumps(record_golden(cm, x[:4], tmp_path)))
    assert json.loads((tmp_path / "index.json").read_text()) == index
    text = print_module(cm.ir("cell"))
    files = []
    for lay in index["layers"]:
        for key in ("input", "acc", "bias", "multiplier", "shift", "output"):
            files.append(lay[key])
        for t in lay["tiles"]:
            assert f'{t["value"]} = cell.mvm' in text
            assert f'tile "{t["name"]}"' in text and t["layer"] == lay["name"]
            files += [t["input"], t["counts"], t["codes"], t["acc"]]
        assert f"{lay['output']['value']} = xbar.requant {lay['acc']['value']}," in text
    files += [index["inputs"], index["outputs"], *index["values"]]
    for entry in files:
        _load(tmp_path, entry)
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.npy")}
    assert on_disk == {e["file"] for e in files}


def test_layers_key_on_the_layer_attribute_not_on_names(mlp, tmp_path):
    """A user pass that renames every tile and value leaves the golden layers as they were."""
    from anncc.ir._xdsl import StringAttr
    from anncc.ir.cell import MvmOp
    from anncc.runtime.model import Model

    cm, x = mlp
    module = cm.ir("cell").clone()
    for k, op in enumerate(o for o in module.walk() if isinstance(o, MvmOp)):
        op.properties["tile"] = StringAttr(f"array{k}")
    for op in module.walk():
        for r in op.results:
            r.name_hint = None
    index = record_golden(Model({"cell": module}, cm.store), x[:3], tmp_path)
    assert [lay["name"] for lay in index["layers"]] == ["fc0", "fc1"]
    tiles = [t for lay in index["layers"] for t in lay["tiles"]]
    assert [t["name"] for t in tiles] == [f"array{k}" for k in range(len(tiles))]
    assert all(t["layer"] == layer_of(op) for t, op in zip(
        tiles, [o for o in module.walk() if isinstance(o, MvmOp)]))
    assert np.array_equal(np.load(tmp_path / "outputs.npy"), cm.run(x[:3], level="cell").numpy())


def test_a_lossy_adc_is_recorded_code_by_code_and_still_equals_the_cell_level(tmp_path):
    cm, x = mlp_model([40, 12, 5], target="sot-mtj", n_calib=40, seed=5, target_overrides={"adc_bits": 3})
    index = record_golden(cm, x[:6], tmp_path)
    cell = _requant_values(cm, "cell", x[:6])
    xbar = _requant_values(cm, "xbar", x[:6])
    for lay, (acc, out) in zip(index["layers"], cell):
        assert np.array_equal(_load(tmp_path, lay["acc"]), acc)
        assert np.array_equal(_load(tmp_path, lay["output"]), out)
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(cell, xbar))  # the ADC does alter sums
    tile = index["layers"][0]["tiles"][0]
    codes, counts = _load(tmp_path, tile["codes"]), _load(tmp_path, tile["counts"])
    f = tile["fields"]
    s = f["adc_shift"]
    want = np.minimum((counts + ((1 << s) >> 1)) >> s, (1 << f["adc_bits"]) - 1)
    assert np.array_equal(codes, want) and codes.max() <= 7


# ------------------------------------------------------------------ DESIGN.md's worked example
X_Q = [3, 0, 15, 7, 1]
W_Q = np.array([[5, -3], [-7, 2], [1, 0], [-2, 6], [4, -1]])
BIAS = [10, -4]


def codes_by_hand(x: list[int], w: np.ndarray, adc_bits: int, s: int) -> np.ndarray:
    """DESIGN.md section 4 in plain integers: codes[t, j, k, p] for 4-bit inputs, 1-bit slices."""
    out = np.zeros((4, w.shape[1], 3, 2), dtype=int)
    for t in range(4):
        for j in range(w.shape[1]):
            for k in range(3):
                for p in range(2):
                    mag = [max(v, 0) if p == 0 else max(-v, 0) for v in w[:, j]]
                    c = sum(((xi >> t) & 1) * ((m >> k) & 1) for xi, m in zip(x, mag))
                    code = c if s == 0 else (c + (1 << (s - 1))) >> s
                    out[t, j, k, p] = min(code, (1 << adc_bits) - 1)
    return out


@pytest.mark.parametrize("adc_bits,shift,acc_want", [(2, 0, [30, 28]), (1, 0, [27, 28]), (1, 1, [44, 60])])
def test_recorded_codes_of_the_worked_example_match_design_section_4(adc_bits, shift, acc_want):
    target = get_target("sot-mtj")
    acc = np.array(BIAS)
    for r0 in (0, 3):  # arrays of 3 rows: two row tiles
        w = W_Q[r0:r0 + 3]
        arr = cell_array(w, target, array_rows=3, array_cols=13, in_bits=4, adc_bits=adc_bits,
                         adc_shift=shift, w_bits=4)
        x = torch.tensor([X_Q[r0:r0 + 3]], dtype=torch.int64)
        read = tile_read(x, *arr.args[2:], arr.op.params())
        assert read["codes"][0].tolist() == codes_by_hand(X_Q[r0:r0 + 3], w, adc_bits, shift).tolist()
        assert read["plane_weights"] == [1, 2, 4, 8]
        acc = acc + read["acc"][0]
    assert acc.tolist() == acc_want


def test_stale_files_of_an_earlier_recording_are_removed(mlp, tmp_path):
    cm, x = mlp
    (tmp_path / "layers" / "gone").mkdir(parents=True)
    np.save(tmp_path / "layers" / "gone" / "acc.npy", np.zeros(3))
    record_golden(cm, x[:2], tmp_path)
    assert not (tmp_path / "layers" / "gone" / "acc.npy").exists()


def test_golden_needs_the_cell_level(tmp_path):
    from anncc.errors import AnnccError

    cm, x = mlp_model([8, 4], n_calib=8, pipeline="quantize,tile")
    with pytest.raises(AnnccError, match="need the cell level"):
        record_golden(cm, x[:2], tmp_path)


def test_anncc_writes_build_golden_with_the_chosen_number_of_eval_vectors(tmp_path, capsys):
    from anncc.cli import main
    from anncc.examples import digits

    assert main(["--example", "digits-mlp", "-o", str(tmp_path / "b"), "-q", "--golden-vectors", "5"]) == 0
    index = json.loads((tmp_path / "b" / "golden" / "index.json").read_text())
    assert index["vectors"] == 5 and index["source"] == "eval"
    _, _, x_test, _ = digits.load_digits_split(flat=True)
    assert np.array_equal(np.load(tmp_path / "b" / "golden" / "inputs.npy"), x_test[:5].numpy())
    assert main(["--golden-vectors", "-1", "-o", str(tmp_path / "c"), "-q"]) == 1
    assert "--golden-vectors must be >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_a_convolution_keeps_its_positions_and_a_triplicated_array_records_each_replica(tmp_path):
    """Digits CNN on rram with faults and TMR on the first convolution: codes are [N, L, P, cols, S, 2]."""
    import anncc
    from anncc.examples import digits

    _, _, x, _ = digits.load_digits_split(flat=False)
    cm = anncc.compile(digits.train_cnn(), (x[:1],), target="rram", calib=x[:32], fault_rate=0.01,
                       redundancy="tmr", tmr_layers="conv1")
    index = record_golden(cm, x[:3], tmp_path)
    cell = _requant_values(cm, "cell", x[:3])
    assert [lay["name"] for lay in index["layers"]] == ["conv1", "conv2", "fc"]
    for lay, (acc, out) in zip(index["layers"], cell):
        assert np.array_equal(_load(tmp_path, lay["acc"]), acc)
        assert np.array_equal(_load(tmp_path, lay["output"]), out)
    conv = index["layers"][0]
    assert [t["name"] for t in conv["tiles"]] == [f"conv1.r0c0.tmr{i}" for i in range(3)]
    f = conv["tiles"][0]["fields"]
    n, positions = 3, conv["input"]["shape"][1]
    assert conv["tiles"][0]["codes"]["shape"] == [n, positions, 8, f["cols"], f["n_slices"], 2]
    assert conv["tiles"][0]["codes"]["axes"] == "n,l,t,j,s,p"
    assert "cell.vote" in [v["op"] for v in index["values"]]


def test_per_array_files_for_a_covering_sample(mlp, tmp_path):
    """Above the limit only a sample covering every layer gets per-array files (a big model's
    golden directory is mostly those); the layer files stay complete and the index says so."""
    from anncc.runtime.sampling import covering_sample, model_tiles

    cm, x = mlp
    tiles = model_tiles(cm.ir("cell"))
    layers = {layer for layer, _ in tiles}
    chosen = covering_sample(tiles, limit=len(layers))
    assert len(tiles) > len(chosen) == len(layers)
    index = record_golden(cm, x[:2], tmp_path, tiles=chosen)
    assert index["tiles_recorded"] == "sample"
    recorded = [t["name"] for lay in index["layers"] for t in lay["tiles"]]
    assert recorded == chosen  # every layer's first array, in network order
    assert sum(lay["tiles_total"] for lay in index["layers"]) == len(tiles)
    written = {p.relative_to(tmp_path).parts[3] for p in tmp_path.rglob("tiles/*/*.npy")}
    assert len(written) == len(chosen)  # no files of the arrays left out
    for lay, (acc, out) in zip(index["layers"], _requant_values(cm, "cell", x[:2])):
        assert np.array_equal(_load(tmp_path, lay["acc"]), acc)
        assert np.array_equal(_load(tmp_path, lay["output"]), out)
    full = record_golden(cm, x[:2], tmp_path)  # re-recording every array removes nothing needed
    assert full["tiles_recorded"] == "all"
    assert sum(len(lay["tiles"]) for lay in full["layers"]) == len(tiles)


def test_the_names_save_keeps_are_the_ones_golden_would_print(mlp, tmp_path):
    from anncc.runtime.golden import ssa_names

    cm, x = mlp
    cm.save(tmp_path / "build")
    assert cm.saved_names["cell"] == ssa_names(cm.ir("cell"))
    text = (tmp_path / "build" / "ir" / "cell.mlir").read_text()
    assert all(f"{name} = " in text for name in list(cm.saved_names["cell"].values())[1:])
    a = record_golden(cm, x[:3], tmp_path / "given", names=cm.saved_names["cell"])
    b = record_golden(cm, x[:3], tmp_path / "printed")
    assert a == b


def test_fused_layers_record_the_same_files_as_op_by_op(mlp, tmp_path, monkeypatch):
    import anncc.runtime.interpreter as interpreter
    import anncc.runtime.layer_exec as layer_exec

    cm, x = mlp
    fused_steps = []
    real = layer_exec.run_fusion
    monkeypatch.setattr(layer_exec, "run_fusion", lambda *a: fused_steps.append(1) or real(*a))
    a = record_golden(cm, x[:5], tmp_path / "fused", tiles=None)
    assert fused_steps  # the layers did run fused

    real_ctx = interpreter.ExecContext
    monkeypatch.setattr(interpreter, "ExecContext",
                        lambda **kw: real_ctx(**kw, options={"fuse_layers": False}))
    b = record_golden(cm, x[:5], tmp_path / "by_op", tiles=None)
    assert a == b
    files = sorted(p.relative_to(tmp_path / "fused") for p in (tmp_path / "fused").rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(tmp_path / "by_op")
                                     for p in (tmp_path / "by_op").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "fused" / f).read_bytes() == (tmp_path / "by_op" / f).read_bytes(), f
