"""`estimate`: energy, latency and area per layer and per inference, from the target's coefficients.

The model (docs/estimate.md gives it with every source). Per array (`cell.mvm`),
per inference (one batch element):

- reads: `vectors × planes`, `vectors` the input vectors a layer applies per
  inference (output positions of a convolution, tokens, 1 for an MLP) and
  `planes` the DAC planes of an input (`plane_weights`);
- cells: `V_read² · t_read · ΣG · vectors · Σ_t a_t`, ΣG over the used cells and
  the reference column (from the allocated levels), `a_t` the input-bit
  activity of plane `t`: measured on the calibration inputs when the driver
  attached it (`anncc.input_activity`, see `anncc.activity`), else 0.5;
- DAC: one conversion per used row per read (`dac_energy_per_conversion_j`),
  whatever the bit;
- ADC: one conversion per used physical column per read
  (`adc_energy_per_conversion_j`, Walden's `FOM · 2^bits` set to ISAAC's ADC);
  each column is held by a sample-and-hold (`sample_hold_energy_j`);
- op-amp summers (targets with `OPAMP_SUMMER`): one per used physical column,
  powered for every read (`opamp_energy_per_read_j`);
- integer digital: a shift-add per conversion and per accumulated row tile,
  one multiply per output in requantization (Horowitz's int32 energies);
- latency: `adc_columns_per_adc` columns share an ADC, so an array's busiest ADC
  converts `c = min(adc_columns_per_adc, used columns)` values per read, taking
  `c / f_s`; the read of plane `n + 1` overlaps the conversions of plane `n`
  (sample-and-hold, ISAAC's pipeline), so `reads` reads take
  `t_read + c/f_s + (reads − 1) · max(t_read, c/f_s)`. A layer's arrays read in
  parallel; layers run one after another;
- area: cells (`cell_area_f2·F²`), `ceil(array_cols / adc_columns_per_adc)`
  ADCs, one sample-and-hold per column and one DAC per row of each array;
- digital float ops (softmax, layer norm, attention matmuls, pooling,
  elementwise: `anncc.passes.digital_ops`): their fp32 energy is added to the
  totals, and their time on a vector unit of `DIGITAL_LANES` lanes at
  `DIGITAL_CLOCK_HZ` to the latency.

Every assumption is listed, with its value and source, under `assumptions` of
the module's `anncc.estimate` attribute (JSON), which the report prints.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from anncc.ir._xdsl import Context, ModuleOp, ModulePass, StringAttr
from anncc.ir.attrs import IdentityMemo
from anncc.ir.cell import MvmOp
from anncc.ir.contract import plane_weights
from anncc.ir.xbar import RequantOp
from anncc.passes._store import store_of
from anncc.passes._target import target_of
from anncc.passes._util import const_array, static_dims
from anncc.targets._base import ISAAC_DOI

#: Input-bit activity per plane without calibration data: the mean of a uniformly random bit.
INPUT_BIT_ACTIVITY = 0.5
#: The module attribute the driver leaves the measured activity in (`anncc.activity`).
ACTIVITY_ATTR = "anncc.input_activity"
#: The vector unit that runs the digital float ops: lanes, each one fp32 add or multiply per cycle.
DIGITAL_LANES = 16
DIGITAL_CLOCK_HZ = 1e9
NO_SOURCE = "anncc assumption (no published source)"


def input_activity(module: ModuleOp) -> dict[str, Any] | None:
    """The measured input-bit activity attached by the driver, or None."""
    attr = module.attributes.get(ACTIVITY_ATTR)
    if attr is None:
        return None
    return json.loads(attr.data)  # type: ignore[attr-defined]


def array_latency_s(reads: int, t_read_s: float, conversion_s: float) -> float:
    """Pipelined reads: `t_read + t_conv + (reads − 1)·max(t_read, t_conv)` (0 for no reads)."""
    if reads <= 0:
        return 0.0
    return t_read_s + conversion_s + (reads - 1) * max(t_read_s, conversion_s)


def _assumption(name: str, value: Any, source: str) -> dict[str, Any]:
    return {"assumption": name, "value": value, "source": source}


@dataclass(frozen=True)
class _ArrayCost:
    """An array's per-inference counts and costs that do not depend on its levels."""

    layer: str
    used_rows: int
    used_cols: int
    g_min_s: float
    g_span_s: float
    top: int
    v_read_v: float
    vectors: int
    activity: float
    reads: int
    conversions: int
    n_adc: int
    cells: int
    used_cells: int
    e_dac: float
    e_adc: float
    e_sh: float
    e_dig: float
    e_opamp: float
    area_cells: float
    area_adc: float
    area_sh: float
    area_dac: float
    latency: float


