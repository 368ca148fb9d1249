"""`allocate-resistance` (xbar -> cell): the conductance state of every cell of every array.

Each `xbar.mvm` tile becomes one physical array (`cell.mvm`):
- Differential pairs and bit slices: `w_q = w⁺ − w⁻`, each magnitude split into
  `n_slices` slices of `bits_per_cell` bits, LSB first; logical column j, slice
  k, polarity p sits on physical column `(j·n_slices + k)·2 + p`; the next
  column is the reference column (level-0 cells); the rest are spare columns,
  and the rows beyond the tile are spare rows (`insert-redundancy` uses them).
- ADC shift per array: the largest count any column can produce in one read
  is `(2^dac_bits − 1)·Σ_i level[i][col]`, known exactly from the levels; the
  shift is the smallest `s` with that count below `2^(adc_bits+s)`, so an ADC
  wide enough is lossless (s = 0) and a narrower one loses only LSBs, never
  saturates.
- Conductance range and read voltage. What is optimized: the expected IR-drop
  error `α/2 + 2β` (α = R_wire·Ḡ·N², β = R_contact·Ḡ·N, DESIGN.md section 7)
  grows with the mean conductance Ḡ, while the signal above additive read noise
  grows with the step ΔG. For multi-level devices whose top conductance can be
  programmed lower (`rram`, `pcm`, `sot-mtj-dw`), the pass picks, per array, the
  largest `g_max` among `g_max·2^−k` (k = 0..3, staying above the device's
  `g_min`) whose expected IR-drop error is within `irdrop-budget`, so arrays
  with dense, high levels are read at lower conductance. Binary MTJs have fixed
  R_P / R_AP, so only α and β are checked. The read voltage is the target's
  (`v_read_v`): lower would cut read power but also the current above the ADC's
  noise floor, which the target sets. For `cmos`, levels become E96 resistors
  in the runtime's device model; the relative weight error this introduces per
  level is written to the module's `anncc.e96_error` attribute.

Options: `rows`, `cols` (the physical array; 0 = target's), `adc-bits`,
`dac-bits` (0 = target's), `irdrop-budget` (default 0.05), `target`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from anncc.errors import AnnccError
from anncc.ir._xdsl import Context, InsertPoint, ModuleOp, ModulePass, Rewriter, StringAttr
from anncc.ir.ann import WeightOp
from anncc.ir.cell import ArrayParams
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.contract import (
    adc_shift_for,
    irdrop_alpha_beta,
    irdrop_expected_error,
    max_column_count,
    n_slices_for,
    slice_levels,
)
from anncc.ir.shapes import tensor
from anncc.ir.store import WeightStore
from anncc.ir.xbar import MvmOp, int_info, int_type
from anncc.passes._store import store_of
from anncc.passes._target import target_of
from anncc.passes._util import ConstantPool

UI8 = int_type(8, False)
SI32 = int_type(32, True)


@dataclass(frozen=True)
class ArrayLayout:
    """Where a tile's weights sit on its physical array."""

    array_rows: int
    array_cols: int
    rows: int
    cols: int
    n_slices: int

    @property
    def ref_col(self) -> int:
        return self.cols * self.n_slices * 2

    def colmap(self) -> np.ndarray:
        idx = np.arange(self.cols * self.n_slices * 2, dtype=np.int32)
        return idx.reshape(self.cols, self.n_slices, 2)

    def check(self, tile: str) -> None:
        if self.rows > self.array_rows or self.ref_col + 1 > self.array_cols:
            raise AnnccError(
                f"allocate-resistance: tile '{tile}' needs {self.rows} rows and "
                f"{self.ref_col + 1} columns but the array is {self.array_rows}x{self.array_cols}",
                hint="tile and allocate-resistance must use the same array size")


