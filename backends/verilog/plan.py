"""The hardware plan of a `cell`-level module: buffers, layer engines, gather maps (DESIGN.md 4, 8).

The RTL executes the integer part of the network, from the quantized input
`x_q` to the last requantized output `y_q`; quantize and dequantize stay on the
host. Every integer tensor is either a *buffer* (a feature memory in the top:
the input, each requant and each maxpool result) or a *view* of one: unfold,
permute, reshape and flatten move no data in hardware, they change which
buffer address an engine reads. A view is an index map `idx` with the view's
shape: `idx = a + 1` reads buffer address `a`, `idx = 0` reads a zero (padding).
The maps are computed by running the runtime's own kernels on index tensors, so
they cannot disagree with the runtime's layout.

A *matrix layer* is one `xbar.requant` with the `cell.mvm` tiles, accumulates
and concats feeding it; its input is a view `[P, K]` (P positions of K rows,
P = 1 for a linear layer). A *maxpool layer* reads windows of a view.

Not supported (a clear error): cell.vote (TMR), residual adds, a buffer read by
two consumers, multi-bit DACs, ops outside the list above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError
from anncc.ir._xdsl import ModuleOp, ReturnOp
from anncc.ir.ann import ints_of
from anncc.ir.xbar import int_info
from anncc.runtime.interpreter import KERNELS, ExecContext, entry_function


def _param_dict(op: Any) -> dict[str, Any]:
    """A cell.mvm's `ArrayParams` as a mutable dict (`in_signed` as 0/1, as the templates print it)."""
    from dataclasses import asdict

    f = asdict(op.params())
    f["in_signed"] = int(f["in_signed"])
    return f


def verilog_name(name: str) -> str:
    """A Verilog identifier from an IR name ("conv2d.1" -> "conv2d_1")."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and s[0].isalpha() else "l_" + s


def bitlen_signed(lo: int, hi: int) -> int:
    """Bits of a two's complement register holding every integer in [lo, hi]."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length() if lo < 0 else 0) + 1


@dataclass
class Buffer:
    """A feature memory: `size` elements of `bits` bits, written by one producer, read by one consumer."""

    name: str
    size: int
    bits: int
    signed: bool
    value: Any = None  # the SSA value it holds (for golden per-layer values)


@dataclass
class Tile:
    """One `cell.mvm`: a physical array and where its logical tile sits in the layer."""

    name: str
    fields: dict[str, Any]
    levels: np.ndarray
    faults: np.ndarray
    colmap: np.ndarray
    rowmap: np.ndarray


@dataclass
class MatrixLayer:
    """requant(Σ row tiles of cell.mvm) over P positions of K rows, N output channels."""

    name: str
    src: str
    dst: str
    gather: np.ndarray  # [P, K] view indices into src
    n: int
    tiles: list[Tile]
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    zero_point: int
    lo: int
    hi: int
    in_bits: int
    in_signed: bool
    out_bits: int
    out_signed: bool
    kind: str = "matrix"

    @property
    def p(self) -> int:
        return int(self.gather.shape[0])

    @property
    def k(self) -> int:
        return int(self.gather.shape[1])


@dataclass
class PoolLayer:
    """Max over windows: output element o = max over w of src[gather[o, w]] (0 entries skipped)."""

    name: str
    src: str
    dst: str
    gather: np.ndarray  # [O, W]
    bits: int
    signed: bool
    kind: str = "maxpool"


@dataclass
class Plan:
    """Everything the emitter needs, in execution order."""

    buffers: dict[str, Buffer]
    layers: list[MatrixLayer | PoolLayer]
    input_buffer: str
    output_buffer: str
    output_gather: np.ndarray  # [N_OUT]
    quantize_value: Any = None
    output_value: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


_VIEW_OPS = ("ann.reshape", "ann.permute", "xbar.unfold")
_SKIP_OPS = ("ann.constant", "ann.weight")


def _index_run(op, idx: torch.Tensor, ctx: ExecContext) -> torch.Tensor:
    return KERNELS[op.name](op, [idx], ctx)