@dataclass(frozen=True)
class EstimatePass(ModulePass):
    """Energy, latency, area; writes the module's `anncc.estimate` attribute."""

    name = "estimate"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from anncc.passes.digital_ops import FP32_ADD_J, FP32_MUL_J, digital_op_costs

        t = target_of(op)
        store = store_of(op)
        measured = input_activity(op)
        act_layers: dict[str, list[float]] = (measured or {}).get("layers", {})
        used_activity: dict[str, list[float]] = {}
        fallback_layers: set[str] = set()
        opamp = bool(getattr(t, "OPAMP_SUMMER", False))
        layers: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        costs = IdentityMemo()  # what an array costs besides its levels, per layer and shape
        ops = list(op.walk())  # (one walk: a chip has 10^6 ops)
        for mvm in [o for o in ops if isinstance(o, MvmOp)]:
            props, geometry = mvm.properties, mvm.geometry
            kind = (props["layer"], mvm.input.type, props["array"], props["adc"], props["analog"])
            shape = (geometry.rows.data, geometry.cols.data)
            c = costs.get(kind, shape)
            if c is None:
                vectors = math.prod(d or 1 for d in static_dims(mvm.input)[1:-1])
                c = costs.put(kind, shape, self._array_cost(mvm.params(), vectors, t, act_layers,
                                                            fallback_layers, used_activity, opamp))
            levels = np.asarray(const_array(mvm.levels, store))
            used = levels[:c.used_rows, : c.used_cols]
            g = c.g_min_s + used.astype(np.float64) * c.g_span_s / c.top
            e_cells = c.v_read_v ** 2 * t.t_read_s * float(g.sum()) * c.vectors * c.activity
            L = layers[c.layer]
            L["arrays"] += 1
            L["cells"] += c.cells
            L["used_cells"] += c.used_cells
            L["reads"] += c.reads
            L["adc_conversions"] += c.conversions
            L["adcs"] += c.n_adc
            L["energy_cells_j"] += e_cells
            L["energy_dac_j"] += c.e_dac
            L["energy_adc_j"] += c.e_adc
            L["energy_sample_hold_j"] += c.e_sh
            L["energy_digital_j"] += c.e_dig
            if opamp:
                L["energy_opamp_j"] += c.e_opamp
            L["area_cells_m2"] += c.area_cells
            L["area_adc_m2"] += c.area_adc
            L["area_sample_hold_m2"] += c.area_sh
            L["area_dac_m2"] += c.area_dac
            L["latency_s"] = max(L["latency_s"], c.latency)
        for req in [o for o in ops if isinstance(o, RequantOp)]:
            name = req.layer.data
            if name in layers:
                outs = math.prod(d or 1 for d in static_dims(req.results[0])[1:])
                layers[name]["energy_digital_j"] += t.digital_mult_energy_j * outs
        total: dict[str, float] = defaultdict(float)
        for L in layers.values():
            L["energy_j"] = sum(v for k, v in L.items() if k.startswith("energy_") and k != "energy_j")
            L["area_m2"] = sum(v for k, v in L.items() if k.startswith("area_") and k != "area_m2")
            for k, v in L.items():
                total[k] += v
        digital = digital_op_costs(op)  # float ops off the arrays (softmax, norms, attention, ...)
        dig_ops = digital["total"]["multiplies"] + digital["total"]["adds"]
        digital["latency_s"] = dig_ops / (DIGITAL_LANES * DIGITAL_CLOCK_HZ)
        total["energy_digital_ops_j"] = digital["total"]["energy_j"]
        total["latency_digital_ops_s"] = digital["latency_s"]
        total["energy_j"] += digital["total"]["energy_j"]
        total["latency_s"] += digital["latency_s"]
        total["utilization"] = total["used_cells"] / total["cells"] if total["cells"] else 0.0
        total["adc_area_share"] = total["area_adc_m2"] / total["area_m2"] if total["area_m2"] else 0.0
        result = {"target": t.name, "per_layer": {k: dict(v) for k, v in layers.items()},
                  "per_inference": dict(total), "digital_ops": digital,
                  "input_activity": {"source": "calibration" if measured and not fallback_layers
                                     else "partly calibration" if measured else "assumed",
                                     "samples": (measured or {}).get("samples", 0),
                                     "per_layer": used_activity},
                  "assumptions": _assumptions(t, measured, sorted(fallback_layers), opamp,
                                              FP32_ADD_J, FP32_MUL_J)}
        op.attributes["anncc.estimate"] = StringAttr(json.dumps(result, sort_keys=True))

    @staticmethod
    def _array_cost(f: Any, vectors: int, t: Any, act_layers: dict[str, list[float]],
                    fallback_layers: set[str], used_activity: dict[str, list[float]], opamp: bool
                    ) -> _ArrayCost:
        """What one array of parameters `f` (an `ArrayParams`) applied to `vectors` input vectors
        costs per inference, but for the energy of its cells (its levels'): the same for every
        array of a layer with its shape. The expressions are the per-array ones, in the same
        order, so the sums `apply` makes are those of a loop computing them per array."""
        planes = len(plane_weights(f.in_bits, f.in_signed, f.dac_bits))
        act = act_layers.get(f.layer)
        if act is None or len(act) != planes:
            act = [INPUT_BIT_ACTIVITY] * planes
            fallback_layers.add(f.layer)
        used_activity[f.layer] = [float(a) for a in act]
        reads = vectors * planes
        phys_cols = f.cols * f.n_slices * 2
        conversions = phys_cols * reads
        n_adc = t.adcs_per_array(f.array_cols)
        busiest = min(t.adc_columns_per_adc, phys_cols)
        t_conv = busiest * t.adc_latency_s
        return _ArrayCost(
            layer=f.layer, used_rows=f.rows + f.spare_rows, used_cols=f.ref_col + 1,
            g_min_s=f.g_min_s, g_span_s=f.g_max_s - f.g_min_s, top=(1 << f.bits_per_cell) - 1,
            v_read_v=f.v_read_v, vectors=vectors, activity=float(sum(act)), reads=reads,
            conversions=conversions, n_adc=n_adc, cells=f.array_rows * f.array_cols,
            used_cells=f.rows * phys_cols,
            e_dac=t.dac_energy_per_conversion_j * f.rows * reads,
            e_adc=t.adc_energy_per_conversion_j * conversions,
            e_sh=t.sample_hold_energy_j * conversions,
            e_dig=t.digital_add_energy_j * (conversions + f.cols * vectors),
            e_opamp=t.opamp_energy_per_read_j * conversions if opamp else 0.0,
            area_cells=f.array_rows * f.array_cols * t.cell_area_m2,
            area_adc=n_adc * t.adc_area_m2, area_sh=f.array_cols * t.sample_hold_area_m2,
            area_dac=f.array_rows * t.dac_area_m2,
            latency=array_latency_s(reads, t.t_read_s, t_conv))


