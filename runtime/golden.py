"""Golden vectors: the ideal cell level's integers, per layer and per array, as `.npy` files (FINN style).

    from anncc.runtime.golden import record_golden
    index = record_golden(model, x, "build/golden")     # model: anncc.runtime.load(...) or compiled

`anncc -o build/` writes `build/golden/` for the first 16 evaluation inputs (the
held-out set of an embedded example), else the first 16 calibration inputs,
else the example inputs (`--golden-vectors N` picks the count, 0 writes none).
The recorder runs the `cell` level with ideal devices — the golden model of the
RTL, bit-exact by DESIGN.md section 4 — and keeps every integer the periphery
produces: the arrays' integer inputs, the ADC code of every input plane, bit
slice, polarity and column, each array's shift-added partial sum, each layer's
accumulator and its requantized output. The RTL testbench (`backends/verilog`)
compares against these bit for bit; the SPICE comparison (`backends/spice`)
drives its DACs with the recorded inputs and compares column counts and codes.

Codes come from the contract's own functions (`anncc.ir.contract`: `input_planes`,
`adc_read`, `shift_add`; the runtime's `sensed_levels` for stuck-at faults and the reference column,
imported in one place below), and the
recorder refuses to write a tile whose shift-added codes differ from what the
runtime's `cell.mvm` kernel returned for it: the files cannot drift from the
runtime.

Format (version 1)
------------------
Everything sits under one directory (`build/golden/`); `index.json` lists
every file, and every path in it is relative to that directory. Files are
plain `.npy` (`numpy.load(path)`, no pickle). `N` is the number of vectors.

Integer dtypes follow the IR element type: `ui8`/`si8` -> `uint8`/`int8`,
`ui16`/`si16` -> `uint16`/`int16`, anything wider (the `si32`/`si64` partial
sums and accumulators, whose width `acc_bits` the IR carries) -> `int64`;
the per-channel constants (bias, multiplier, shift) `int32`, or `int64` when
their IR type is wider. Column counts are `int32`, ADC codes `uint16`
(`adc_bits <= 16`).

Files::

    inputs.npy                      float32 [N, *input]   the model inputs (the batch)
    outputs.npy                     float32 [N, *output]  the cell level's outputs, ideal devices
    layers/<layer>/input.npy        int     [N, *L, K]    the integer operand of the layer's arrays
                                                          (x_q, or im2col columns of a convolution)
    layers/<layer>/acc.npy          int64   [N, *L, C]    the requant's input: partial sums summed
                                                          over row tiles, bias NOT included
    layers/<layer>/bias.npy         int32   [C]           bias_q (the contract's acc = acc + bias)
    layers/<layer>/multiplier.npy   int32   [C]           M per channel
    layers/<layer>/shift.npy        int32   [C]           S per channel
    layers/<layer>/output.npy       int     [N, *L, C]    y_q, the requantized output
    layers/<layer>/tiles/<tile>/input.npy   int    [N, *L, rows]            input[..., row_offset:+rows]
    layers/<layer>/tiles/<tile>/counts.npy  int32  [N, *L, P, cols, S, 2]   ideal column counts c
    layers/<layer>/tiles/<tile>/codes.npy   uint16 [N, *L, P, cols, S, 2]   ADC codes
    layers/<layer>/tiles/<tile>/acc.npy     int64  [N, *L, cols]            the array's shift-added sum
    values/<k>.npy                  int or float          every other op result of the entry function
                                                          (pooling, adds, reshapes, votes, ...)

`*L` is the leading position axis of a convolution's unfolded input (empty for
a linear layer). In counts and codes the axes after it are: `P` input planes
(in order t = 0..P-1, see `plane_weights`), logical column `j`, bit slice `k`
(LSB first), polarity `p` (0 = w⁺, 1 = w⁻): that is the `colmap` order, so
physical column `colmap[j, k, p]` of the array produced
`codes[..., t, j, k, p]`. `code = min((c + 2^(s−1)) >> s, 2^adc_bits − 1)` with
`s = adc_shift` (no rounding term when `s = 0`), read back as `code << s`; the
array's partial sum is

    acc[.., j] = Σ_t plane_weights[t] · Σ_k 2^(k·bits_per_cell)
                 · ((codes[.., t, j, k, 0] − codes[.., t, j, k, 1]) << s)

`counts` and `codes` include stuck-at faults of the array's fault map (a
faulty cell counts as level 0 or the top level), and are the counts after the
sense amplifier subtracted the reference column's (level-0 cells: nothing,
unless a reference cell is stuck high; a negative count reads code 0). Replicas of a
triplicated array (`<tile>.tmr<i>`) are tiles of their own; their vote is a
`values/` entry.

`index.json`::

    {"format": "anncc-golden", "version": 1, "level": "cell", "devices": "ideal",
     "vectors": N, "source": "eval" | "calibration" | "example" | "user",
     "tiles_recorded": "all" | "sample",     # per-array files: every array, or a covering sample
     "inputs":  FILE, "outputs": FILE,
     "layers": [                              # in program order
       {"name": "fc0",                        # the layer: the `layer` attribute of its ops
        "input": FILE, "acc": FILE, "bias": FILE, "multiplier": FILE, "shift": FILE,
        "output": FILE,
        "requant": {"zero_point": int, "lo": int, "hi": int, "out_scale": float},
        "tiles_total": 3,                     # arrays of the layer (recorded or not)
        "tiles": [                            # in program order; all, or the recorded sample
          {"name": "fc0.r0c0",                # the cell.mvm's `tile`
           "layer": "fc0",                    # its `layer` attribute
           "value": "%fc0_r0c0",              # its SSA result as printed in ir/cell.mlir
           "fields": {row_offset, col_offset, rows, cols, w_bits, acc_bits, array_rows,
                      array_cols, bits_per_cell, n_slices, ref_col, spare_rows, spare_cols,
                      in_bits, in_signed (bool), dac_bits, adc_bits, adc_shift, v_read_v,
                      g_min_s, g_max_s},            # cell.mvm's params() (ArrayParams)
           "plane_weights": [1, 2, ..., -128],  # x = Σ_t plane_weights[t]·plane[t]
           "levels_key": "fc0.r0c0.levels",     # the weight-store key of its level map
           "input": FILE, "counts": FILE, "codes": FILE, "acc": FILE}]}],
     "values": [{"op": "ann.maxpool", "layer": str | null, **FILE}]}

    FILE = {"file": "layers/fc0/acc.npy", "shape": [16, 300], "dtype": "int64",
            "value": "%73",                   # SSA value in ir/cell.mlir (null: none)
            "ir_type": "tensor<?x300xsi32>", "axes": "n,c"}

`axes` names every axis: `n` vector, `l` position (convolutions), `k` input
row, `c` output channel, `t` plane, `j` column, `s` slice, `p` polarity; or
`*` for a `values/` entry whose layout is its IR type's.

Per-array files are what makes a big model's golden directory big (ResNet-18-style:
about 45 MB per vector over 11,859 arrays). `record_golden(..., tiles=...)` records
them for the named arrays only; `anncc -o` records every array of a model with at
most 64 arrays and above that the covering sample its SPICE netlists use
(`anncc.runtime.sampling`: every layer's first array, then evenly spaced others),
`--golden-tiles all` every array. The layer files are always complete.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError
from anncc.files import atomic_write_text, atomic_writer
from anncc.ir._xdsl import ModuleOp, Operation, ReturnOp, SSAValue, StringAttr
from anncc.ir.cell import ArrayParams
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.contract import adc_read, input_planes, shift_add  # the one import of the contract
from anncc.ir.module_io import print_with_names
from anncc.ir.xbar import RequantOp, int_info
from anncc.runtime.cell_kernels import sensed_levels  # stuck-at faults, reference column

FORMAT = "anncc-golden"
VERSION = 1
DEFAULT_VECTORS = 16
#: ops not recorded under values/: constants of the program, and the partial sums of a
#: layer between its arrays and its requant (the layer's `acc` is their sum)
_SKIPPED_OPS = ("ann.weight", "ann.constant", "xbar.accumulate", "xbar.concat")
#: ops between a layer's arrays and its requant (row-tile sums, column concat, TMR vote)
_PARTIAL_SUM_OPS = ("xbar.accumulate", "xbar.concat", "cell.vote")


def layer_of(op: Operation) -> str | None:
    """The layer an op was lowered from: its `layer` attribute (None on an op outside any layer).

    `tile` puts it on every op it makes from a layer (`cell.mvm`, `xbar.accumulate`,
    `xbar.concat`, `xbar.requant`, `cell.vote`, optionally quantize/unfold/dequantize).
    """
    attr = op.properties.get("layer") or op.attributes.get("layer")
    return attr.data if isinstance(attr, StringAttr) else None


def ssa_names(module: ModuleOp) -> dict[SSAValue, str]:
    """Every SSA value's name as the module prints (`%fc0_q`, `%73`), so files point into the IR text."""
    return print_with_names(module)[1]


