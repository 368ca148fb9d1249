"""The physical arrays of a compiled model as the SPICE backend sees them.

`collect_arrays(model, seed)` walks the `cell` level and, for every `cell.mvm`
(one physical array), programs the same chip the runtime's analog run
programs for `seed`: it calls `anncc.runtime.analog.build_array_model` — the
runtime's own chip-programming code (programming noise, device-to-device
variation, stuck-at faults; the draws are not re-implemented here) — with IR
drop on, and keeps

- `mesh`: the `anncc.runtime.mesh.ArrayMesh` of the programmed conductances and
  the target's parasitics, the one description both the netlist and the
  runtime's solver read;
- `model`: the runtime's `ArrayModel` (its `g_read_s` is G_eff of that mesh),
  for the runtime's column currents and ADC codes;
- labels naming each physical column (logical column, slice, polarity, or the
  reference column, or unused) and each physical row.

`array_inputs(model, x)` runs the model at the cell level on float inputs `x`
and returns each array's integer input rows, the planes of which become the
DAC voltages of the SPICE harness (`row_voltages`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError
from anncc.runtime.mesh import ArrayMesh

__all__ = [
    "SpiceArray",
    "array_inputs",
    "collect_arrays",
    "covering_sample",
    "layer_of",
    "row_voltages",
    "spice_name",
]


def spice_name(tile: str) -> str:
    """A SPICE-safe identifier for a tile name: `linear.1.r0c0` -> `linear_1_r0c0`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", tile)


def layer_of(op: Any) -> str:
    """The layer an array belongs to: the op's `layer` attribute (set by `tile` on every op it makes)."""
    return str(op.layer.data)


@dataclass
class SpiceArray:
    """One programmed physical array: mesh, runtime model, and what each row and column is."""

    name: str
    tile: str
    layer: str
    params: Any  # anncc.ir.cell.ArrayParams
    mesh: ArrayMesh
    model: Any  # anncc.runtime.analog.ArrayModel
    target: Any
    seed: int
    rowmap: np.ndarray
    colmap: np.ndarray
    col_labels: list[str] = field(default_factory=list)
    row_labels: list[str] = field(default_factory=list)
    op: Any = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.mesh.shape

    @property
    def v_lsb(self) -> float:
        """Volts per DAC step: v_read / (2^dac_bits − 1)."""
        return float(self.params.v_read_v) / ((1 << self.params.dac_bits) - 1)

    @property
    def unit_current_a(self) -> float:
        """Current of one count, ΔG · V_lsb (DESIGN.md section 4), ΔG the series cell's step
        (`anncc.runtime.mesh.sensed_step_s`: the access device included)."""
        from anncc.runtime.mesh import sensed_step_s

        return sensed_step_s(self.target) * self.v_lsb

    @property
    def ref_col(self) -> int:
        return int(self.params.ref_col)

    @property
    def sensed_cols(self) -> np.ndarray:
        """Physical columns read by the ADCs, in colmap order [cols·n_slices·2]."""
        return self.colmap.reshape(-1)

    @property
    def bias_dependent(self) -> bool:
        """Whether the cells are bias-dependent MTJs (`ArrayMesh.bias`)."""
        return self.mesh.bias is not None

    def runtime_currents(self, v: np.ndarray) -> np.ndarray:
        """The runtime's column currents [B, M] for row voltages [B, N]: `V @ G_eff`, or with
        bias-dependent cells the Newton solve of the mesh (`ArrayMesh.column_currents`)."""
        if self.bias_dependent:
            return self.mesh.column_currents(v)
        return np.asarray(v, dtype=np.float64) @ self.model.g_read_s.detach().double().numpy()

    def counts(self, currents: np.ndarray) -> np.ndarray:
        """ADC input counts [B, cols·n_slices·2]: (I_col − I_ref) / (ΔG·V_lsb)."""
        i = np.asarray(currents, dtype=np.float64)
        return (i[:, self.sensed_cols] - i[:, self.ref_col:self.ref_col + 1]) / self.unit_current_a

    def adc_codes(self, counts: np.ndarray) -> np.ndarray:
        """The ADC of DESIGN.md section 4 on counts (`anncc.ir.contract.adc_read`), as int64."""
        from anncc.ir.contract import adc_read

        t = torch.from_numpy(np.array(counts, dtype=np.float64))
        return adc_read(t, self.params.adc_bits, self.params.adc_shift).to(torch.int64).numpy()

    def boundary_distance(self, counts: np.ndarray) -> np.ndarray:
        """Distance (in counts) of each count from the nearest ADC decision boundary."""
        step = float(1 << self.params.adc_shift)
        q = np.asarray(counts) / step
        return np.abs(q - np.floor(q) - 0.5) * step


def _column_labels(f: dict[str, Any], colmap: np.ndarray) -> list[str]:
    labels = ["unused or spare"] * int(f.array_cols)
    labels[int(f.ref_col)] = "reference column (level-0 cells)"
    cols, ns, _ = colmap.shape
    for j in range(cols):
        for k in range(ns):
            for p, pol in enumerate(("+", "-")):
                labels[int(colmap[j, k, p])] = (
                    f"output column {int(f.col_offset) + j}, slice {k} "
                    f"(weight 2^{k * int(f.bits_per_cell)}), polarity {pol}")
    return labels


