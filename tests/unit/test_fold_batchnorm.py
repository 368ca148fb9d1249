"""fold-batchnorm: an eval-mode batch norm after a convolution or linear layer is
an affine map per channel, so folding it into the layer's weights leaves the
model's output unchanged (relative error <= 1e-5); a batch norm that cannot fold
stays and still runs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anncc.errors import AnnccError
from anncc.examples.models import mobilenet_style, randomize_batchnorm
from anncc.frontend import import_model
from anncc.ir import make_context, parse_module, print_module, verify_module
from anncc.ir.ann import BatchNormOp, ConstantOp, ConvOp, WeightOp
from anncc.ir.store import WeightStore
from anncc.passes.fold_batchnorm import FoldBatchnormPass
from anncc.runtime.interpreter import run_module

TOL = 1e-5


def fold(module) -> None:
    FoldBatchnormPass().apply(make_context(), module)
    verify_module(module)


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y - ref).abs().max() / ref.abs().max())


def count(module, cls) -> int:
    return sum(isinstance(op, cls) for op in module.walk())


def test_mobilenet_folds_every_batchnorm_and_still_runs_like_pytorch():
    model, inputs = mobilenet_style()
    module, store = import_model(model, inputs)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert count(module, BatchNormOp) == n_bn > 20
    fold(module)
    assert count(module, BatchNormOp) == 0
    folded = [op for op in module.walk() if isinstance(op, WeightOp) and "bn_folded" in op.key.data]
    assert len(folded) == 2 * n_bn  # a new weight and bias per folded layer
    assert all(store.digest(op.key.data) == op.digest.data for op in folded)
    for batch in (1, 3):
        x = torch.rand(batch, *inputs[0].shape[1:])
        (y,), _ = run_module(module, store, [x])
        with torch.no_grad():
            assert rel_err(y, model(x)) <= TOL


def test_a_sequential_conv_bn_linear_bn_folds_both():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(36, 5, bias=False), nn.BatchNorm1d(5)).eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(2))
    module, store = import_model(model, (torch.rand(1, 1, 5, 5),))
    fold(module)
    assert count(module, BatchNormOp) == 0
    assert {"0.weight.bn_folded", "4.weight.bn_folded"} <= set(store.keys())
    x = torch.rand(3, 1, 5, 5)
    (y,), _ = run_module(module, store, [x])
    with torch.no_grad():
        assert rel_err(y, model(x)) <= TOL


class Unfoldable(nn.Module):
    """A batch norm after a ReLU, and one whose convolution also feeds a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(2)
        self.bn2 = nn.BatchNorm2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return self.bn1(h) + self.bn2(torch.relu(h))


def test_batchnorms_that_cannot_fold_stay_and_run():
    model = Unfoldable().eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(1))
    module, store = import_model(model, (torch.rand(1, 2, 6, 6),))
    fold(module)
    assert count(module, BatchNormOp) == 2
    x = torch.rand(2, 2, 6, 6)
    (y,), _ = run_module(module, store, [x])
    with torch.no_grad():
        assert rel_err(y, model(x)) <= TOL


INLINE = """
func.func @forward(%x: tensor<?x1x3x3xf32>) -> tensor<?x2x3x3xf32> {
  %w = ann.constant dense<[[[[1.0]]], [[[-2.0]]]]> : tensor<2x1x1x1xf32> : tensor<2x1x1x1xf32>
  %b = ann.constant dense<[0.5, 1.0]> : tensor<2xf32> : tensor<2xf32>
  %m = ann.constant dense<[0.1, -0.2]> : tensor<2xf32> : tensor<2xf32>
  %v = ann.constant dense<[0.9, 1.7]> : tensor<2xf32> : tensor<2xf32>
  %g = ann.constant dense<[1.1, 0.7]> : tensor<2xf32> : tensor<2xf32>
  %be = ann.constant dense<[0.0, 0.3]> : tensor<2xf32> : tensor<2xf32>
  %c = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>,
                            dilation = array<i64: 1, 1>, groups = 1 : i64}
      : (tensor<?x1x3x3xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  %y = ann.batchnorm %c, %m, %v, %g, %be {eps = 1.000000e-05 : f64}
      : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>)
      -> tensor<?x2x3x3xf32>
  func.return %y : tensor<?x2x3x3xf32>
}
"""


def test_inline_constants_fold_into_inline_constants_without_a_store():
    module = parse_module(INLINE)
    x = torch.rand(4, 1, 3, 3)
    (before,), _ = run_module(module, WeightStore(), [x])
    fold(module)  # no store attached: none is needed
    assert count(module, BatchNormOp) == 0 and count(module, WeightOp) == 0
    assert count(module, ConstantOp) == 2  # the folded weight and bias; the statistics are gone
    (after,), _ = run_module(module, WeightStore(), [x])
    assert rel_err(after, before) <= TOL
    assert "ann.conv %x, %w, %b" in print_module(module)


def test_folding_store_weights_needs_the_modules_store():
    text = INLINE.replace(
        "%w = ann.constant dense<[[[[1.0]]], [[[-2.0]]]]> : tensor<2x1x1x1xf32> "
        ": tensor<2x1x1x1xf32>",
        '%w = ann.weight "w" digest "0011223344556677" : tensor<2x1x1x1xf32>')
    module = parse_module(text)
    with pytest.raises(AnnccError, match="weight store"):
        fold(module)
    assert count(module, ConvOp) == 1
