"""anncc-opt (driver/opt.py) and the pass registry (passes/__init__.py).

anncc-opt is xDSL's opt driver with anncc's dialects and passes, the weight
store attached to every module, and errors as one located message. The stock
`xdsl-opt` sees the same dialects and passes through the `xdsl.universe` entry
point.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

import anncc.opt as opt
import anncc.passes as passes
from anncc.errors import AnnccError
from anncc.ir import WeightStore
from anncc.ir._xdsl import Context, ModuleOp, ModulePass, Universe
from anncc.passes._store import store_of

LAYER = """\
func.func @fc(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = ann.weight "fc.weight" digest "0123456789abcdef" : tensor<2x4xf32>
  %b = ann.constant dense<0.000000e+00> : tensor<2xf32> : tensor<2xf32>
  %h = ann.linear %x, %w, %b : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %r = ann.relu %h : tensor<?x2xf32> -> tensor<?x2xf32>
  %dead = ann.relu %h : tensor<?x2xf32> -> tensor<?x2xf32>
  func.return %r : tensor<?x2xf32>
}
"""


@dataclass(frozen=True)
class TouchStorePass(ModulePass):
    """A test pass that needs the store: it records how many arrays it found under `key`."""

    name = "touch-store"
    key: str = "touched"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_of(op)
        store.add(self.key, np.array([len(store)], dtype=np.int64))


@dataclass(frozen=True)
class FailingPass(ModulePass):
    """A test pass that rejects its input the way anncc's passes do: with an AnnccError."""

    name = "always-fails"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise AnnccError("w_bits=9 is out of range", hint="use 2..8")


@pytest.fixture
def with_test_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """anncc-opt knows the two test passes (as if a user package had installed them)."""
    real = passes.all_passes

    def all_passes() -> dict:
        found = real()
        found.update({"touch-store": lambda: TouchStorePass, "always-fails": lambda: FailingPass})
        return found

    monkeypatch.setattr(opt, "all_passes", all_passes)


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    path = tmp_path / "layer.mlir"
    path.write_text(LAYER)
    return path


def _store(path: Path) -> Path:
    store = WeightStore()
    store.add("fc.weight", np.ones((2, 4), dtype=np.float32))
    return store.save(path)


# --------------------------------------------------------------------------- xDSL features


