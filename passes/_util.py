"""Small helpers the lowering passes share: constant operands, layer names, matrices."""

from __future__ import annotations

import numpy as np

from anncc.ir._xdsl import (
    DYNAMIC_INDEX,
    Block,
    FuncOp,
    InsertPoint,
    ModuleOp,
    Operation,
    Rewriter,
    SSAValue,
)
from anncc.ir.ann import ConstantOp, ConvOp, LinearOp, WeightOp, ints_of
from anncc.ir.store import WeightStore


def const_array(value: SSAValue, store: WeightStore) -> np.ndarray | None:
    """The array behind an `ann.weight` or `ann.constant` operand, else None."""
    op = value.owner
    if isinstance(op, WeightOp):
        return np.asarray(store.get(op.key.data, op.digest.data))
    if isinstance(op, ConstantOp):
        shape = [int(d) for d in op.result.type.get_shape()]
        data = op.value.get_values() if hasattr(op.value, "get_values") else op.value.data.data
        arr = np.asarray(list(data))
        return np.broadcast_to(arr, shape).copy() if arr.size == 1 else arr.reshape(shape)
    return None


def layer_name(op: Operation, index: int) -> str:
    """A readable, stable name for a layer: its result's name hint, else `layer<index>`."""
    hint = op.results[0].name_hint if op.results else None
    return hint or f"layer{index}"


class LayerNamer:
    """Unique layer names for one module: the result's name hint, `.N` added on a repeat."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, op: Operation, index: int) -> str:
        base = layer_name(op, index)
        name, n = base, 1
        while name in self.used:
            name = f"{base}.{n}"
            n += 1
        self.used.add(name)
        return name


def weight_key(op: LinearOp | ConvOp, fallback: str) -> str:
    w = op.weight.owner
    return w.key.data if isinstance(w, WeightOp) else fallback


def groups_of(op: LinearOp | ConvOp) -> int:
    return op.groups.value.data if isinstance(op, ConvOp) else 1


def weight_matrix(op: LinearOp | ConvOp, w: np.ndarray) -> np.ndarray:
    """The layer as a `[K, N]` matrix: `y = x_unfolded @ M`.

    Linear: `Wᵀ`. Convolution: rows ordered (channel, ky, kx) like `xbar.unfold`;
    with groups the matrix is block-diagonal (group g uses rows of its channels
    and columns of its outputs), so tiles can skip the zero blocks.
    """
    if isinstance(op, LinearOp):
        return np.ascontiguousarray(w.T)
    g = groups_of(op)
    out_ch, cg = w.shape[0], w.shape[1]
    kk = int(np.prod(w.shape[2:]))
    og = out_ch // g
    m = np.zeros((cg * g * kk, out_ch), dtype=w.dtype)
    for gi in range(g):
        blk = w[gi * og:(gi + 1) * og].reshape(og, cg * kk).T
        m[gi * cg * kk:(gi + 1) * cg * kk, gi * og:(gi + 1) * og] = blk
    return m


def conv_geometry(op: ConvOp) -> tuple[list[int], list[int], list[int], list[int]]:
    """(kernel, stride, padding, dilation) of a convolution."""
    k = [int(d) for d in op.weight.type.get_shape()[2:]]
    return k, ints_of(op.stride), ints_of(op.padding), ints_of(op.dilation)


def static_dims(value: SSAValue) -> list[int | None]:
    return [None if d == DYNAMIC_INDEX else int(d) for d in value.type.get_shape()]


def func_blocks(module: ModuleOp) -> list[Block]:
    """The body blocks of the module's functions."""
    return [f.body.block for f in module.ops if isinstance(f, FuncOp)]


class ConstantPool:
    """Constants shared across a pass's rewrites: one op per distinct (type, content).

    Many arrays share a layout (`colmap`, `rowmap`, an all-zero fault map), so a
    pass asks the pool instead of creating one constant per array. Small arrays
    are inline `ann.constant`s, larger ones `ann.weight` references into the
    store; every op goes at the start of the function body, ahead of all uses.
    """

    def __init__(self, store: WeightStore, block: Block) -> None:
        self.store = store
        self.block = block
        self.ops: dict[tuple, SSAValue] = {}

    def get(self, arr: np.ndarray, element, key: str) -> SSAValue:
        from anncc.ir.ann import numpy_dtype
        from anncc.ir.shapes import tensor
        from anncc.ir.store import INLINE_LIMIT

        arr = np.ascontiguousarray(arr, dtype=numpy_dtype(element))
        ident = (element, arr.shape, arr.tobytes())
        if ident in self.ops:
            return self.ops[ident]
        t = tensor(arr.shape, element)
        if arr.size <= INLINE_LIMIT or (arr.size and (arr == arr.flat[0]).all()):
            op: Operation = ConstantOp(arr.reshape(-1)[:1] if arr.size > INLINE_LIMIT else arr, t)
        else:
            key = self.store.unique_key(key)
            op = WeightOp(key, self.store.add(key, arr), t)
        first = self.block.first_op
        Rewriter().insert_op(op, InsertPoint.before(first) if first else InsertPoint.at_end(self.block))
        self.ops[ident] = op.results[0]
        return op.results[0]