def constant_values(module: ModuleOp, store) -> dict[Any, torch.Tensor]:
    """The value of every op result of the entry function that does not depend on its input.

    The plan needs only the constant operands of arrays and requantizations;
    before, a whole run on a zero input computed them, which for an 18k-array
    ResNet-18 cost as much as the golden vectors.
    """
    from anncc.runtime.interpreter import _load_kernels

    _load_kernels()
    ctx = ExecContext(store=store)
    ctx.store = store
    env: dict[Any, torch.Tensor] = {}
    for op in entry_function(module).body.block.ops:
        if isinstance(op, ReturnOp) or not all(v in env for v in op.operands):
            continue
        kernel = KERNELS.get(op.name)
        if kernel is None:
            continue
        out = kernel(op, [env[v] for v in op.operands], ctx)
        for res, val in zip(op.results, out if isinstance(out, tuple) else (out,)):
            env[res] = val
    return env


class _ConstantValues(dict):
    """`constant_values`, with a one-line error when the plan asks for a value that is not constant."""

    def __missing__(self, value: Any) -> Any:
        owner = getattr(value, "owner", None)
        raise AnnccError(f"verilog backend: an operand of '{getattr(owner, 'name', '?')}' is not a "
                         "constant (levels, maps, bias, multiplier and shift must be)")


def build_plan(module: ModuleOp, store) -> Plan:
    """Walk the entry function of a cell-level module and cut it into buffers and layers."""
    from anncc.runtime.interpreter import _load_kernels

    _load_kernels()
    fn = entry_function(module)
    if len(fn.body.block.args) != 1:
        raise AnnccError("verilog backend: the model must take exactly one input")
    arg = fn.body.block.args[0]
    # every constant operand (levels, maps, bias, M, S), without running the data path
    env = _ConstantValues(constant_values(module, store))
    ctx = ExecContext(store=store)

    buffers: dict[str, Buffer] = {}
    views: dict[Any, tuple[str, torch.Tensor]] = {}  # SSA value -> (buffer, idx map with batch 1)
    consumers: dict[str, int] = {}
    layers: list[MatrixLayer | PoolLayer] = []
    partial: dict[Any, list[tuple[Any, int]]] = {}  # psum value -> [(cell.mvm op, col_offset)]
    quant_value = None
    out_value = None

    def new_buffer(name: str, value) -> str:
        info = int_info(value.type)
        if info is None:
            raise AnnccError(f"verilog backend: '{name}' is not an integer tensor")
        base = verilog_name(name)
        bname, i = base, 1
        while bname in buffers:
            bname, i = f"{base}_{i}", i + 1
        size = int(np.prod([d for d in _dims(value.type)[1:]]))
        buffers[bname] = Buffer(bname, size, info[0], info[1], value)
        views[value] = (bname, torch.arange(1, size + 1, dtype=torch.int64).reshape(
            [1, *_dims(value.type)[1:]]))
        return bname

    def view_of(value, what: str) -> tuple[str, torch.Tensor]:
        if value not in views:
            raise AnnccError(f"verilog backend: {what} reads a value that is not an integer feature map")
        return views[value]

    def use(bname: str) -> None:
        consumers[bname] = consumers.get(bname, 0) + 1
        if consumers[bname] > 1:
            raise AnnccError(f"verilog backend: buffer '{bname}' is read by two consumers "
                             "(residual adds are not supported yet)")

    for op in fn.body.block.ops:
        name = op.name
        if name in _SKIP_OPS:
            continue
        if isinstance(op, ReturnOp):
            out_value = op.operands[0]
            break
        if name == "xbar.quantize":
            if op.operands[0] is not arg or quant_value is not None:
                raise AnnccError("verilog backend: expects one xbar.quantize of the model input")
            quant_value = op.result
            new_buffer("input", op.result)
        elif name in _VIEW_OPS:
            bname, idx = view_of(op.operands[0], name)
            views[op.results[0]] = (bname, _index_run(op, idx, ctx).to(torch.int64))
        elif name == "cell.mvm":
            partial[op.result] = [(op, 0)]
        elif name == "xbar.accumulate":
            tiles = [t for v in op.operands for t in partial.pop(v)]
            partial[op.result] = tiles
        elif name == "xbar.concat":
            tiles, off = [], 0
            for v in op.operands:
                tiles += [(t, c0 + off) for t, c0 in partial.pop(v)]
                off += _dims(v.type)[-1]
            partial[op.result] = tiles
        elif name == "xbar.requant":
            layers.append(_matrix_layer(op, partial.pop(op.operands[0]), env, views, new_buffer, use))
        elif name == "ann.maxpool":
            layers.append(_pool_layer(op, view_of(op.operands[0], name), new_buffer, use))
        elif name == "xbar.dequantize":
            views[op.result] = views.get(op.operands[0])  # type: ignore[assignment]
            out_value = op.operands[0]
        else:
            raise AnnccError(f"verilog backend: op '{name}' is not supported")
    if quant_value is None or out_value is None or views.get(out_value) is None:
        raise AnnccError("verilog backend: could not find the quantized input and integer output")
    if partial:
        raise AnnccError("verilog backend: partial sums that reach no xbar.requant")
    out_buf, out_idx = views[out_value]
    use(out_buf)
    return Plan(buffers, layers, "input", out_buf, out_idx.reshape(-1).numpy(),
                quantize_value=quant_value, output_value=out_value)


