"""Model files load safely: `.pt2` and state dicts without running code from the
file, pickled modules only when trusted, and every bad file is one clear line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from anncc.errors import ModelLoadError
from anncc.examples.digits import DigitsCNN, DigitsMLP
from anncc.frontend import example_inputs_of, import_model, load_model, parse_input_shape
from anncc.runtime.interpreter import run_module

FACTORY = "anncc.examples.digits:DigitsCNN"


def one_line_error(path: Path, **kwargs) -> str:
    with pytest.raises(ModelLoadError) as err:
        load_model(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture(scope="module")
def cnn() -> DigitsCNN:
    torch.manual_seed(0)
    return DigitsCNN().eval()


@pytest.fixture(scope="module")
def pt2_file(tmp_path_factory, cnn) -> Path:
    path = tmp_path_factory.mktemp("models") / "cnn.pt2"
    torch.export.save(torch.export.export(cnn, (torch.rand(1, 1, 8, 8),)), str(path))
    return path


def test_pt2_loads_with_its_example_input_and_runs_like_the_model(pt2_file, cnn):
    loaded = load_model(pt2_file)
    assert loaded.format == "pt2"
    assert [tuple(t.shape) for t in loaded.example_inputs] == [(1, 1, 8, 8)]
    module, store = import_model(loaded.program)
    x = torch.rand(7, 1, 8, 8)
    (y,), _ = run_module(module, store, [x])
    with torch.no_grad():
        assert torch.allclose(y, cnn(x), rtol=1e-5, atol=1e-6)


def test_a_pt2_path_imports_directly_and_carries_its_example_inputs(pt2_file):
    module, store = import_model(pt2_file)
    (x,) = example_inputs_of(pt2_file)
    (y,), _ = run_module(module, store, [x])
    assert x.shape == (1, 1, 8, 8) and y.shape == (1, 10)
    assert example_inputs_of(DigitsMLP()) is None


def test_pt2_input_shape_may_change_only_the_batch(pt2_file):
    assert load_model(pt2_file, input_shape="4x1x8x8").example_inputs[0].shape == (4, 1, 8, 8)
    message = one_line_error(pt2_file, input_shape="1x1x16x16")
    assert "does not match the exported input 1x1x8x8" in message


@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped", "empty"])
def test_a_corrupt_file_is_one_model_load_error_line(tmp_path, pt2_file, damage):
    data = pt2_file.read_bytes()
    bad = tmp_path / "bad.pt2"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        bad.write_bytes(bytes(range(256)) * 8)
    elif damage == "flipped":  # a readable zip whose model description is damaged
        with zipfile.ZipFile(pt2_file) as src, zipfile.ZipFile(bad, "w") as dst:
            for info in src.infolist():
                body = src.read(info)
                damaged = info.filename.endswith("model.json")
                dst.writestr(info, b"\xba" * len(body) if damaged else body)
    else:
        bad.write_bytes(b"")
    message = one_line_error(bad)
    assert message.startswith(str(bad))


def test_a_missing_file_is_named(tmp_path):
    assert "does not exist" in one_line_error(tmp_path / "nope.pt2")


class TouchOnUnpickle:
    """Unpickling this runs code: it creates a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save(TouchOnUnpickle(marker), path)
    message = one_line_error(path)
    assert "unpickling runs code" in message and "--trust-pickle" in message
    assert not marker.exists()


def test_a_pickled_module_loads_only_with_trust_pickle(tmp_path, cnn):
    path = tmp_path / "full.pt"
    torch.save(cnn, path)
    message = one_line_error(path, input_shape="1x1x8x8")
    assert "pickled Python object" in message and "torch.export" in message
    loaded = load_model(path, input_shape="1x1x8x8", trust_pickle=True)
    assert loaded.format == "pickle"
    import_model(loaded.program)


def test_a_state_dict_needs_the_model_factory_and_an_input_shape(tmp_path, cnn):
    path = tmp_path / "weights.pt"
    torch.save(cnn.state_dict(), path)
    assert "--model package.module:factory" in one_line_error(path, input_shape="1x1x8x8")
    assert "--input-shape" in one_line_error(path, factory=FACTORY)
    loaded = load_model(path, factory=FACTORY, input_shape="1x1x8x8")
    assert loaded.format == "state-dict"
    module, store = import_model(loaded.program)
    x = torch.rand(2, 1, 8, 8)
    (y,), _ = run_module(module, store, [x])
    with torch.no_grad():
        assert torch.allclose(y, cnn(x), rtol=1e-5, atol=1e-6)


def test_a_state_dict_that_does_not_fit_the_factory_names_the_keys(tmp_path):
    path = tmp_path / "mlp.pt"
    torch.save(DigitsMLP().state_dict(), path)
    message = one_line_error(path, factory=FACTORY, input_shape="1x1x8x8")
    assert "does not fit" in message and "conv1.weight" in message
    assert "cannot find model factory" in one_line_error(
        path, factory="no_such_package.models:make", input_shape="1x64")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit itself is deprecated
def test_torchscript_is_refused_with_a_pointer_to_torch_export(tmp_path, cnn):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(cnn), str(path))
    message = one_line_error(path)
    assert "TorchScript" in message and "torch.export.save" in message


def test_input_shapes_are_parsed_batch_first():
    assert parse_input_shape("1x1x8x8") == (1, 1, 8, 8)
    assert parse_input_shape([2, 64]) == (2, 64)
    for bad in ("1xax8", "0x4", ""):
        with pytest.raises(ModelLoadError):
            parse_input_shape(bad)
