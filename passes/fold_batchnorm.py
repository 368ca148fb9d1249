"""`fold-batchnorm`: fold eval-mode batch norm into the layer before it (ann -> ann).

In eval mode a batch norm is an affine map per channel,
`y = (x - mean) · s + beta` with `s = gamma / sqrt(var + eps)`, so after a
convolution or linear layer it folds into that layer's weights:
`W' = W · s` (per output channel) and `b' = (b - mean) · s + beta`. On analog
hardware this matters: the folded layer is one crossbar pass, the batch norm
would be a digital multiply-add per channel.

A batch norm folds when its input is an `ann.conv`, or an `ann.linear` on a
2-D activation (batch norm's axis 1 is then the linear's output features);
that layer has no other user; and the weights, bias and statistics are all
constants (`ann.weight` or `ann.constant`). Folding computes in float64. The
folded tensors become new `ann.constant`s when their inputs were all inline,
else new store entries (`<weight key>.bn_folded`); constants no longer used are
erased from the IR (the store keeps its arrays; writing a build prunes them).
A batch norm that cannot fold stays, and still runs.

No options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from anncc.ir._xdsl import (
    Context,
    InsertPoint,
    ModuleOp,
    ModulePass,
    Operation,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    SSAValue,
    TensorType,
    op_type_rewrite_pattern,
)
from anncc.ir.ann import BatchNormOp, ConstantOp, ConvOp, LinearOp, WeightOp
from anncc.ir.shapes import dims
from anncc.ir.store import INLINE_LIMIT, WeightStore
from anncc.passes._store import store_of


@dataclass
class FoldBatchnormIntoLayer(RewritePattern):
    """Rewrite `batchnorm(conv(x, W, b))` into `conv(x, W', b')`."""

    module: ModuleOp
    _store: WeightStore | None = field(default=None, init=False)

    @property
    def store(self) -> WeightStore:
        # only a fold that touches ann.weight needs the store; inline-only IR needs none
        if self._store is None:
            self._store = store_of(self.module)
        return self._store

    @op_type_rewrite_pattern
    def match_and_rewrite(self, bn: BatchNormOp, rewriter: PatternRewriter) -> None:
        layer = bn.input.owner
        if not foldable(bn, layer):
            return
        assert isinstance(layer, ConvOp | LinearOp)
        w, b, mean, var, gamma, beta = (self.array(v) for v in (
            layer.weight, layer.bias, bn.mean, bn.var, bn.gamma, bn.beta))
        scale = gamma / np.sqrt(var + bn.eps.value.data)
        new_w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
        new_b = (b - mean) * scale + beta
        name = layer.result.name_hint or "layer"
        w_val = self.materialize(new_w, [layer.weight, bn.var, bn.gamma], f"{name}.weight",
                                 layer, rewriter)
        b_val = self.materialize(new_b, [layer.bias, bn.mean, bn.var, bn.gamma, bn.beta],
                                 f"{name}.bias", layer, rewriter)
        old = [layer.weight.owner, layer.bias.owner]
        layer.operands = [layer.input, w_val, b_val]
        rewriter.notify_op_modified(layer)
        rewriter.replace(bn, [], [layer.result])
        for op in {*old, bn.mean.owner, bn.var.owner, bn.gamma.owner, bn.beta.owner}:
            unused = isinstance(op, Operation) and op.results[0].first_use is None
            if unused and op.parent is not None:
                rewriter.erase(op)

    def array(self, value: SSAValue) -> np.ndarray:
        """The float64 value of an `ann.weight` or `ann.constant` operand."""
        op = value.owner
        if isinstance(op, ConstantOp):
            return op.to_numpy().astype(np.float64)
        assert isinstance(op, WeightOp)
        return np.asarray(self.store.get(op.key.data, op.digest.data), dtype=np.float64)

    def materialize(self, arr: np.ndarray, sources: list[SSAValue], fallback: str,
                    layer: Operation, rewriter: PatternRewriter) -> SSAValue:
        """A constant op for `arr`, inline if every source was inline, else in the store."""
        arr = arr.astype(np.float32)
        type_ = sources[0].type
        assert isinstance(type_, TensorType)
        inline = all(isinstance(s.owner, ConstantOp) for s in sources) and arr.size <= INLINE_LIMIT
        if inline:
            op: Operation = ConstantOp(arr, type_)
            hint = sources[0].name_hint
        else:
            first = sources[0].owner
            base = first.key.data if isinstance(first, WeightOp) else fallback
            key = self.store.unique_key(f"{base}.bn_folded")
            op = WeightOp(key, self.store.add(key, arr), type_)
            hint = name_hint_of(key)
        rewriter.insert(op, InsertPoint.before(layer))
        op.results[0].name_hint = hint
        return op.results[0]


def name_hint_of(key: str) -> str:
    """A legal SSA name for a store key (`0.weight.bn_folded` -> `w0.weight.bn_folded`)."""
    name = re.sub(r"[^\w$.-]", "_", key)
    return name if name[:1].isalpha() or name[:1] in "_$." else "w" + name


def foldable(bn: BatchNormOp, layer: Operation | object) -> bool:
    """Whether `bn` folds into its producer `layer` (see the module docstring)."""
    if not isinstance(layer, ConvOp | LinearOp) or not layer.result.has_one_use():
        return False
    if isinstance(layer, LinearOp) and len(dims(layer.result.type)) != 2:
        return False  # on [B, T, F] batch norm's axis 1 is T, not the linear's features
    operands = (layer.weight, layer.bias, bn.mean, bn.var, bn.gamma, bn.beta)
    return all(isinstance(v.owner, WeightOp | ConstantOp) for v in operands)


@dataclass(frozen=True)
class FoldBatchnormPass(ModulePass):
    """Fold every foldable `ann.batchnorm` into the `ann.conv` / `ann.linear` before it."""

    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(FoldBatchnormIntoLayer(op), apply_recursively=False).rewrite_module(op)