def _dims(t) -> list[int]:
    from anncc.ir.shapes import dims

    return list(dims(t))


def _matrix_layer(op, tiles, env, views, new_buffer, use) -> MatrixLayer:
    mvms = [t for t, _ in tiles]
    srcs = {m.operands[0] for m in mvms}
    if len(srcs) != 1:
        raise AnnccError("verilog backend: the tiles of one layer read different inputs")
    src_val = srcs.pop()
    if src_val not in views:
        raise AnnccError("verilog backend: a layer input is not an integer feature map")
    bname, idx = views[src_val]
    use(bname)
    k_total = idx.shape[-1]
    gather = idx.reshape(-1, k_total).numpy().astype(np.int64)
    f0 = _param_dict(mvms[0])
    tl: list[Tile] = []
    for m, c_off in tiles:
        f = _param_dict(m)
        if f["dac_bits"] != 1:
            raise AnnccError(f"verilog backend: tile '{f['tile']}' uses {f['dac_bits']}-bit DACs; "
                             "only bit-serial inputs (dac_bits = 1) are supported")
        if (f["in_bits"], f["in_signed"]) != (f0["in_bits"], f0["in_signed"]):
            raise AnnccError("verilog backend: tiles of one layer disagree on the input format")
        f = dict(f)
        f["col_offset"] = c_off + 0  # column offset within the layer's concatenated output
        f["layer_col_offset"] = c_off
        levels, colmap, rowmap, faults = (env[v] for v in m.operands[2:])
        tl.append(Tile(verilog_name(f["tile"]), f, levels.numpy().astype(np.int64),
                       faults.numpy().astype(np.int64), colmap.numpy().astype(np.int64),
                       rowmap.numpy().astype(np.int64)))
    bias, mult, shift = (env[v] for v in op.operands[1:])
    lname = f0["layer"]
    dst = new_buffer(lname, op.result)
    oi = int_info(op.result.type)
    return MatrixLayer(
        name=verilog_name(lname), src=bname, dst=dst, gather=gather,
        n=_dims(op.result.type)[-1], tiles=tl,
        bias=bias.numpy().astype(np.int64), mult=mult.numpy().astype(np.int64),
        shift=shift.numpy().astype(np.int64), zero_point=op.zero_point.value.data,
        lo=op.lo.value.data, hi=op.hi.value.data, in_bits=f0["in_bits"],
        in_signed=bool(f0["in_signed"]), out_bits=oi[0], out_signed=oi[1])


def _pool_layer(op, view, new_buffer, use) -> PoolLayer:
    bname, idx = view
    use(bname)
    k, s, p = ints_of(op.kernel), ints_of(op.stride), ints_of(op.padding)
    if op.ceil_mode.value.data:
        raise AnnccError("verilog backend: maxpool with ceil_mode is not supported")
    if len(k) != 2:
        raise AnnccError("verilog backend: only 2-d maxpool is supported")
    c = idx.shape[1]
    win = torch.nn.functional.unfold(idx[0].unsqueeze(1).double(), k, padding=p, stride=s)
    gather = win.round().to(torch.int64).transpose(1, 2).reshape(-1, k[0] * k[1]).numpy()
    info = int_info(op.result.type) or int_info(op.operands[0].type)
    dst = new_buffer(op.result.name_hint or "maxpool", op.result)
    assert gather.shape[0] == c * int(np.prod(_dims(op.result.type)[2:]))
    return PoolLayer(verilog_name(op.result.name_hint or "maxpool"), bname, dst, gather,
                     info[0], info[1])