def _assumptions(t: Any, measured: dict[str, Any] | None, fallback: list[str], opamp: bool,
                 fp32_add_j: float, fp32_mul_j: float) -> list[dict[str, Any]]:
    """Every assumption of the estimate: (assumption, value, source), the target's fields' own sources."""
    src = type(t).source_of
    rows = []
    if measured:
        rows.append(_assumption("input-bit activity a_t (mean squared DAC drive per input plane)",
                                "per layer and plane, see input_activity",
                                f"{measured.get('source', 'measured')}"))
    if fallback or not measured:
        which = "every layer" if not measured else ", ".join(fallback)
        rows.append(_assumption(f"input-bit activity without calibration data ({which})",
                                INPUT_BIT_ACTIVITY, "the mean of a uniformly random bit; " + NO_SOURCE))
    rows += [
        _assumption("columns per ADC (time-multiplexed through sample-and-hold)",
                    t.adc_columns_per_adc, src("adc_columns_per_adc")),
        _assumption("ADC energy per conversion (J)", t.adc_energy_per_conversion_j,
                    src("adc_fom_j_per_step")),
        _assumption("ADC conversions per second", t.adc_sample_rate_hz, src("adc_sample_rate_hz")),
        _assumption("ADC area (m²)", t.adc_area_m2, src("adc_area_m2")),
        _assumption("sample-and-hold energy per read (J)", t.sample_hold_energy_j,
                    src("sample_hold_energy_j")),
        _assumption("sample-and-hold area (m²)", t.sample_hold_area_m2, src("sample_hold_area_m2")),
        _assumption("DAC energy per conversion (J), on every used row every read, 0 or 1",
                    t.dac_energy_per_conversion_j, src("dac_unit_energy_j")),
        _assumption("DAC area (m²)", t.dac_area_m2, src("dac_area_m2")),
        _assumption("array read time (s)", t.t_read_s, src("t_read_s")),
        _assumption("cell area (m²)", t.cell_area_m2, src("cell_area_f2") + " " + src("feature_size_m")),
        _assumption("conversions of read n overlap read n+1", True,
                    f"ISAAC's pipelined crossbar read and sample-and-hold ({ISAAC_DOI})"),
        _assumption("arrays of a layer read in parallel; layers one after another", True, NO_SOURCE),
        _assumption("int32 add (shift-add, accumulate) energy (J)", t.digital_add_energy_j,
                    src("digital_add_energy_j")),
        _assumption("int32 multiply (requantize) energy (J)", t.digital_mult_energy_j,
                    src("digital_mult_energy_j")),
        _assumption("shift-add and requantize time", "hidden under the array reads", NO_SOURCE),
        _assumption("digital float ops: fp32 add / multiply energy (J)", [fp32_add_j, fp32_mul_j],
                    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
                    "ISSCC 2014, DOI 10.1109/ISSCC.2014.6757323 (45 nm)"),
        _assumption("digital float ops: operation counts",
                    "exp/tanh/erf/rsqrt = 5 multiplies + 5 adds; comparisons = adds; data movement free",
                    "anncc.passes.digital_ops; " + NO_SOURCE),
        _assumption("digital float ops: vector unit (lanes, clock Hz)", [DIGITAL_LANES, DIGITAL_CLOCK_HZ],
                    NO_SOURCE),
        _assumption("not counted", "buffers and interconnect (data movement), leakage, the digital "
                    "units' area" + (", op-amp area" if opamp else ""), "outside this estimate"),
    ]
    if opamp:
        rows.insert(-1, _assumption("op-amp summer power while reading (W), one per used column",
                                    t.opamp_power_w, src("opamp_power_w")))
    return rows