def test_round_trip_and_builtin_passes(layer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert opt.main([str(layer), "-p", "dce"]) == 0
    out = capsys.readouterr().out
    assert "%r = ann.relu %h" in out and "%dead" not in out  # dce removed the unused pure op
    assert opt.main([str(layer)]) == 0
    assert "%dead = ann.relu %h" in capsys.readouterr().out


def test_print_between_passes(layer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert opt.main([str(layer), "-p", "cse,dce", "--print-between-passes"]) == 0
    out = capsys.readouterr().out
    assert out.count("IR after cse:") == 1 and out.count("builtin.module") == 2


def test_generic_printing(layer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert opt.main([str(layer), "--print-op-generic"]) == 0
    out = capsys.readouterr().out
    assert '"ann.weight"() <{key = "fc.weight", digest = "0123456789abcdef"}>' in out


def test_split_input_file_and_verify_diagnostics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = LAYER.replace("%dead = ann.relu %h", '%dead = ann.gelu %h {approximate = "fast"}')
    path = tmp_path / "two.mlir"
    path.write_text(LAYER + "// -----\n" + bad)
    assert opt.main([str(path), "--split-input-file", "--verify-diagnostics"]) == 0
    out = capsys.readouterr().out
    assert out.count("// -----") == 1 and "%dead = ann.relu" in out
    line = LAYER.count("\n") + 1 + 6  # the 6th line of the second chunk
    assert f"two.mlir:{line}:3: ann.gelu: approximate must be 'none' or 'tanh'" in out


def test_a_failing_pass_is_a_diagnostic(with_test_passes: None, layer: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert opt.main([str(layer), "-p", "dce,always-fails"]) == 1
    err = capsys.readouterr().err
    assert "pass 'always-fails': w_bits=9 is out of range (use 2..8)" in err
    assert opt.main([str(layer), "-p", "always-fails", "--verify-diagnostics"]) == 0
    assert "pass 'always-fails': w_bits=9 is out of range" in capsys.readouterr().out


# --------------------------------------------------------------------------- the weight store


def test_weights_are_attached_and_written_back(with_test_passes: None, layer: Path,
                                               tmp_path: Path) -> None:
    weights = _store(tmp_path / "model.npz")
    out = tmp_path / "after.npz"
    args = [str(layer), "-p", "touch-store{key=seen}", "--weights", str(weights),
            "--weights-out", str(out), "-o", str(tmp_path / "out.mlir")]
    assert opt.main(args) == 0
    after = WeightStore.load(out)
    assert sorted(after.keys()) == ["fc.weight", "seen"]
    assert after.get("seen").tolist() == [1]  # the pass saw the one array of the input store
    assert WeightStore.load(weights).keys() == ["fc.weight"]  # the input is left alone


def test_weights_npz_beside_the_input_is_the_default(with_test_passes: None, layer: Path,
                                                     tmp_path: Path) -> None:
    _store(layer.with_name("weights.npz"))
    out = tmp_path / "after.npz"
    assert opt.main([str(layer), "-p", "touch-store", "--weights-out", str(out),
                     "-o", str(tmp_path / "out.mlir")]) == 0
    assert WeightStore.load(out).get("touched").tolist() == [1]


def test_weights_out_without_an_input_store_starts_empty(with_test_passes: None, layer: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "new.npz"
    assert opt.main([str(layer), "-p", "touch-store", "--weights-out", str(out),
                     "-o", str(tmp_path / "out.mlir")]) == 0
    assert WeightStore.load(out).keys() == ["touched"]


def test_a_pass_that_needs_a_store_says_how_to_give_one(
        with_test_passes: None, layer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert opt.main([str(layer), "-p", "touch-store"]) == 1
    err = capsys.readouterr().err
    assert "pass 'touch-store': this pass needs the module's weight store" in err
    assert "--weights" in err


def test_a_corrupt_weights_file_is_one_error(layer: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert opt.main([str(layer), "--weights", str(bad)]) == 1
    assert "is not a valid store" in capsys.readouterr().err


# --------------------------------------------------------------------------- registry


def test_registry_names_the_default_pipeline_passes() -> None:
    assert list(passes.PASSES) == ["fold-batchnorm", "quantize", "tile", "allocate-resistance",
                                   "insert-redundancy", "estimate"]
    assert set(passes.PASSES) <= set(passes.all_passes())
    for name in passes.PASSES:
        assert passes.get_pass(name).name == name


def test_parse_pipeline_with_options() -> None:
    quantize, tile, cse = passes.parse_pipeline(
        "quantize{w-bits=4},tile{rows=128 cols=128},cse")
    assert (quantize.name, quantize.w_bits) == ("quantize", 4)
    assert (tile.name, tile.rows, tile.cols) == ("tile", 128, 128)
    assert cse.name == "cse"
    assert passes.parse_pipeline("") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("quantise", "unknown pass 'quantise' (did you mean quantize?"),
    ("tile{rows=128 colums=64}", "pass 'tile': "),
    ("tile{rows=many}", "pass 'tile': "),
    ("tile{rows=1", "malformed pass pipeline"),
])
def test_parse_pipeline_errors_are_annccerrors(text: str, expected: str) -> None:
    with pytest.raises(AnnccError) as err:
        passes.parse_pipeline(text)
    assert expected in str(err.value)


def test_unknown_pass_lists_the_known_ones() -> None:
    with pytest.raises(AnnccError) as err:
        passes.get_pass("no-such-pass")
    msg = str(err.value)
    assert all(name in msg for name in passes.PASSES) and "canonicalize" in msg


def _fake_entry_points(*eps: EntryPoint):
    def entry_points(group: str) -> list[EntryPoint]:
        return [ep for ep in eps if ep.group == group]

    return entry_points


def test_user_passes_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    group = passes.ENTRY_POINT_GROUP
    monkeypatch.setattr(passes, "entry_points", _fake_entry_points(
        EntryPoint("my-dce", "xdsl.transforms.dead_code_elimination:DeadCodeElimination", group),
        EntryPoint("broken", "anncc_no_such_module:Pass", group),
        EntryPoint("not-a-pass", "anncc.opt:AnnccOptMain", group),
        EntryPoint("elsewhere", "anncc.opt:main", "console_scripts"),
    ))
    found = passes.all_passes()
    assert "dce" in found and found["dce"]().name == "dce"  # named by the class, not the entry
    assert "elsewhere" not in found
    with pytest.raises(AnnccError, match="failed to load: ModuleNotFoundError"):
        passes.get_pass("broken", found)
    with pytest.raises(AnnccError, match="not a ModulePass subclass"):
        passes.get_pass("not-a-pass", found)


def test_user_pass_name_clashes_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    group = passes.ENTRY_POINT_GROUP
    dce = "xdsl.transforms.dead_code_elimination:DeadCodeElimination"
    monkeypatch.setattr(passes, "entry_points", _fake_entry_points(
        EntryPoint("a", dce, group), EntryPoint("b", dce, group)))
    with pytest.raises(AnnccError, match="two user passes are named 'dce'"):
        passes.all_passes()


# --------------------------------------------------------------------------- xdsl-opt


def test_universe_is_lazy_and_complete() -> None:
    universe = opt.get_universe
    assert isinstance(universe, Universe) and universe() is universe
    assert set(universe.all_dialects) == {"ann", "xbar", "cell"}
    assert set(passes.PASSES) <= set(universe.all_passes)
    multiverse = Universe.get_multiverse()  # what xdsl-opt loads, through the entry point
    assert {"ann", "xbar", "cell"} <= set(multiverse.all_dialects)
    assert "tile" in multiverse.all_passes and "canonicalize" in multiverse.all_passes


def test_stock_xdsl_opt_parses_and_prints_anncc_ir(layer: Path) -> None:
    ours = subprocess.run([sys.executable, "-m", "anncc.opt", str(layer)],
                          capture_output=True, text=True, timeout=300)
    stock = subprocess.run([sys.executable, "-c", "from xdsl.tools.xdsl_opt import main; main()",
                            str(layer)], capture_output=True, text=True, timeout=300)
    assert stock.returncode == 0, stock.stderr
    assert ours.returncode == 0 and stock.stdout == ours.stdout
    assert "ann.linear %x, %w, %b" in stock.stdout