def np_dtype(ir_type: Any) -> np.dtype:
    """The dtype a value of this IR type is stored in (see the module docstring)."""
    info = int_info(ir_type)
    if info is None:
        return np.dtype(np.float32)
    bits, signed = info
    if bits <= 8:
        return np.dtype(np.int8 if signed else np.uint8)
    if bits <= 16:
        return np.dtype(np.int16 if signed else np.uint16)
    return np.dtype(np.int64)


def tile_read(x: torch.Tensor, levels: torch.Tensor, colmap: torch.Tensor, rowmap: torch.Tensor,
              faults: torch.Tensor, p: ArrayParams) -> dict[str, Any]:
    """One ideal array read, kept whole: input slice, counts, codes and partial sum.

    `x` is the layer's integer operand `[*lead, K]`; `p` the `cell.mvm`'s `params()`.
    Returns numpy arrays `input [*lead, rows]`, `counts`/`codes [*lead, P, cols, S, 2]`,
    `acc [*lead, cols]` and the list `plane_weights`.
    """
    r0, rows, cols = p.row_offset, p.rows, p.cols
    ns, b, shift = p.n_slices, p.bits_per_cell, p.adc_shift
    xt = x[..., r0:r0 + rows].to(torch.int64)
    lead = tuple(xt.shape[:-1])
    planes, weights = input_planes(xt.reshape(-1, rows), p.in_bits, p.in_signed, p.dac_bits)
    cells = sensed_levels(levels, colmap, rowmap, faults, p.ref_col, b)  # [rows, cols·S·2]
    # [P, M, cols·S·2]: integer counts, at most rows·(2^dac−1)·(2^b−1), so exact in float64 (< 2^53);
    # torch has no BLAS for int64, and an int64 matmul was most of the golden recorder's time
    bound = rows * ((1 << p.dac_bits) - 1) * ((1 << b) - 1)
    assert bound < 2**53, bound
    counts = torch.matmul(planes.to(torch.float64), cells.to(torch.float64)).round().to(torch.int64)
    read = _exact_int(adc_read(counts, p.adc_bits, shift))  # code << s, in count units
    acc = _exact_int(shift_add(read, weights, ns, b, cols))
    codes = read >> shift

    def vector_major(t: torch.Tensor) -> np.ndarray:  # [P, M, cols·S·2] -> [*lead, P, cols, S, 2]
        v = t.reshape(t.shape[0], t.shape[1], cols, ns, 2).movedim(0, 1)
        return v.reshape(*lead, t.shape[0], cols, ns, 2).numpy()

    return {"input": xt.numpy(), "counts": vector_major(counts).astype(np.int32),
            "codes": vector_major(codes).astype(np.uint16), "acc": acc.reshape(*lead, cols).numpy(),
            "plane_weights": [int(w) for w in weights]}


