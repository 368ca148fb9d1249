"""`insert-redundancy` (cell -> cell): fault maps, spare rows/columns, triple modular redundancy.

- A fault map per array: stuck-at-low (1) and stuck-at-high (2) cells, from a
  file (`fault-map`, an `.npz` with one `[array_rows, array_cols]` uint8 map per
  tile name) or sampled per cell at `fault-rate` (half each way; a negative rate
  takes the target's `stuck_at_low_rate` / `stuck_at_high_rate`) with `seed`.
  Stuck-at faults of 1 % each way are the customary default for fault studies.
- A fault matters only where it changes a cell's level: a stuck-low cell that
  should hold level 0 is harmless. The reference column counts too: its cells
  hold level 0, so a stuck-high reference cell on a driven row is harmful, and
  worse than any other (the sense amplifier subtracts it from every column of
  its row); it is repaired by moving that row to a spare row (whose reference
  cell is healthy), else reported and warned about. Columns with harmful faults are remapped,
  worst first, to healthy spare columns (their weights are written there and
  `colmap` points at them); then rows that still hold harmful faults move to
  spare rows (`rowmap`). At most `spare-rows` / `spare-cols` spares are used per
  array; the array must have them (the `tile` pass reserves room).
- `scheme=tmr` triplicates the arrays of the layers named in `layers` (comma
  separated layer names, or `all`), each replica with its own faults, and
  votes with the median (`cell.vote`).

The module's `anncc.redundancy` attribute records, per array, the harmful
faults before and after remapping (reference-column cells included), and
`reference_before` / `reference_after`, the harmful reference-column cells
among them, for the report.

Options: `spare-rows`, `spare-cols` (default 0), `fault-rate` (default 0.0),
`fault-map` (default none), `seed` (default 0), `scheme` (`spares` or `tmr`),
`layers` (for `tmr`).
"""

from __future__ import annotations

import json
import warnings
import zlib
from dataclasses import dataclass, replace

import numpy as np

from anncc.errors import AnnccError
from anncc.ir._xdsl import Context, InsertPoint, ModuleOp, ModulePass, Rewriter, StringAttr, dce
from anncc.ir.ann import WeightOp
from anncc.ir.cell import MvmOp, VoteOp
from anncc.ir.shapes import tensor
from anncc.ir.store import WeightStore
from anncc.ir.xbar import int_type
from anncc.passes._store import store_of
from anncc.passes._target import target_of
from anncc.passes._util import ConstantPool, const_array

UI8 = int_type(8, False)
SI32 = int_type(32, True)
STUCK_LOW, STUCK_HIGH = 1, 2


