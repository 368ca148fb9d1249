"""`estimate`: energy, latency and area per layer and per inference, from the target's coefficients.

Counted per array (`cell.mvm`) and per inference (one batch element):
- reads: `vectors × planes`, where `vectors` is the number of input vectors a
  layer applies per inference (output positions of a convolution, tokens of a
  transformer, 1 for an MLP) and `planes` the DAC planes per input
  (`⌈in_bits / dac_bits⌉`, one more for signed inputs with multi-bit DACs);
- cell energy: `activity · V_read² · t_read · ΣG` over the used cells per read
  (plus the reference column), with the input-bit activity taken as 0.5 — the
  mean of a random bit; the conductances follow the allocated levels;
- DAC energy: one conversion per used row per read (`dac_energy_per_conversion_j`);
- ADC energy: one conversion per physical column read (`FOM · 2^adc_bits`,
  Murmann's survey, through the target);
- digital energy: shift-add of every conversion and accumulation across row
  tiles (adds), and one multiply per output in requantization
  (Horowitz, ISSCC 2014, through the target);
- latency: the arrays of a layer read in parallel; each read takes
  `max(t_read, adc_bits conversions… )` — the longer of the array read and one
  ADC conversion — and layers run one after another;
- area: cells of every array (`cell_area_f2·F²`), one ADC and one DAC per column
  and row of each array (ISAAC's per-ADC and per-DAC areas, through the target).

Every coefficient's source is its target field's description. The result is
the module's `anncc.estimate` attribute (JSON), which the report reads.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from anncc.ir._xdsl import Context, ModuleOp, ModulePass, StringAttr
from anncc.ir.cell import MvmOp
from anncc.ir.contract import plane_weights
from anncc.ir.xbar import RequantOp
from anncc.passes._store import store_of
from anncc.passes._target import target_of
from anncc.passes._util import const_array, static_dims

INPUT_BIT_ACTIVITY = 0.5


@dataclass(frozen=True)
class EstimatePass(ModulePass):
    """Energy, latency, area; writes the module's `anncc.estimate` attribute."""

    name = "estimate"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        t = target_of(op)
        store = store_of(op)
        layers: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for mvm in [o for o in op.walk() if isinstance(o, MvmOp)]:
            f = mvm.params()
            vectors = math.prod(d or 1 for d in static_dims(mvm.input)[1:-1])
            planes = len(plane_weights(f.in_bits, f.in_signed, f.dac_bits))
            reads = vectors * planes
            levels = np.asarray(const_array(mvm.levels, store))
            used = levels[:f.rows + f.spare_rows, : f.ref_col + 1]
            top = (1 << f.bits_per_cell) - 1
            g = f.g_min_s + used.astype(np.float64) * (f.g_max_s - f.g_min_s) / top
            phys_cols = f.cols * f.n_slices * 2
            e_cells = INPUT_BIT_ACTIVITY * f.v_read_v ** 2 * t.t_read_s * float(g.sum()) * reads
            e_dac = t.dac_energy_per_conversion_j * f.rows * reads
            e_adc = t.adc_energy_per_conversion_j * phys_cols * reads
            e_dig = t.digital_add_energy_j * (phys_cols * reads + f.cols * vectors)
            L = layers[f.layer]
            L["arrays"] += 1
            L["cells"] += f.array_rows * f.array_cols
            L["used_cells"] += f.rows * phys_cols
            L["reads"] += reads
            L["adc_conversions"] += phys_cols * reads
            L["energy_cells_j"] += e_cells
            L["energy_dac_j"] += e_dac
            L["energy_adc_j"] += e_adc
            L["energy_digital_j"] += e_dig
            L["area_m2"] += (f.array_rows * f.array_cols * t.cell_area_m2
                             + f.array_cols * t.adc_area_m2 + f.array_rows * t.dac_area_m2)
            step = max(t.t_read_s, t.adc_latency_s)
            L["latency_s"] = max(L["latency_s"], reads * step)
        for req in [o for o in op.walk() if isinstance(o, RequantOp)]:
            name = req.layer.data
            if name in layers:
                outs = math.prod(d or 1 for d in static_dims(req.results[0])[1:])
                layers[name]["energy_digital_j"] += t.digital_mult_energy_j * outs
        total: dict[str, float] = defaultdict(float)
        for L in layers.values():
            L["energy_j"] = sum(v for k, v in L.items() if k.startswith("energy_") and k != "energy_j")
            for k, v in L.items():
                total[k] += v
        total["utilization"] = total["used_cells"] / total["cells"] if total["cells"] else 0.0
        result = {"target": t.name, "per_layer": {k: dict(v) for k, v in layers.items()},
                  "per_inference": dict(total),
                  "assumptions": {"input_bit_activity": INPUT_BIT_ACTIVITY,
                                  "layers_sequential": True, "arrays_of_a_layer_parallel": True}}
        op.attributes["anncc.estimate"] = StringAttr(json.dumps(result, sort_keys=True))