def _row_labels(f: dict[str, Any], rowmap: np.ndarray) -> list[str]:
    labels = ["unused (0 V)"] * int(f.array_rows)
    for i, r in enumerate(rowmap.tolist()):
        labels[int(r)] = f"input row {int(f.row_offset) + i}"
    return labels


def _mvm_ops(model: Any) -> list[Any]:
    from anncc.ir.cell import MvmOp

    return [op for op in model.ir("cell").walk() if isinstance(op, MvmOp)]


def collect_arrays(model: Any, seed: int = 0, names: Sequence[str] | None = None,
                   options: dict[str, Any] | None = None) -> list[SpiceArray]:
    """The programmed arrays of `model` for chip `seed` (all, or the tiles named in `names`).

    options: analog options for programming (`AnalogOptions` fields; default:
    the target's defaults). IR drop is always on: the SPICE mesh has the wires.
    """
    from anncc.runtime.analog import AnalogOptions, array_target, build_array_model, operand_tensor
    from anncc.runtime.interpreter import ExecContext

    ops = _mvm_ops(model)
    if not ops:
        raise AnnccError("the model has no cell level arrays (cell.mvm) to write as SPICE")
    if names is not None:  # tile names as the IR has them, or as the netlists spell them
        wanted = set(names)
        ops = [op for op in ops if op.tile.data in wanted or spice_name(op.tile.data) in wanted]
        known = {op.tile.data for op in ops} | {spice_name(op.tile.data) for op in ops}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise AnnccError(f"unknown array(s) {', '.join(unknown)}",
                             hint=f"known: {', '.join(sorted(op.tile.data for op in _mvm_ops(model)))}")
    target = model.target()
    ctx = ExecContext(store=model.store, analog=True, seed=seed)
    out = []
    for op in ops:
        f = op.params()
        levels, colmap, rowmap, faults = (
            operand_tensor(v, ctx) for v in (op.levels, op.colmap, op.rowmap, op.faults))
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        opts = AnalogOptions.resolve({**(options or {}), "ir_drop": True}, tgt)
        with torch.no_grad():
            am = build_array_model(op, levels, colmap, rowmap, faults, target, seed, opts)
        # bias-dependent MTJ cells (tmr_bias on): the mesh carries them, the netlist writes
        # B-sources and the runtime's currents come from the Newton solve
        mesh = ArrayMesh.from_target(am.programmed.g_s, tgt,
                                     am.programmed.levels if opts.tmr_bias else None)
        cm = colmap.to(torch.int64).numpy()
        rm = rowmap.to(torch.int64).numpy()
        out.append(SpiceArray(
            name=spice_name(f.tile), tile=f.tile, layer=layer_of(op), params=f,
            mesh=mesh, model=am, target=tgt, seed=seed, rowmap=rm, colmap=cm,
            col_labels=_column_labels(f, cm), row_labels=_row_labels(f, rm), op=op))
    return out


def covering_sample(model: Any, limit: int | None = None) -> list[str]:
    """Tile names: all when there are at most `limit`, else the first array of every layer
    and then evenly spaced others up to `limit` (`anncc.runtime.sampling`)."""
    from anncc.runtime.sampling import SAMPLE_LIMIT
    from anncc.runtime.sampling import covering_sample as sample

    tiles = [(layer_of(op), op.tile.data) for op in _mvm_ops(model)]
    return sample(tiles, SAMPLE_LIMIT if limit is None else limit)


def array_inputs(model: Any, x: Any, tiles: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Each array's integer inputs [B, rows] when the model runs on float inputs `x`.

    The cell level runs ideally (`analog=False`): the inputs of a layer are
    integers of the previous layer's requantization.
    """
    from anncc.runtime.interpreter import ExecContext, run_module
    from anncc.runtime.model import as_tensor

    ctx = ExecContext(store=model.store, analog=False, seed=0)
    values: dict[Any, torch.Tensor] = {}
    with torch.no_grad():
        # layers fused: only the arrays' inputs are read here, and those are not inside a layer
        run_module(model.ir("cell"), model.store, [as_tensor(x)], ctx, values=values,
                   fused_values=True)
    wanted = None if tiles is None else set(tiles)
    out = {}
    for op in _mvm_ops(model):
        tile = op.tile.data
        if wanted is not None and tile not in wanted and spice_name(tile) not in wanted:
            continue
        f = op.params()
        xin = values[op.input]
        r0, rows = f.row_offset, f.rows
        out[f.tile] = xin[..., r0:r0 + rows].reshape(-1, rows).to(torch.int64).numpy()
    return out


def row_voltages(arr: SpiceArray, x_int: np.ndarray, max_vectors: int | None = None) -> np.ndarray:
    """DAC voltages [V, array_rows] of every input plane of integer inputs `x_int` [B, rows].

    Each plane's digits times V_lsb on the rows of `rowmap`, 0 V on the others;
    repeated vectors are dropped (order kept), and at most `max_vectors` kept.
    """
    from anncc.runtime.analog import digit_planes

    f = arr.params
    planes, _ = digit_planes(torch.as_tensor(np.asarray(x_int)), f.in_bits, bool(f.in_signed),
                             f.dac_bits, torch.float64)
    d = planes.reshape(-1, planes.shape[-1]).numpy()
    v = np.zeros((d.shape[0], arr.shape[0]))
    v[:, arr.rowmap] = d * arr.v_lsb
    _, first = np.unique(v, axis=0, return_index=True)
    v = v[np.sort(first)]
    return v[:max_vectors] if max_vectors else v
