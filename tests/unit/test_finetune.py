"""`anncc.finetune` / `anncc finetune` (driver/hwtrain.py) and `--w-bits-auto` (driver/bitalloc.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anncc  # noqa: E402
from anncc.cli import main  # noqa: E402


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))


def _data(n: int = 96):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    for c in range(3):  # a bright row per class
        x[y == c, 0, 2 * c + 1, :] += 1.0
    return x, y


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_finetune_api_is_seeded_and_output_compiles(tmp_path) -> None:
    torch.manual_seed(0)
    model = _Tiny().eval()
    x, y = _data()
    a = anncc.finetune(model, x, y, target="rram", epochs=1, chips=1, calib=32, progress=False, seed=3)
    b = anncc.finetune(model, x, y, target="rram", epochs=1, chips=1, calib=32, progress=False, seed=3)
    assert a.history == b.history and len(a.history) == 1
    for (ka, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert not torch.equal(a.model.state_dict()["fc.weight"], model.fc.weight)
    cm = anncc.compile(a.model, (x[:1],), target="rram", calib=x.numpy())
    assert cm.run(x[:4], level="xbar").shape == (4, 3)


def test_finetune_checkpoint_resume_matches_one_run(tmp_path) -> None:
    torch.manual_seed(0)
    model = _Tiny().eval()
    x, y = _data()
    kw = dict(target="sot-mtj", chips=1, calib=32, progress=False, seed=1)
    full = anncc.finetune(model, x, y, epochs=2, **kw)
    ck = tmp_path / "ck.pt"
    anncc.finetune(model, x, y, epochs=1, checkpoint=ck, **kw)
    resumed = anncc.finetune(model, x, y, epochs=2, checkpoint=ck, resume=True, **kw)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history])
    assert torch.allclose(resumed.model.state_dict()["fc.weight"], full.model.state_dict()["fc.weight"])


def test_finetune_cli_writes_a_pt2_that_compiles(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    model = _Tiny().eval()
    x, y = _data()
    src = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (x[:1],)), src)  # batch 1, as users export
    data = tmp_path / "d.npz"
    np.savez(data, x=x.numpy(), y=y.numpy())
    out = tmp_path / "tuned.pt2"
    assert main(["finetune", str(src), "--target", "sot-mtj", "--data", str(data), "-o", str(out),
                 "--epochs", "1", "--chips", "1", "-q"]) == 0
    assert out.is_file()
    from anncc.frontend import load_model

    loaded = load_model(out)
    cm = anncc.compile(loaded.program, loaded.example_inputs, target="sot-mtj", calib=x.numpy())
    tuned = loaded.program.module()
    assert torch.allclose(cm.run(x[:1], level="ann"), tuned(x[:1]), atol=1e-5)
    assert not torch.allclose(tuned(x[:1]), model(x[:1]), atol=1e-6)  # it is the tuned model
    # bad data files: one line, non-zero exit
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=x.numpy())
    assert main(["finetune", str(src), "--data", str(bad), "-o", str(out)]) != 0
    np.savez(bad, x=x.numpy(), y=np.zeros((len(x), 3)))
    assert main(["finetune", str(src), "--data", str(bad), "-o", str(out)]) != 0
    assert main(["finetune", str(src), "--data", str(data), "-o", str(tmp_path / "t.pt")]) != 0
    err = capsys.readouterr().err
    assert err.count("anncc: error:") == 3 and "Traceback" not in err


def test_w_bits_auto_respects_the_budget_and_prefers_sensitive_layers() -> None:
    from anncc.bitalloc import layer_cells
    from anncc.runtime.model import module_json_attr

    torch.manual_seed(0)
    model = _Tiny().eval()
    x, _ = _data()
    with torch.no_grad():
        model.fc.weight.mul_(20.0)  # the output layer dominates the output error
    cm = anncc.compile(model, (x[:1],), calib=x.numpy(), w_bits_auto=True, cell_budget=1.0)
    choice = module_json_attr(cm.ir(cm.final_level), "anncc.bit_choice")
    assert choice is not None and sum(choice["cells"].values()) <= choice["budget_cells"]
    assert choice["budget_cells"] == layer_cells(36, 4, 1) + layer_cells(192, 4, 1)
    widths = choice["per_layer"]
    assert set(widths) == {"conv", "fc"}
    sens = choice["sensitivity"]
    assert sens["fc"]["2"] > sens["fc"]["8"]
    assert choice["output_mse"] <= choice["uniform_output_mse"] * 1.05
    with pytest.raises(anncc.AnnccError, match="budget"):
        anncc.compile(model, (x[:1],), calib=x.numpy(), w_bits_auto=True, cell_budget=10)
