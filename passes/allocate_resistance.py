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
- Conductance range, array size and IR drop. Each layer's arrays have the
  size `tile` chose for it (module attribute `anncc.array_sizing`; else the
  `rows`/`cols` options, else the target's). The top conductance is chosen per
  layer: for devices whose top conductance can be programmed lower (`rram`,
  `pcm`, `sot-mtj-dw`) the largest of `g_max·2^−k` (k = 0..3, staying above
  1.5·`g_min`) whose **exact** worst-column IR-drop error is within the budget
  (`irdrop-budget`, default the target's `irdrop_budget`); binary MTJs and
  cmos keep their fixed range but are checked the same way. The error is that
  of the layer's densest array at its programmed levels, every used row driven,
  solved on the one mesh description (`passes/_irdrop_sizing.py`). Where no
  choice meets the budget, the least error is kept and a warning names the
  layer, its arrays and the figure; with `strict` it is an error. Each layer's
  array size, array count, g_max and figures (those of its densest array, which
  draws the most current, for all its arrays) are the module attribute
  `anncc.irdrop` (JSON: `budget`, `pattern`, `layers`: one row per layer; one
  row per array was 26 % of a cell-level IR's text), shown in the report.
  The read voltage is the target's (`v_read_v`): lower would cut read power but
  also the current above the ADC's noise floor, which the target sets. For
  `cmos`, levels become E96 resistors in the runtime's device model; the
  relative weight error this introduces per level is written to the module's
  `anncc.e96_error` attribute.

Options: `rows`, `cols` (the physical array; 0 = tile's choice, else the
target's), `adc-bits`, `dac-bits` (0 = target's), `irdrop-budget` (0 = the
target's `irdrop_budget`), `strict` (a missed budget is an error), `target`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

import numpy as np

from anncc.errors import AnnccError
from anncc.ir._xdsl import Context, InsertPoint, ModuleOp, ModulePass, Rewriter, StringAttr
from anncc.ir.ann import WeightOp
from anncc.ir.cell import ArrayParams
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.contract import (
    adc_shift_for,
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

#: Module attribute: every array's size, g_max and exact IR-drop figures (JSON).
IRDROP_ATTR = "anncc.irdrop"


class IRDropBudgetWarning(UserWarning):
    """An array's exact IR-drop error exceeds the budget at every size and g_max tried."""


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
    irdrop_budget: float = 0.0
    strict: bool = False
    target: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from anncc.passes import _irdrop_sizing as sz
        from anncc.passes.tile import SIZING_ATTR

        store = store_of(op)
        t = target_of(op, self.target)
        budget = self.irdrop_budget or float(t.irdrop_budget)
        sizing = json.loads(op.attributes[SIZING_ATTR].data) if SIZING_ATTR in op.attributes else {}
        adc_bits, dac_bits = self.adc_bits or t.adc_bits, self.dac_bits or t.dac_bits
        rw = Rewriter()
        pools: dict = {}
        # per-array work that repeats for every array of a layer is done once (a chip at the
        # compiler's array sizes has 10^5 arrays): the levels of each weight matrix, and the
        # colmap/rowmap/fault-map constants of each layout (the pool would hash them per array)
        sliced: dict[tuple, np.ndarray] = {}
        shared: dict[tuple, tuple] = {}
        by_layer: dict[str, list[tuple[MvmOp, ArrayLayout, np.ndarray]]] = {}
        for mvm in [o for o in op.walk() if isinstance(o, MvmOp)]:
            layer = mvm.layer.data
            chosen = sizing.get(layer, {})
            array_rows = self.rows or chosen.get("array_rows") or t.array_rows
            array_cols = self.cols or chosen.get("array_cols") or t.array_cols
            layout, cell_levels = self._levels(mvm, t, store, array_rows, array_cols, sliced)
            by_layer.setdefault(layer, []).append((mvm, layout, cell_levels))
        rows_out: list[dict] = []
        for layer, members in by_layer.items():
            dense = max(members, key=lambda m: int(m[2].sum(dtype=np.int64)))
            _, lay, lv = dense
            g_max, fig, _ = sz.best_g_max(lv, lay.array_rows, lay.array_cols, t, budget)
            g_min = float(t.g_min_s)
            ok = fig.worst <= budget
            rows_out.append({
                "layer": layer, "arrays": len(members), "array_rows": lay.array_rows,
                "array_cols": lay.array_cols, "g_max_s": g_max, "worst_error": fig.worst,
                "mean_error": fig.mean, "within_budget": ok, "densest": dense[0].tile.data})
            for mvm, layout, cell_levels in members:
                block = mvm.parent_block()
                pool = pools.setdefault(block, ConstantPool(store, block))
                self._allocate(mvm, t, store, rw, pool, layout, cell_levels, adc_bits, dac_bits,
                               g_min, g_max, shared)
            if not ok:
                tiles = [m[0].tile.data for m in members]
                names = ", ".join(tiles[:4]) + (f" and {len(tiles) - 4} more" if len(tiles) > 4 else "")
                msg = (f"allocate-resistance: layer '{layer}' ({len(tiles)} array(s) of "
                       f"{lay.array_rows}x{lay.array_cols}: {names}): exact worst-column IR-drop "
                       f"error {100 * fig.worst:.1f} % (mean {100 * fig.mean:.1f} %) at g_max "
                       f"{g_max * 1e6:.3g} uS exceeds the budget {100 * budget:.1f} % at every "
                       "size and g_max tried")
                if self.strict:
                    raise AnnccError(msg, hint="lower R_wire/R_contact, raise --irdrop-budget, or "
                                               "pre-compensate")
                warnings.warn(msg, IRDropBudgetWarning, stacklevel=2)
        op.attributes[IRDROP_ATTR] = StringAttr(json.dumps(
            {"budget": budget, "pattern": sz.PATTERN, "layers": rows_out}, sort_keys=True))
        report = t.level_error_report()
        if report is not None:  # e.g. cmos: each level's error once its resistor is rounded to E96
            op.attributes["anncc.e96_error"] = StringAttr(json.dumps(report))

    def _levels(self, mvm: MvmOp, t, store: WeightStore, array_rows: int, array_cols: int,
                sliced: dict[tuple, np.ndarray]) -> tuple[ArrayLayout, np.ndarray]:
        """The tile's layout on its array and its cell levels [rows, cols·n_slices·2].

        `slice_levels` is elementwise, so the whole weight matrix is sliced once (kept in
        `sliced`) and each tile takes its block of it.
        """
        r0, c0, rows, cols = mvm.bounds()
        b = t.bits_per_cell
        n_slices = n_slices_for(mvm.w_bits.value.data, b)
        layout = ArrayLayout(array_rows, array_cols, rows, cols, n_slices)
        layout.check(mvm.tile.data)
        wq_op = mvm.weight.owner
        assert isinstance(wq_op, WeightOp)
        whole = (wq_op.key.data, wq_op.digest.data, n_slices, b)
        if whole not in sliced:
            sliced[whole] = slice_levels(np.asarray(store.get(*whole[:2])), n_slices, b)
        return layout, sliced[whole][r0:r0 + rows, c0:c0 + cols].reshape(rows, -1)

    def _allocate(self, mvm: MvmOp, t, store: WeightStore, rw: Rewriter, pool: ConstantPool,
                  layout: ArrayLayout, cell_levels: np.ndarray, adc_bits: int, dac_bits: int,
                  g_min: float, g_max: float, shared: dict[tuple, tuple]) -> None:
        r0, c0, rows, cols = mvm.bounds()
        w_bits = mvm.w_bits.value.data
        b = t.bits_per_cell
        n_slices = layout.n_slices
        tile = mvm.tile.data
        array_rows, array_cols = layout.array_rows, layout.array_cols
        levels = np.zeros((array_rows, array_cols), dtype=np.uint8)
        levels[:rows, : layout.ref_col] = cell_levels
        in_info = int_info(mvm.input.type)
        assert in_info is not None
        in_bits, in_signed = in_info
        dac = min(dac_bits, in_bits)

        lv_key = store.unique_key(f"{tile}.levels")
        lv = WeightOp(lv_key, store.add(lv_key, levels), tensor(levels.shape, UI8))
        rw.insert_op(lv, InsertPoint.before(mvm))
        same = (pool, layout)  # what the pool would find by content, found without hashing it
        if same not in shared:
            shared[same] = (pool.get(np.zeros(levels.shape, dtype=np.uint8), UI8, "faults.none"),
                            pool.get(layout.colmap(), SI32, f"{tile}.colmap"),
                            pool.get(np.arange(rows, dtype=np.int32), SI32, f"{tile}.rowmap"))
        faults, colmap, rowmap = shared[same]
        params = ArrayParams(
            tile=tile, layer=mvm.layer.data, row_offset=r0, col_offset=c0, rows=rows, cols=cols,
            w_bits=w_bits, acc_bits=mvm.acc_bits.value.data, array_rows=array_rows,
            array_cols=array_cols, bits_per_cell=b, n_slices=n_slices, ref_col=layout.ref_col,
            spare_rows=array_rows - rows, spare_cols=array_cols - layout.ref_col - 1,
            in_bits=in_bits, in_signed=in_signed, dac_bits=dac, adc_bits=adc_bits,
            adc_shift=adc_shift_for(max_column_count(levels, dac), adc_bits),
            v_read_v=t.v_read_v, g_min_s=g_min, g_max_s=g_max)
        new = CellMvmOp(mvm.input, mvm.weight, lv.results[0], colmap, rowmap, faults,
                        mvm.result.type, params, tile_attrs=(mvm.tile, mvm.geometry))
        new.results[0].name_hint = mvm.results[0].name_hint
        rw.replace_op(mvm, new)