def _exact_int(t: torch.Tensor) -> torch.Tensor:
    return t.round().to(torch.int64) if t.is_floating_point() else t.to(torch.int64)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class _Writer:
    """Writes `.npy` files atomically under one directory and describes them for the index."""

    def __init__(self, directory: Path, names: dict[SSAValue, str]):
        self.directory = directory
        self.names = names

    def save(self, rel: str, array: np.ndarray, axes: str, value: SSAValue | None = None,
             dtype: np.dtype | None = None) -> dict[str, Any]:
        arr = np.ascontiguousarray(array if dtype is None else array.astype(dtype))
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        with atomic_writer(self.directory / rel) as f:
            f.write(buf.getvalue())
        return {"file": rel, "shape": list(arr.shape), "dtype": str(arr.dtype),
                "value": self.names.get(value) if value is not None else None,
                "ir_type": str(value.type) if value is not None else None, "axes": axes}


def _remove_stale(directory: Path, index: dict[str, Any]) -> None:
    """Delete `.npy` files an earlier recording left that this index does not list."""
    listed = {directory / f for f in _listed_files(index)}
    for path in directory.rglob("*.npy"):
        if path not in listed:
            path.unlink()


def _listed_files(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        own = [obj["file"]] if isinstance(obj.get("file"), str) else []
        return own + [f for v in obj.values() for f in _listed_files(v)]
    if isinstance(obj, list):
        return [f for v in obj for f in _listed_files(v)]
    return []


def _compact_json(obj: Any) -> str:
    """Indented JSON with every list of numbers on one line."""
    text = json.dumps(obj, indent=1)
    return re.sub(r"\[\s*([-0-9.e, \n]*?)\s*\]",
                  lambda m: "[" + ", ".join(p.strip() for p in m.group(1).split(",") if p.strip()) + "]",
                  text) + "\n"


def _partial_sum_tiles(value: SSAValue) -> list[CellMvmOp]:
    """The `cell.mvm` ops whose partial sums reach `value` through accumulate/concat/vote."""
    found: list[CellMvmOp] = []
    stack = [value]
    while stack:
        owner = stack.pop().owner
        if isinstance(owner, CellMvmOp):
            found.append(owner)
        elif isinstance(owner, Operation) and owner.name in _PARTIAL_SUM_OPS:
            stack.extend(owner.operands)
    return found


def _axes(ndim: int, tail: str) -> str:
    """`n[,l...],<tail>` for an array of `ndim` axes ending in the axes of `tail`."""
    tail_axes = tail.split(",")
    middle = ["l"] * (ndim - 1 - len(tail_axes))
    return ",".join(["n", *middle, *tail_axes])


def record_golden(model: Any, inputs: Any, directory: str | Path, source: str = "user",
                  tiles: Any = None, names: dict[SSAValue, str] | None = None) -> dict[str, Any]:
    """Run `model`'s cell level with ideal devices on `inputs` and write the golden vectors.

    `model` is an `anncc.runtime.Model` (a compiled or a loaded build) with a
    `cell` level; `tiles`: the arrays (tile names) whose per-array files are written
    (None: every array); `names`: the SSA names of the cell level's text when the caller
    has just printed it (`Model.saved_names["cell"]` after `save`), else it is printed here.
    Returns the index (also written as `index.json`).
    """
    from anncc.runtime.interpreter import ExecContext, entry_function, run_module
    from anncc.runtime.model import as_tensor

    if "cell" not in model.levels:
        raise AnnccError("golden vectors need the cell level "
                         f"(this model has: {', '.join(model.levels)})",
                         hint="compile with allocate-resistance in the pipeline")
    module = model.ir("cell")
    x = as_tensor(inputs)
    if x.ndim == 0 or x.shape[0] == 0:
        raise AnnccError("golden vectors need at least one input vector")
    values: dict[Any, Any] = {}
    ctx = ExecContext(store=model.store, analog=False)
    with torch.no_grad():  # layers fused: the arrays recorded below are read again on their own
        outs, _ = run_module(module, model.store, [x], ctx, values=values, fused_values=True)
    d = Path(directory)
    w = _Writer(d, names if names is not None else ssa_names(module))
    fn = entry_function(module)
    ops = list(fn.body.block.ops)
    requants = [op for op in ops if isinstance(op, RequantOp)]
    position = {id(op): i for i, op in enumerate(ops)}  # ops.index per tile was quadratic
    tiles_of = {id(rq): sorted(_partial_sum_tiles(rq.input), key=lambda t: position[id(t)])
                for rq in requants}
    in_layer = {id(t) for ts in tiles_of.values() for t in ts}
    keep = None if tiles is None else set(tiles)
    with torch.no_grad():  # a recorded array the fused run left out is read on its own
        layers = [_record_layer(w, rq, tiles_of[id(rq)], values, ctx, keep) for rq in requants]
    stray = [op for op in ops if isinstance(op, CellMvmOp) and id(op) not in in_layer]
    if stray:
        raise AnnccError(f"golden vectors: array '{stray[0].tile.data}' feeds no xbar.requant")
    recorded = {id(op) for op in requants} | in_layer
    others = [_record_value(w, k, op, values) for k, op in enumerate(ops)
              if id(op) not in recorded and op.name not in _SKIPPED_OPS
              and not isinstance(op, ReturnOp) and op.results]
    ret = ops[-1].operands[0] if isinstance(ops[-1], ReturnOp) and ops[-1].operands else None
    index = {
        "format": FORMAT, "version": VERSION, "level": "cell", "devices": "ideal",
        "vectors": int(x.shape[0]), "source": source,
        "tiles_recorded": "all" if keep is None or all(
            t.tile.data in keep for ts in tiles_of.values() for t in ts) else "sample",
        "inputs": w.save("inputs.npy", x.numpy(), "n,*",
                         fn.body.block.args[0], np.dtype(np.float32)),
        "outputs": w.save("outputs.npy", outs[0].detach().float().numpy(), "n,*", ret, np.dtype(np.float32)),
        "layers": layers,
        "values": others,
    }
    atomic_write_text(d / "index.json", _compact_json(index))
    _remove_stale(d, index)
    return index


def _record_layer(w: _Writer, rq: RequantOp, tiles: list[CellMvmOp], values: dict[Any, Any],
                  ctx: Any, keep: set[str] | None = None) -> dict[str, Any]:
    layer = layer_of(rq) or ""
    strangers = sorted({str(layer_of(t)) for t in tiles} - {layer})
    if not layer or strangers:
        raise AnnccError(f"golden vectors: the requant of layer '{layer}' sums arrays of layer(s) "
                         f"{', '.join(strangers) or '(none)'}: the `layer` attributes disagree")
    base = f"layers/{_safe(layer)}"
    operand = tiles[0].input if tiles else rq.input
    acc, out = values[rq.input], values[rq.results[0]]
    entry: dict[str, Any] = {
        "name": layer,
        "input": w.save(f"{base}/input.npy", values[operand].numpy(), _axes(values[operand].ndim, "k"),
                        operand, np_dtype(operand.type)),
        "acc": w.save(f"{base}/acc.npy", acc.numpy(), _axes(acc.ndim, "c"), rq.input, np.dtype(np.int64)),
    }
    for key, val in (("bias", rq.bias), ("multiplier", rq.multiplier), ("shift", rq.shift)):
        wide = (int_info(val.type) or (32, True))[0] > 32
        entry[key] = w.save(f"{base}/{key}.npy", values[val].numpy(), "c", val,
                            np.dtype(np.int64 if wide else np.int32))
    entry["output"] = w.save(f"{base}/output.npy", out.numpy(), _axes(out.ndim, "c"), rq.results[0],
                             np_dtype(rq.results[0].type))
    entry["requant"] = {"zero_point": rq.zero_point.value.data, "lo": rq.lo.value.data,
                        "hi": rq.hi.value.data, "out_scale": rq.out_scale.value.data}
    entry["tiles_total"] = len(tiles)
    entry["tiles"] = [_record_tile(w, base, t, values, ctx) for t in tiles
                      if keep is None or t.tile.data in keep]
    return entry


def _read_alone(op: CellMvmOp, values: dict[Any, Any], ctx: Any) -> None:
    """Put the array's operands and its result by the runtime's own `cell.mvm` kernel into
    `values` where the fused run left them out (`run_module(fused_values=True)`)."""
    from anncc.runtime.interpreter import KERNELS

    for v in op.operands:
        if v not in values:  # a constant only the fused layer read
            owner = v.owner
            values[v] = KERNELS[owner.name](owner, [values[a] for a in owner.operands], ctx)
    if op.results[0] not in values:
        values[op.results[0]] = KERNELS[op.name](op, [values[v] for v in op.operands], ctx)


def _record_tile(w: _Writer, base: str, op: CellMvmOp, values: dict[Any, Any], ctx: Any
                 ) -> dict[str, Any]:
    _read_alone(op, values, ctx)
    p = op.params()
    read = tile_read(values[op.input], values[op.levels], values[op.colmap], values[op.rowmap],
                     values[op.faults], p)
    runtime_acc = values[op.results[0]].to(torch.int64).numpy()
    if not np.array_equal(read["acc"], runtime_acc):
        bad = int((read["acc"] != runtime_acc).sum())
        raise AnnccError(f"golden vectors: array '{p.tile}': the recorded codes shift-add to "
                         f"sums that differ from the runtime's cell.mvm in {bad} places",
                         hint="the runtime's kernel and its contract functions disagree; please report")
    tdir = f"{base}/tiles/{_safe(p.tile)}"
    owner = op.levels.owner
    return {
        "name": p.tile, "layer": layer_of(op), "value": w.names.get(op.results[0]),
        "fields": {k: v for k, v in asdict(p).items() if k not in ("tile", "layer")},
        "plane_weights": read["plane_weights"],
        "levels_key": owner.key.data if hasattr(owner, "key") else None,
        "input": w.save(f"{tdir}/input.npy", read["input"], _axes(read["input"].ndim, "k"), None,
                        np_dtype(op.input.type)),
        "counts": w.save(f"{tdir}/counts.npy", read["counts"], _axes(read["counts"].ndim, "t,j,s,p")),
        "codes": w.save(f"{tdir}/codes.npy", read["codes"], _axes(read["codes"].ndim, "t,j,s,p")),
        "acc": w.save(f"{tdir}/acc.npy", read["acc"], _axes(read["acc"].ndim, "c"), op.results[0],
                      np.dtype(np.int64)),
    }


def _record_value(w: _Writer, k: int, op: Operation, values: dict[Any, Any]) -> dict[str, Any]:
    res = op.results[0]
    val = values[res]
    arr = val.detach().numpy() if isinstance(val, torch.Tensor) else np.asarray(val)
    name = (w.names.get(res) or f"%{k}").lstrip("%")
    return {"op": op.name, "layer": layer_of(op),
            **w.save(f"values/{k:04d}_{_safe(name)}.npy", arr, "*", res, np_dtype(res.type))}


__all__ = ["DEFAULT_VECTORS", "layer_of", "record_golden", "ssa_names", "tile_read"]