def sample_faults(shape: tuple[int, int], rate_low: float, rate_high: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A uint8 fault map: each cell independently stuck low / high with the given rates."""
    u = rng.random(shape)
    out = np.zeros(shape, dtype=np.uint8)
    out[u < rate_low] = STUCK_LOW
    out[(u >= rate_low) & (u < rate_low + rate_high)] = STUCK_HIGH
    return out


def harmful(levels: np.ndarray, faults: np.ndarray, top: int) -> np.ndarray:
    """Cells whose fault changes the level they should hold."""
    return ((faults == STUCK_LOW) & (levels != 0)) | ((faults == STUCK_HIGH) & (levels != top))


@dataclass
class Remap:
    """The outcome of remapping one array."""

    levels: np.ndarray
    colmap: np.ndarray
    rowmap: np.ndarray
    harmful_before: int
    harmful_after: int
    reference_before: int = 0
    reference_after: int = 0


class RedundancyWarning(UserWarning):
    """A harmful fault that the spares could not repair (e.g. in the reference column)."""


def reference_harm(faults: np.ndarray, rows: np.ndarray, ref_col: int) -> np.ndarray:
    """Per driven row: whether its reference cell is stuck high (it should hold level 0)."""
    return faults[rows, ref_col] == STUCK_HIGH


def remap_array(levels: np.ndarray, faults: np.ndarray, colmap: np.ndarray, rowmap: np.ndarray,
                top: int, ref_col: int, spare_rows: int, spare_cols: int) -> Remap:
    """Move faulty columns, then faulty rows, onto spares (greedy, worst first)."""
    levels, colmap, rowmap = levels.copy(), colmap.copy(), rowmap.copy()
    rows = rowmap.size
    used_rows = rowmap.astype(np.int64)

    def bad_in_col(data: np.ndarray, col: int) -> int:
        return int(harmful(data, faults[used_rows, col], top).sum())

    ref_before = int(reference_harm(faults, used_rows, ref_col).sum())
    before = int(harmful(levels[used_rows][:, colmap.ravel()], faults[used_rows][:, colmap.ravel()],
                         top).sum()) + ref_before
    free_cols = list(range(ref_col + 1, ref_col + 1 + spare_cols))
    flat = colmap.reshape(-1)
    damage = [(bad_in_col(levels[used_rows, c], c), slot) for slot, c in enumerate(flat)]
    for bad, slot in sorted(damage, reverse=True):
        if bad == 0 or not free_cols:
            break
        c = int(flat[slot])
        data = levels[used_rows, c]
        best = min(free_cols, key=lambda s: bad_in_col(data, s))
        if bad_in_col(data, best) < bad:
            levels[used_rows, best] = data
            levels[used_rows, c] = 0
            flat[slot] = best
            free_cols.remove(best)
    cols = flat.astype(np.int64)
    free_rows = [r for r in range(rows, rows + spare_rows)]
    # a stuck-high reference cell corrupts every sensed column of its row: weigh it as all of them
    ref_weight = cols.size
    row_bad = (harmful(levels[used_rows][:, cols], faults[used_rows][:, cols], top).sum(axis=1)
               + ref_weight * reference_harm(faults, used_rows, ref_col))
    for i in np.argsort(-row_bad, kind="stable"):
        if row_bad[i] == 0 or not free_rows:
            break
        data = levels[used_rows[i], cols]

        def bad_in_row(r: int) -> int:
            return (int(harmful(data, faults[r, cols], top).sum())
                    + ref_weight * int(faults[r, ref_col] == STUCK_HIGH))

        best = min(free_rows, key=bad_in_row)
        if bad_in_row(best) < row_bad[i]:
            levels[best, cols] = data
            levels[used_rows[i], cols] = 0
            rowmap[i] = best
            free_rows.remove(best)
    used_rows = rowmap.astype(np.int64)
    ref_after = int(reference_harm(faults, used_rows, ref_col).sum())
    after = int(harmful(levels[used_rows][:, cols], faults[used_rows][:, cols], top).sum()) + ref_after
    return Remap(levels, colmap, rowmap, before, after, ref_before, ref_after)


@dataclass(frozen=True)
class InsertRedundancyPass(ModulePass):
    """Fault maps, spare remapping and TMR; see the module docstring for the options."""

    name = "insert-redundancy"
    spare_rows: int = 0
    spare_cols: int = 0
    fault_rate: float = 0.0
    fault_map: str = ""
    seed: int = 0
    scheme: str = "spares"
    layers: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.scheme not in ("spares", "tmr"):
            raise AnnccError(f"insert-redundancy: scheme must be 'spares' or 'tmr', got '{self.scheme}'")
        if self.fault_rate > 0.5:
            raise AnnccError(f"insert-redundancy: fault-rate must be at most 0.5, got {self.fault_rate}")
        store = store_of(op)
        t = target_of(op)
        if self.fault_rate < 0:
            rates = (float(t.stuck_at_low_rate), float(t.stuck_at_high_rate))
        else:
            rates = (self.fault_rate / 2, self.fault_rate / 2)
        given = self._load_fault_map()
        rw = Rewriter()
        pools: dict = {}
        report: dict[str, dict[str, int]] = {}
        tmr_layers = {s.strip() for s in self.layers.split(",") if s.strip()}
        mvms = [o for o in op.walk() if isinstance(o, MvmOp)]
        known = list(dict.fromkeys(m.layer.data for m in mvms))
        unknown = sorted(tmr_layers - set(known) - {"all"})
        if self.scheme == "tmr" and unknown:  # a misspelt layer would silently go unprotected
            raise AnnccError(f"insert-redundancy: layers {', '.join(unknown)} are not in the model",
                             hint=f"layers: {', '.join(known)} (or 'all')")
        for mvm in mvms:
            block = mvm.parent_block()
            pool = pools.setdefault(block, ConstantPool(store, block))
            layer = mvm.layer.data
            if self.scheme == "tmr" and ("all" in tmr_layers or layer in tmr_layers):
                replicas = [self._harden(mvm, store, pool, rw, rates, given, report, f".tmr{i}",
                                         clone=True)
                            for i in range(3)]
                vote = VoteOp([r.results[0] for r in replicas], mvm.result.type, layer=layer)
                vote.results[0].name_hint = mvm.results[0].name_hint
                rw.replace_op(mvm, vote)
            else:
                self._harden(mvm, store, pool, rw, rates, given, report, "", clone=False)
        op.attributes["anncc.redundancy"] = StringAttr(json.dumps(report, sort_keys=True))
        dce(op)

    def _load_fault_map(self) -> dict[str, np.ndarray]:
        if not self.fault_map:
            return {}
        try:
            with np.load(self.fault_map, allow_pickle=False) as z:
                return {k: np.asarray(z[k], dtype=np.uint8) for k in z.files}
        except (OSError, ValueError) as e:
            raise AnnccError(f"insert-redundancy: cannot read fault map {self.fault_map}: {e}") from None

    def _harden(self, mvm: MvmOp, store: WeightStore, pool: ConstantPool, rw: Rewriter, rates,
                given, report, suffix: str, clone: bool) -> MvmOp:
        f = mvm.params()
        tile = f.tile + suffix
        ar, ac = f.array_rows, f.array_cols
        avail_rows, avail_cols = ar - f.rows, ac - f.ref_col - 1
        if self.spare_rows > avail_rows or self.spare_cols > avail_cols:
            raise AnnccError(
                f"insert-redundancy: array '{f.tile}' has room for {avail_rows} spare rows and "
                f"{avail_cols} spare columns, {self.spare_rows} and {self.spare_cols} requested",
                hint="reserve them with tile{spare-rows=.. spare-cols=..}")
        levels = np.asarray(const_array(mvm.levels, store), dtype=np.uint8)
        colmap = np.asarray(const_array(mvm.colmap, store), dtype=np.int32)
        rowmap = np.asarray(const_array(mvm.rowmap, store), dtype=np.int32)
        if tile in given or f.tile in given:
            faults = given.get(tile, given.get(f.tile))
            if faults.shape != (ar, ac):
                raise AnnccError(f"insert-redundancy: fault map for '{tile}' is {faults.shape}, "
                                 f"the array is {(ar, ac)}")
        else:
            salt = zlib.crc32(tile.encode())
            faults = sample_faults((ar, ac), rates[0], rates[1], np.random.default_rng([self.seed, salt]))
        top = (1 << f.bits_per_cell) - 1
        r = remap_array(levels, faults, colmap, rowmap, top, f.ref_col, self.spare_rows,
                        self.spare_cols)
        report[tile] = {"faults": int((faults > 0).sum()), "harmful_before": r.harmful_before,
                        "harmful_after": r.harmful_after, "reference_before": r.reference_before,
                        "reference_after": r.reference_after}
        if r.reference_after:
            warnings.warn(f"anncc: array '{tile}': {r.reference_after} reference-column cell(s) stuck "
                          "high on driven rows, not repaired (no healthy spare row): every column "
                          "of those rows reads low", RedundancyWarning, stacklevel=2)

        lv_key = store.unique_key(f"{tile}.levels")
        lv = WeightOp(lv_key, store.add(lv_key, r.levels), tensor(r.levels.shape, UI8))
        rw.insert_op(lv, InsertPoint.before(mvm))
        operands = [mvm.input, mvm.weight, lv.results[0],
                    pool.get(r.colmap, SI32, f"{tile}.colmap"),
                    pool.get(r.rowmap, SI32, f"{tile}.rowmap"),
                    pool.get(faults, UI8, f"{tile}.faults")]
        params = replace(f, tile=tile, spare_rows=self.spare_rows, spare_cols=self.spare_cols)
        new = MvmOp(*operands, mvm.result.type, params)
        new.results[0].name_hint = (mvm.results[0].name_hint or "") + suffix.replace(".", "_") or None
        if clone:
            rw.insert_op(new, InsertPoint.before(mvm))
        else:
            rw.replace_op(mvm, new)
        return new