@dataclass(frozen=True)
class AllocateResistancePass(ModulePass):
    """xbar -> cell; see the module docstring for what is optimized and the options."""

    name = "allocate-resistance"
    rows: int = 0
    cols: int = 0
    adc_bits: int = 0
    dac_bits: int = 0
    irdrop_budget: float = 0.05
    target: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_of(op)
        t = target_of(op, self.target)
        array_rows, array_cols = self.rows or t.array_rows, self.cols or t.array_cols
        adc_bits, dac_bits = self.adc_bits or t.adc_bits, self.dac_bits or t.dac_bits
        rw = Rewriter()
        pools: dict = {}
        for mvm in [o for o in op.walk() if isinstance(o, MvmOp)]:
            block = mvm.parent_block()
            pool = pools.setdefault(block, ConstantPool(store, block))
            self._allocate(mvm, t, store, rw, pool, array_rows, array_cols, adc_bits, dac_bits)
        report = t.level_error_report()
        if report is not None:  # e.g. cmos: each level's error once its resistor is rounded to E96
            op.attributes["anncc.e96_error"] = StringAttr(json.dumps(report))

    def _allocate(self, mvm: MvmOp, t, store: WeightStore, rw: Rewriter, pool: ConstantPool,
                  array_rows: int, array_cols: int, adc_bits: int, dac_bits: int) -> None:
        r0, c0, rows, cols = mvm.bounds()
        w_bits = mvm.w_bits.value.data
        b = t.bits_per_cell
        n_slices = n_slices_for(w_bits, b)
        tile = mvm.tile.data
        layout = ArrayLayout(array_rows, array_cols, rows, cols, n_slices)
        layout.check(tile)
        wq_op = mvm.weight.owner
        assert isinstance(wq_op, WeightOp)
        w = np.asarray(store.get(wq_op.key.data, wq_op.digest.data))[r0:r0 + rows, c0:c0 + cols]
        cell_levels = slice_levels(w, n_slices, b)
        levels = np.zeros((array_rows, array_cols), dtype=np.uint8)
        levels[:rows, : layout.ref_col] = cell_levels.reshape(rows, -1)
        in_info = int_info(mvm.input.type)
        assert in_info is not None
        in_bits, in_signed = in_info
        dac = min(dac_bits, in_bits)
        g_min, g_max = self._conductance_range(t, levels, b)

        lv_key = store.unique_key(f"{tile}.levels")
        lv = WeightOp(lv_key, store.add(lv_key, levels), tensor(levels.shape, UI8))
        rw.insert_op(lv, InsertPoint.before(mvm))
        faults = pool.get(np.zeros(levels.shape, dtype=np.uint8), UI8, "faults.none")
        colmap = pool.get(layout.colmap(), SI32, f"{tile}.colmap")
        rowmap = pool.get(np.arange(rows, dtype=np.int32), SI32, f"{tile}.rowmap")
        params = ArrayParams(
            tile=tile, layer=mvm.layer.data, row_offset=r0, col_offset=c0, rows=rows, cols=cols,
            w_bits=w_bits, acc_bits=mvm.acc_bits.value.data, array_rows=array_rows,
            array_cols=array_cols, bits_per_cell=b, n_slices=n_slices, ref_col=layout.ref_col,
            spare_rows=array_rows - rows, spare_cols=array_cols - layout.ref_col - 1,
            in_bits=in_bits, in_signed=in_signed, dac_bits=dac, adc_bits=adc_bits,
            adc_shift=adc_shift_for(max_column_count(levels, dac), adc_bits),
            v_read_v=t.v_read_v, g_min_s=g_min, g_max_s=g_max)
        new = CellMvmOp(mvm.input, mvm.weight, lv.results[0], colmap, rowmap, faults,
                        mvm.result.type, params)
        new.results[0].name_hint = mvm.results[0].name_hint
        rw.replace_op(mvm, new)


    def _conductance_range(self, t, levels: np.ndarray, b: int) -> tuple[float, float]:
        """(g_min, g_max) of the array: the largest tunable g_max whose α/2 + 2β is within budget.

        α and β are those of the whole physical array with unused cells at
        level 0 (`contract.irdrop_alpha_beta`, the figure the runtime's trace
        and the report compute from the programmed conductances).
        """
        g_min, g_max = float(t.g_min_s), float(t.g_max_s)
        if not t.TUNABLE_G_MAX:
            return g_min, g_max
        top = (1 << b) - 1
        best = g_max
        for k in range(4):
            cand = g_max / (1 << k)
            if cand <= g_min * 1.5:
                break
            g = g_min + levels.astype(np.float64) * (cand - g_min) / top
            best = cand
            alpha, beta = irdrop_alpha_beta(g, t.r_wire_ohm, t.r_contact_ohm)
            if irdrop_expected_error(alpha, beta) <= self.irdrop_budget:
                break
        return g_min, best
