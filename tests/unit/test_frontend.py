"""The frontend's contract: a PyTorch model imports into a verified `ann` module
whose float run equals the model (relative error <= 1e-5) at any batch size.

Torch tests are grouped here (importing torch costs seconds per process).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from anncc.errors import AnnccError, UnsupportedOpsError
from anncc.examples.digits import load_digits_split, train_cnn, train_mlp
from anncc.examples.models import mobilenet_style, resnet18_style, transformer_block
from anncc.frontend import import_model, supported_ops
from anncc.ir import parse_module, print_module, verify_module
from anncc.ir.ann import BatchNormOp, MatmulOp, WeightOp
from anncc.ir.shapes import dims
from anncc.passes._store import store_of
from anncc.runtime.interpreter import run_module

TOL = 1e-5


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    """max |y - ref| relative to max |ref|."""
    return float((y - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def assert_runs_like(model: nn.Module, module, store, inputs: list[torch.Tensor]) -> None:
    outs, _ = run_module(module, store, inputs)
    with torch.no_grad():
        ref = model(*inputs)
    refs = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(refs)
    for y, r in zip(outs, refs):
        assert y.shape == r.shape
        assert rel_err(y, r) <= TOL, f"ann run differs from PyTorch by {rel_err(y, r):.2e}"


def ops_named(module, cls) -> list:
    return [op for op in module.walk() if isinstance(op, cls)]


@pytest.fixture(scope="module")
def resnet():
    model, inputs = resnet18_style(image_size=32)
    module, store = import_model(model, inputs)
    return model, module, store


def test_resnet18_imports_and_runs_like_pytorch_at_batch_2(resnet):
    model, module, store = resnet
    assert sum(p.numel() for p in model.parameters()) > 11_000_000
    assert len(ops_named(module, BatchNormOp)) == 20  # 17 convs + 3 downsample convs
    assert_runs_like(model, module, store, [torch.rand(2, 3, 32, 32)])


def test_resnet18_weights_live_in_the_store_not_inline(resnet):
    model, module, store = resnet
    text = print_module(module)
    assert len(text) < 200_000  # 11M weights printed inline would be ~100 MB
    assert store.get("layer4.1.conv2.weight").shape == (512, 512, 3, 3)
    for op in ops_named(module, WeightOp):
        assert store.digest(op.key.data) == op.digest.data
    assert store_of(module) is store


@pytest.mark.parametrize("factory", [mobilenet_style, transformer_block])
def test_example_models_import_and_run_like_pytorch_at_any_batch(factory):
    model, inputs = factory()
    module, store = import_model(model, inputs)
    verify_module(module)
    for batch in (1, 3):
        x = torch.randn(batch, *inputs[0].shape[1:])
        assert_runs_like(model, module, store, [x])


def test_transformer_attention_matmuls_are_digital_ann_matmuls():
    model, inputs = transformer_block()
    module, _ = import_model(model, inputs)
    matmuls = ops_named(module, MatmulOp)
    assert len(matmuls) == 2  # QKᵀ and AV
    assert all(op.mode.data == "digital" for op in matmuls)


def test_forward_types_have_a_dynamic_batch_and_the_ir_round_trips():
    model, inputs = transformer_block()
    module, _ = import_model(model, inputs)
    fn = next(op for op in module.ops if op.sym_name.data == "forward")
    assert dims(fn.function_type.inputs.data[0]) == [None, 16, 64]
    assert dims(fn.function_type.outputs.data[0]) == [None, 16, 64]
    text = print_module(module)
    assert print_module(parse_module(text)) == text
    assert "%norm1.weight = ann.weight" in text  # name hints from state-dict keys and module paths
    assert "%norm1 = ann.layer_norm" in text  # the module path of nn.LayerNorm `norm1`


@pytest.mark.parametrize("train, flat", [(train_mlp, True), (train_cnn, False)])
def test_trained_digits_models_give_the_same_predictions(train, flat):
    model = train()
    _, _, x_test, y_test = load_digits_split(flat=flat)
    module, store = import_model(model, (x_test[:1],))
    (logits,), _ = run_module(module, store, [x_test])
    with torch.no_grad():
        ref = model(x_test)
    assert rel_err(logits, ref) <= TOL
    assert torch.equal(logits.argmax(1), ref.argmax(1))
    assert float((logits.argmax(1) == y_test).float().mean()) > 0.9


class Coverage(nn.Module):
    """Most supported ATen ops in one graph: 1-d convs, pooling, arithmetic, norms, cat."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 3, padding="same", dilation=2)
        self.dw = nn.Conv1d(8, 8, 5, groups=8, stride=2, padding=2, bias=False)
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(32, 16, bias=False)
        self.ln = nn.LayerNorm(16, elementwise_affine=False)
        self.scale = nn.Parameter(torch.rand(16) + 0.5)
        self.register_buffer("shift", torch.rand(1, 16))
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.c1(x), 0.1)
        h = F.hardswish(self.bn(self.dw(h)))
        h = F.avg_pool1d(h, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        h = F.max_pool1d(F.adaptive_avg_pool1d(h, 8), 2)
        h = torch.sigmoid(self.drop(self.fc(h.flatten(1))))
        h = self.ln(h) * self.scale + self.shift - 0.5
        g = F.gelu(h, approximate="tanh") / 3 + torch.tanh(z) @ torch.ones(16, 16) / self.scale
        a, b = torch.chunk(F.relu6(g * 4), 2, dim=1)
        return torch.cat([g, h, -a, b], dim=1), 2 - g.unsqueeze(1).transpose(1, 2)[:, :, 0]


def test_coverage_model_exported_with_a_dynamic_batch_runs_like_pytorch():
    model = Coverage().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_()
        model.bn.running_var.uniform_(0.5, 2.0)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.randn(2, 4, 16), torch.randn(2, 16)),
                                  dynamic_shapes=({0: batch}, {0: batch}))
    module, store = import_model(program)
    for b in (1, 4):
        assert_runs_like(model, module, store, [torch.randn(b, 4, 16), torch.randn(b, 16)])


