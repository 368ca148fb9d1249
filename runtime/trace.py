"""Per-layer trace: where do the float, integer and device levels part? (hls4ml's `trace()`)

    rows = compare_levels(model, x)                  # ideal devices
    rows = compare_levels(model, x, analog=True, seed=0, ir_drop=True)
    print(format_trace(rows))

Every analog layer (linear or convolution, with its fused ReLU) is one row:
its output at the `ann` level (float), at the `xbar` level (integers of the
layer's requantization, times its output scale) and at the `cell` level
(the same, through the arrays), with relative errors `‖a − b‖₂ / ‖b‖₂`; a
last row compares the model outputs. Layers align by order: `tile` lowers the
k-th linear/conv of the `ann` function into the k-th `xbar.requant`, whose
result it names `<layer>_q`; a convolution's result is taken after the
permute/reshape back to `[B, C, H, W]`.

Each row also lists its arrays (`cell.mvm` tiles `<layer>.r<i>c<j>`) with the
first-order IR-drop figures of their nominal conductances, α = R_wire·Ḡ·N²,
β = R_contact·Ḡ·N and the expected column-current error α/2 + 2β (DESIGN.md
section 7, `anncc.runtime.irdrop.alpha_beta`); one `IRDropWarning` names the
arrays above `warn_threshold` (1 %).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from anncc.ir.ann import ConvOp, LinearOp, PermuteOp, Relu6Op, ReluOp, ReshapeOp
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.xbar import RequantOp
from anncc.runtime.interpreter import ExecContext, entry_function, run_module


def _run_values(model, level: str, x: torch.Tensor, analog: bool, seed: int,
                options: dict[str, Any]) -> tuple[dict[Any, torch.Tensor], list[torch.Tensor]]:
    ctx = ExecContext(store=model.store, analog=analog, seed=seed, options=dict(options))
    if analog:
        ctx.options.setdefault("target", model.target())
    values: dict[Any, torch.Tensor] = {}
    with torch.no_grad():
        outs, _ = run_module(model.ir(level), model.store, [x], ctx, values=values)
    return values, outs


def _single_user(value):
    uses = list(value.uses)
    return uses[0].operation if len(uses) == 1 else None


def _ann_layers(module) -> list[tuple[str, str, Any]]:
    """(layer name, op description, compared value) per linear/conv, in order."""
    out = []
    for op in entry_function(module).body.block.ops:
        if isinstance(op, (LinearOp, ConvOp)):
            name = op.results[0].name_hint or f"layer{len(out)}"
            user = _single_user(op.results[0])
            kind = "linear" if isinstance(op, LinearOp) else "conv"
            if isinstance(user, (ReluOp, Relu6Op)):
                out.append((name, f"{kind}+{user.name.split('.')[-1]}", user.results[0]))
            else:
                out.append((name, kind, op.results[0]))
    return out


def _requant_outputs(module) -> list[tuple[str, Any, float, int]]:
    """(tile-pass layer name, integer value in the layer's shape, scale, zero point) per layer."""
    out = []
    for op in entry_function(module).body.block.ops:
        if isinstance(op, RequantOp):
            value = op.results[0]
            user = _single_user(value)
            if isinstance(user, PermuteOp):  # a convolution: [B, L, N] -> [B, N, H, W]
                nxt = _single_user(user.results[0])
                value = nxt.results[0] if isinstance(nxt, ReshapeOp) else user.results[0]
            out.append((op.layer.data, value, op.out_scale.value.data, op.zero_point.value.data))
    return out


def relative_error(a: torch.Tensor | None, b: torch.Tensor | None) -> float | None:
    """‖a − b‖₂ / ‖b‖₂ (None when either is missing; 0 when both are zero)."""
    if a is None or b is None:
        return None
    a64, b64 = a.double(), b.double()
    den = float(b64.norm())
    num = float((a64 - b64).norm())
    return num / den if den > 0 else (0.0 if num == 0 else float("inf"))


def array_figures(model, warn_threshold: float = 0.01) -> dict[str, list[dict[str, Any]]]:
    """α, β and α/2 + 2β of every array's nominal conductances, by layer; warns above threshold."""
    from anncc.runtime.analog import IDEAL_OPTIONS, array_target, operand_tensor, program_tile
    from anncc.runtime.irdrop import IRDropWarning, MeshParams, alpha_beta

    if "cell" not in model.levels:
        return {}
    target = model.target()
    ctx = ExecContext(store=model.store)
    by_layer: dict[str, list[dict[str, Any]]] = {}
    above = []
    for op in model.ir("cell").walk():
        if not isinstance(op, CellMvmOp):
            continue
        f = op.params()
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        prog = program_tile(op, operand_tensor(op.levels, ctx), operand_tensor(op.faults, ctx),
                            target, 0, IDEAL_OPTIONS)
        fig = alpha_beta(prog.g_nominal_s.numpy(), MeshParams(tgt.r_wire_ohm, tgt.r_contact_ohm))
        tile = f.tile
        layer = f.layer
        row = {"tile": tile, "alpha": fig.alpha, "beta": fig.beta,
               "expected_error": fig.expected_error}
        by_layer.setdefault(layer, []).append(row)
        if fig.expected_error > warn_threshold:
            above.append(row)
    if above:
        worst = max(above, key=lambda r: r["expected_error"])
        warnings.warn(
            f"IR drop: {len(above)} of {sum(map(len, by_layer.values()))} arrays are expected to "
            f"lose more than {100 * warn_threshold:g} % of column current (alpha/2 + 2 beta); "
            f"worst {worst['tile']}: {100 * worst['expected_error']:.1f} % "
            f"(alpha={worst['alpha']:.3g}, beta={worst['beta']:.3g}); analog runs simulate it "
            "(ir_drop is on by default); the exact per-layer figures are the build's "
            "anncc.irdrop (report: IR drop)", IRDropWarning, stacklevel=3)
    return by_layer


def compare_levels(model, x: Any, analog: bool = False, seed: int = 0,
                   warn_threshold: float = 0.01, **options: Any) -> list[dict[str, Any]]:
    """One row per analog layer (and one for the outputs): values and errors at every level.

    Row keys: `layer`, `op`, `shape`, `xbar_vs_ann`, `cell_vs_ann`, `cell_vs_xbar`
    (relative errors, None for a missing level), `arrays` (their α/β figures),
    `max_expected_irdrop`, and `values` ({level: float tensor}).
    """
    from anncc.runtime.model import as_tensor

    xt = as_tensor(x)
    levels = [lv for lv in ("ann", "xbar", "cell") if lv in model.levels]
    runs = {lv: _run_values(model, lv, xt, analog and lv == "cell", seed, options) for lv in levels}
    per_level: dict[str, list[tuple[str, torch.Tensor]]] = {}
    for lv in levels:
        values, _ = runs[lv]
        if lv == "ann":
            per_level[lv] = [(n, values[v].float()) for n, _, v in _ann_layers(model.ir(lv))]
        else:
            per_level[lv] = [(n, ((values[v].double() - zp) * s).float())
                             for n, v, s, zp in _requant_outputs(model.ir(lv))]
    figures = array_figures(model, warn_threshold)
    ann_layers = _ann_layers(model.ir("ann")) if "ann" in model.levels else []
    n_layers = max((len(v) for v in per_level.values()), default=0)
    rows = []
    for k in range(n_layers):
        vals = {lv: per_level[lv][k][1] for lv in levels if k < len(per_level[lv])}
        lower = next((per_level[lv][k][0] for lv in ("cell", "xbar")
                      if lv in per_level and k < len(per_level[lv])), None)
        # The tile pass's names are unique ("conv2d", "conv2d.1"); name hints may repeat.
        name = lower or (ann_layers[k][0] if k < len(ann_layers) else f"layer{k}")
        op = ann_layers[k][1] if k < len(ann_layers) else ""
        rows.append(_row(name, op, vals, figures.get(lower or name, [])))
    outs = {lv: runs[lv][1][0].float() for lv in levels}
    rows.append(_row("output", "return", outs, []))
    return rows


def _row(name: str, op: str, vals: dict[str, torch.Tensor], arrays: list[dict[str, Any]]
         ) -> dict[str, Any]:
    ref = vals.get("ann")
    shape = next(iter(vals.values())).shape if vals else ()
    return {
        "layer": name, "op": op, "shape": list(shape)[1:],
        "xbar_vs_ann": relative_error(vals.get("xbar"), ref),
        "cell_vs_ann": relative_error(vals.get("cell"), ref),
        "cell_vs_xbar": relative_error(vals.get("cell"), vals.get("xbar")),
        "arrays": arrays,
        "max_expected_irdrop": max((a["expected_error"] for a in arrays), default=None),
        "values": vals,
    }


def format_trace(rows: list[dict[str, Any]]) -> str:
    """A readable table of `compare_levels` rows (errors in %)."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.3g} %"

    table = [("layer", "op", "shape", "xbar vs ann", "cell vs ann", "cell vs xbar", "arrays",
              "max α/2+2β")]
    for r in rows:
        table.append((r["layer"], r["op"], "x".join(map(str, r["shape"])), pct(r["xbar_vs_ann"]),
                      pct(r["cell_vs_ann"]), pct(r["cell_vs_xbar"]), str(len(r["arrays"])),
                      pct(r["max_expected_irdrop"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for k, row in enumerate(table):
        lines.append("  ".join(v.ljust(w) if i < 3 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_trace(rows: list[dict[str, Any]]) -> None:
    """Print `format_trace(rows)`."""
    print(format_trace(rows))


__all__ = ["array_figures", "compare_levels", "format_trace", "print_trace", "relative_error"]

