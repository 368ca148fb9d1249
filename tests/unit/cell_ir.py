"""Hand-made `cell.mvm` ops and small compiled models for the runtime's tests.

`cell_array` lays an integer weight tile onto one physical array exactly as
`allocate-resistance` does (differential pairs, bit slices, reference column)
and returns the op with its operand tensors, ready for a kernel call.
`mlp_model` / `cnn_model` write an `ann` module by hand and compile it with
the real passes (quantize, tile, allocate-resistance), so tests do not depend
on the frontend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from anncc.ir.cell import ArrayParams
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.contract import (
    accumulator_bound,
    adc_shift_for,
    max_column_count,
    signed_bits,
    slice_levels,
)
from anncc.ir.shapes import tensor
from anncc.ir.xbar import int_type
from anncc.passes.allocate_resistance import ArrayLayout

UI8, SI32 = int_type(8, False), int_type(32, True)


@dataclass
class CellArray:
    """One `cell.mvm` op, its operand tensors and the integer weight tile it holds."""

    op: CellMvmOp
    args: list[torch.Tensor]
    w: np.ndarray

    def with_input(self, x: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
        return [torch.as_tensor(np.asarray(x), dtype=torch.int64), *self.args[1:]]


def _test_value(t):
    from xdsl.dialects.test import TestOp

    return TestOp(result_types=[t]).results[0]


def cell_array(w: np.ndarray, target: Any, *, array_rows: int | None = None,
               array_cols: int | None = None, in_bits: int = 8, in_signed: bool = False,
               dac_bits: int = 1, adc_bits: int | None = None, adc_shift: int | None = None,
               w_bits: int = 4, faults: np.ndarray | None = None, tile: str = "t.r0c0",
               g_max_s: float | None = None) -> CellArray:
    """The array holding integer weights `w` [rows, cols] on `target`'s devices."""
    rows, cols = w.shape
    b = target.bits_per_cell
    n_slices = max(1, -(-(w_bits - 1) // b))
    ar = array_rows or max(rows, target.array_rows)
    ac = array_cols or max(cols * n_slices * 2 + 1, target.array_cols)
    layout = ArrayLayout(ar, ac, rows, cols, n_slices)
    levels = np.zeros((ar, ac), dtype=np.uint8)
    levels[:rows, :layout.ref_col] = slice_levels(w, n_slices, b).reshape(rows, -1)
    adc_bits = adc_bits or target.adc_bits
    shift = adc_shift_for(max_column_count(levels, dac_bits), adc_bits) if adc_shift is None else adc_shift
    fm = np.zeros((ar, ac), dtype=np.uint8) if faults is None else faults.astype(np.uint8)
    x_t = tensor([None, rows], int_type(in_bits, in_signed))
    w_t = tensor([rows, cols], int_type(8, True))
    vals = [_test_value(t) for t in (
        x_t, w_t, tensor([ar, ac], UI8), tensor([cols, n_slices, 2], SI32), tensor([rows], SI32),
        tensor([ar, ac], UI8))]
    params = ArrayParams(
        tile=tile, layer=tile.split(".")[0], row_offset=0, col_offset=0, rows=rows, cols=cols,
        w_bits=w_bits, acc_bits=signed_bits(accumulator_bound(rows, in_bits, in_signed, w_bits)),
        array_rows=ar, array_cols=ac, bits_per_cell=b, n_slices=n_slices, ref_col=layout.ref_col,
        spare_rows=ar - rows, spare_cols=ac - layout.ref_col - 1, in_bits=in_bits,
        in_signed=in_signed, dac_bits=dac_bits, adc_bits=adc_bits, adc_shift=shift,
        v_read_v=target.v_read_v, g_min_s=target.g_min_s, g_max_s=g_max_s or target.g_max_s)
    op = CellMvmOp(*vals, tensor([None, cols], SI32), params)
    op.verify()
    args = [torch.zeros(0, rows, dtype=torch.int64), torch.from_numpy(w.astype(np.int64)),
            torch.from_numpy(levels), torch.from_numpy(layout.colmap().astype(np.int64)),
            torch.arange(rows), torch.from_numpy(fm)]
    return CellArray(op, args, w)


def random_weights(rows: int, cols: int, w_bits: int = 4, seed: int = 0) -> np.ndarray:
    q = (1 << (w_bits - 1)) - 1
    return np.random.default_rng(seed).integers(-q, q + 1, size=(rows, cols))


def random_inputs(n: int, rows: int, in_bits: int = 8, signed: bool = False, seed: int = 1
                  ) -> np.ndarray:
    half = 1 << (in_bits - 1)
    lo, hi = (-half, half - 1) if signed else (0, (1 << in_bits) - 1)
    return np.random.default_rng(seed).integers(lo, hi + 1, size=(n, rows))


# --------------------------------------------------------------------------- whole models


def _ann_text(layers: list[str], x_type: str, out_type: str) -> str:
    return "\n".join([f"func.func @forward(%x: {x_type}) -> {out_type} {{", *layers, "}"])


def mlp_model(sizes: list[int], target: str = "sot-mtj", seed: int = 0, n_calib: int = 128,
              **compile_kw: Any):
    """A compiled MLP (linear, ReLU, ..., linear) with random weights, and calibration inputs."""
    from anncc.ir import WeightStore, parse_module
    from anncc.pipeline import CompileOptions, compile_module

    rng = np.random.default_rng(seed)
    store = WeightStore()
    lines, cur = [], "%x"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32)
        bias = (0.1 * rng.standard_normal(b)).astype(np.float32)
        dw, db = store.add(f"fc{i}.weight", w), store.add(f"fc{i}.bias", bias)
        lines += [f'  %fc{i}_w = ann.weight "fc{i}.weight" digest "{dw}" : tensor<{b}x{a}xf32>',
                  f'  %fc{i}_b = ann.weight "fc{i}.bias" digest "{db}" : tensor<{b}xf32>',
                  f"  %fc{i} = ann.linear {cur}, %fc{i}_w, %fc{i}_b : (tensor<?x{a}xf32>, "
                  f"tensor<{b}x{a}xf32>, tensor<{b}xf32>) -> tensor<?x{b}xf32>"]
        cur = f"%fc{i}"
        if i < len(sizes) - 2:
            lines.append(f"  %relu{i} = ann.relu {cur} : tensor<?x{b}xf32> -> tensor<?x{b}xf32>")
            cur = f"%relu{i}"
    lines.append(f"  func.return {cur} : tensor<?x{sizes[-1]}xf32>")
    text = _ann_text(lines, f"tensor<?x{sizes[0]}xf32>", f"tensor<?x{sizes[-1]}xf32>")
    module = parse_module(text)
    x = torch.from_numpy(rng.standard_normal((n_calib, sizes[0])).astype(np.float32))
    opts = CompileOptions(target=target, calib=x.numpy(),
                          pipeline=compile_kw.pop("pipeline", "quantize,tile,allocate-resistance"),
                          **compile_kw)
    return compile_module(module, store, opts, x[:1]), x


def teacher_labels(model, x: torch.Tensor) -> torch.Tensor:
    """Labels a model's own float level predicts: accuracy 1.0 at the `ann` level."""
    return model.run(x, level="ann").argmax(-1)