class FusedAttention(nn.Module):
    """One QKV linear split in three, and PyTorch's fused attention."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (t.unflatten(-1, (2, 8)).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)


def test_fused_attention_becomes_digital_matmuls_and_softmax():
    model = FusedAttention().eval()
    module, store = import_model(model, (torch.randn(1, 5, 16),))
    assert len(ops_named(module, MatmulOp)) == 2
    assert_runs_like(model, module, store, [torch.randn(3, 5, 16)])


class InPlace(nn.Module):
    """In-place ops (`ReLU(inplace=True)`, `+=`) make the export IR non-functional."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        skip = y.clone()
        y = self.act(y)
        y += skip
        return F.relu6(y, inplace=True)


def test_in_place_ops_are_functionalized_before_import():
    model = InPlace().eval()
    module, store = import_model(model, (torch.randn(1, 6),))
    assert_runs_like(model, module, store, [torch.randn(3, 6)])


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.erf(self.fc(x))  # no ann op
        y = torch.sin(y) + torch.relu(x)  # no ann op; the add and relu are fine
        return y.sum(dim=0)  # reduces over the batch


def test_unsupported_ops_are_all_listed_with_node_names_and_source_lines():
    with pytest.raises(UnsupportedOpsError) as err:
        import_model(Unsupported(), (torch.randn(1, 4),))
    message = str(err.value)
    assert message.startswith("3 unsupported operations (3 kinds)")
    for group in ("aten.erf.default x1", "aten.sin.default x1", "aten.sum.dim_IntList x1"):
        assert group in message
    for node in ("node erf", "node sin", "node sum_1"):
        assert node in message
    assert "test_frontend.py:" in message and "torch.erf(self.fc(x))" in message
    assert isinstance(err.value, AnnccError) and err.value.exit_code == 1  # the CLI exits 1


class MovesBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x.permute(1, 0), dim=1)


def test_ops_that_move_the_batch_axis_are_refused():
    with pytest.raises(UnsupportedOpsError, match="moves the batch axis"):
        import_model(MovesBatch(), (torch.randn(1, 5),))


def test_batch_norm_in_training_mode_is_refused_with_the_cause():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    program = torch.export.export(model, (torch.randn(2, 1, 5, 5),))
    with pytest.raises(UnsupportedOpsError, match="model.eval"):
        import_model(program)


def test_import_model_restores_the_training_flag_and_needs_example_inputs():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    import_model(model, torch.randn(1, 2))
    assert model.training
    with pytest.raises(AnnccError, match="example inputs"):
        import_model(model)


def test_supported_ops_lists_the_dispatch_table():
    ops = supported_ops()
    for name in ("aten.conv2d.default", "aten.addmm.default", "aten.batch_norm.default",
                 "aten.matmul.default", "aten.softmax.int", "aten.layer_norm.default"):
        assert name in ops
