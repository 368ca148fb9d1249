"""What the report says about a compiled model, as plain data (report.json).

Reads the IR only (emission never mutates it): the tiles and arrays of each
layer, utilization, the `estimate` pass's energy/latency/area, the redundancy
pass's fault counts, the target's parameters, and any accuracy figures the
caller measured.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from anncc.ir._xdsl import ModuleOp
from anncc.runtime.model import module_json_attr

#: report.json lists every array (`tiles`) for models of at most this many arrays.
TILE_ROWS = 4096


def tile_table(module: ModuleOp) -> list[dict[str, Any]]:
    """One row per array: layer, tile, logical size, physical size, utilization, ADC."""
    from anncc.ir.cell import MvmOp as CellMvm
    from anncc.ir.xbar import MvmOp as XbarMvm

    rows = []
    for op in module.walk():
        if isinstance(op, CellMvm):
            f = op.params()
            used = f.rows * f.cols * f.n_slices * 2
            rows.append({"layer": f.layer, "tile": f.tile, "rows": f.rows,
                         "cols": f.cols, "array": f"{f.array_rows}x{f.array_cols}",
                         "utilization": used / (f.array_rows * f.array_cols),
                         "n_slices": f.n_slices, "adc_bits": f.adc_bits,
                         "adc_shift": f.adc_shift, "spare_rows": f.spare_rows,
                         "spare_cols": f.spare_cols, "g_max_s": f.g_max_s})
        elif isinstance(op, XbarMvm):
            r0, c0, r, c = op.bounds()
            rows.append({"layer": op.layer.data, "tile": op.tile.data, "rows": r,
                         "cols": c, "row_offset": r0, "col_offset": c0})
    return rows


def layer_table(tiles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"arrays": 0, "weights": 0})
    for t in tiles:
        L = out[t["layer"]]
        L["arrays"] += 1
        L["weights"] += t["rows"] * t["cols"]
        if "utilization" in t:
            L.setdefault("utilization_sum", 0.0)
            L["utilization_sum"] += t["utilization"]
    for L in out.values():
        if "utilization_sum" in L:
            L["utilization"] = L.pop("utilization_sum") / L["arrays"]
    return dict(out)


def quant_table(model) -> dict[str, dict[str, Any]]:
    """Per analog layer, what `quantize` chose: weight and activation bits, scales, bias correction."""
    from anncc.ir.ann import quant_of
    from anncc.passes.quantize import analog_layers

    if "ann" not in model.levels:
        return {}
    rows: dict[str, dict[str, Any]] = {}
    for _, name, op in analog_layers(model.ir("ann")):
        q = quant_of(op)
        if q is None:
            continue
        wscale = model.store.get(q.wscale) if q.wscale in model.store else None
        rows[name] = {"w_bits": q.w_bits, "in_bits": q.in_bits, "in_signed": bool(q.in_signed),
                      "in_scale": q.in_scale, "out_scale": q.out_scale,
                      "w_scale_max": None if wscale is None else float(max(wscale)),
                      "bias_corrected": f"{name}.bias.corrected" in model.store}
    return rows


def summarize(model, accuracy: dict[str, Any] | None = None,
              timings: dict[str, float] | None = None) -> dict[str, Any]:
    """The report's data: JSON-ready, deterministic for the same model and inputs."""
    final = model.ir(model.final_level)
    tiles = tile_table(final)
    target = model.target()
    layers = layer_table(tiles)
    summary: dict[str, Any] = {
        "levels": list(model.levels),
        "ops": {lv: _op_counts(m) for lv, m in model.levels.items()},
        "layers": layers,
        "layer_order": list(layers),  # network order (report.json sorts the keys of "layers")
        # one row per array up to TILE_ROWS arrays (a ResNet on small arrays has 10^5:
        # 20-70 MB of rows nobody reads); the layer table above counts every array
        "tiles": tiles if len(tiles) <= TILE_ROWS else [],
        "tiles_total": len(tiles),
        "array_sizes": sorted({t["array"] for t in tiles if "array" in t},
                              key=lambda a: [int(n) for n in a.split("x")]),
        "estimate": module_json_attr(final, "anncc.estimate"),
        "redundancy": module_json_attr(final, "anncc.redundancy"),
        "e96_error": module_json_attr(final, "anncc.e96_error"),
        "irdrop": module_json_attr(final, "anncc.irdrop"),  # allocate-resistance: every layer
        "target": target.describe() if target is not None else None,
        "accuracy": accuracy or {},
        "quantization": quant_table(model),
        "bit_choice": module_json_attr(final, "anncc.bit_choice"),  # anncc.bitalloc (--w-bits-auto)
    }
    if timings is None:  # the compiled model's own stage times (export, import, each pass, ...)
        timings = getattr(model, "timings", None)
    if timings:
        summary["compile_time_s"] = {k: round(v, 3) for k, v in timings.items()}
        summary["compile_time_total_s"] = round(sum(timings.values()), 3)
    return summary


def _op_counts(module: ModuleOp) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for op in module.walk():
        if op.name.split(".")[0] in ("ann", "xbar", "cell"):
            counts[op.name] += 1
    return dict(sorted(counts.items()))
