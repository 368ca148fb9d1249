"""report.md, report.html and report.json from the summary (backends/report/summary.py)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from anncc.backends.report import figures
from anncc.backends.report.compensation import compensation_figure, compensation_lines
from anncc.backends.report.estimate import estimate_lines
from anncc.backends.report.irdrop import irdrop_lines
from anncc.backends.report.verification import verification_lines
from anncc.files import atomic_write_text


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1, "")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def network_order(per_layer: dict[str, Any], order: list[str]) -> list[tuple[str, Any]]:
    """`per_layer`'s items in network order (`order`, the layers as the IR holds them), not
    sorted as text (conv2d, conv2d.1, conv2d.10, conv2d.2); layers not in `order` come last."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(per_layer.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def _reference_note(red: dict[str, Any]) -> str:
    """The stuck-high reference-column cells among the harmful faults (insert-redundancy)."""
    ref_b = sum(v.get("reference_before", 0) for v in red.values())
    ref_a = sum(v.get("reference_after", 0) for v in red.values())
    if not ref_b:
        return ""
    return (f" (of which {ref_b} reference-column cells stuck high before, {ref_a} after: "
            "each lowers every column of its row)")


def markdown(summary: dict[str, Any], figs: dict[str, str]) -> str:
    lines = ["# anncc report", ""]
    t = summary.get("target")
    if t:
        f = t["fields"]
        used = summary.get("array_sizes") or sorted(
            {str(a["array"]) for a in summary.get("tiles") or [] if "array" in a},
            key=lambda a: [int(n) for n in a.split("x")])
        sizes = (", ".join(u.replace("x", "×") for u in used)
                 + f" (sized to IR drop; at most {f['array_rows']}×{f['array_cols']})"
                 if used else f"{f['array_rows']}×{f['array_cols']}")
        lines += [f"Target **{f['name']}** ({f['cell_kind']}), arrays {sizes}, "
                  f"{f['bits_per_cell']} bit/cell, DAC {f['dac_bits']} bit, ADC {f['adc_bits']} bit, "
                  f"V_read {f['v_read_v']} V.", ""]
    acc = summary.get("accuracy") or {}
    if acc:
        lines += ["## Accuracy", "", "| condition | mean | std | 95 % interval | trials |",
                  "|---|---|---|---|---|"]
        for k, v in acc.items():
            if isinstance(v, dict):
                ci = v.get("ci95")
                ci_s = f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci else ""
                lines.append(f"| {k} | {100 * v['mean']:.2f} % | {100 * v.get('std', 0):.2f} | "
                             f"{ci_s} | {v.get('trials', 1)} |")
            else:
                lines.append(f"| {k} | {100 * float(v):.2f} % | | | 1 |")
        lines.append("")
    est = summary.get("estimate")
    if est:
        tot = est["per_inference"]
        lines += ["## Cost per inference", "",
                  f"- energy: {_si(tot.get('energy_j', 0), 'J')} "
                  f"(cells {_si(tot.get('energy_cells_j', 0), 'J')}, "
                  f"DAC {_si(tot.get('energy_dac_j', 0), 'J')}, ADC {_si(tot.get('energy_adc_j', 0), 'J')}, "
                  f"digital {_si(tot.get('energy_digital_j', 0), 'J')})",
                  f"- latency: {_si(tot.get('latency_s', 0), 's')} (layers in sequence)",
                  f"- area: {tot.get('area_m2', 0) * 1e6:.4g} mm²",
                  f"- arrays: {int(tot.get('arrays', 0))}, cells: {int(tot.get('cells', 0))}, "
                  f"utilization {100 * tot.get('utilization', 0):.1f} %", "",
                  "| layer | arrays | reads | ADC conv. | energy | latency | area (mm²) |",
                  "|---|---|---|---|---|---|---|"]
        for name, L in network_order(est["per_layer"], summary.get("layer_order") or list(summary["layers"])):
            lines.append(f"| {name} | {int(L['arrays'])} | {int(L['reads'])} | {int(L['adc_conversions'])} | "
                         f"{_si(L['energy_j'], 'J')} | {_si(L['latency_s'], 's')} | "
                         f"{L['area_m2'] * 1e6:.4g} |")
        lines.append("")
        dig = est.get("digital_ops") or {}
        if dig.get("per_op"):
            lines += [f"Digital float ops (off the arrays, in the totals above): "
                      f"{_si(dig['total']['energy_j'], 'J')} per inference "
                      f"({int(dig['total']['multiplies'])} multiplies, {int(dig['total']['adds'])} adds; "
                      + ", ".join(f"{k.split('.', 1)[1]} {_si(v['energy_j'], 'J')}"
                                  for k, v in dig["per_op"].items()) + ").", ""]
    lines += estimate_lines(est)
    red = summary.get("redundancy")
    if red:
        before = sum(v["harmful_before"] for v in red.values())
        after = sum(v["harmful_after"] for v in red.values())
        faults = sum(v["faults"] for v in red.values())
        lines += ["## Faults and redundancy", "",
                  f"{faults} faulty cells in {len(red)} arrays; {before} of them change a stored "
                  f"level before remapping, {after} after remapping onto spares"
                  + _reference_note(red) + ".", ""]
    lines += irdrop_lines(summary.get("irdrop"))
    lines += verification_lines(summary.get("verification"))
    lines += compensation_lines(summary.get("compensation"), figs.pop("compensation", None))
    lines += ["## Layers", "", "| layer | arrays | weights | utilization |", "|---|---|---|---|"]
    for name, L in network_order(summary["layers"], summary.get("layer_order") or list(summary["layers"])):
        u = L.get("utilization")
        lines.append(f"| {name} | {L['arrays']} | {L['weights']} | "
                     f"{'' if u is None else f'{100 * u:.1f} %'} |")
    lines.append("")
    quant = summary.get("quantization")
    if quant:
        lines += ["## Quantization", "", "| layer | weight bits | input bits | input scale | "
                  "bias corrected |", "|---|---|---|---|---|"]
        for name, Q in quant.items():
            lines.append(f"| {name} | {Q['w_bits']} | {Q['in_bits']} "
                         f"{'signed' if Q['in_signed'] else 'unsigned'} | {Q['in_scale']:.4g} | "
                         f"{'yes' if Q['bias_corrected'] else 'no'} |")
        lines.append("")
    lines += bit_choice_lines(summary.get("bit_choice"))
    for title, rel in figs.items():
        lines += [f"![{title}]({rel})", ""]
    lines += ["## IR", "", "| level | ops |", "|---|---|"]
    for lv, counts in summary["ops"].items():
        listing = ", ".join(f"{k} {v}" for k, v in counts.items())
        lines.append(f"| {lv} | {sum(counts.values())} ({listing}) |")
    lines.append("")
    return "\n".join(lines)


def html_page(md_text: str) -> str:
    """A self-contained HTML page: the Markdown's tables and images rendered simply."""
    body = []
    in_table = False
    for line in md_text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}">')
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    if in_table:
        body.append("</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>anncc report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(summary: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write report.json, report.md, report.html and figures/ into `directory`."""
    figs: dict[str, str] = {}
    for title, fn, name in (("utilization", figures.utilization_figure, "utilization.png"),
                            ("energy", figures.energy_figure, "energy.png"),
                            ("accuracy", figures.accuracy_figure, "accuracy.png"),
                            ("compensation", compensation_figure, "compensation.png")):
        if fn(summary, directory / "figures" / name) is not None:
            figs[title] = f"figures/{name}"
    md_text = markdown(summary, figs)
    return {
        "json": atomic_write_text(directory / "report.json",
                                  json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n"),
        "md": atomic_write_text(directory / "report.md", md_text),
        "html": atomic_write_text(directory / "report.html", html_page(md_text)),
    }


def bit_choice_lines(choice: dict | None) -> list[str]:
    """The "Bit widths (auto)" section: widths chosen from measured sensitivity (anncc.bitalloc)."""
    if not choice:
        return []
    lines = ["## Bit widths (auto)", "",
             f"Chosen under a budget of {choice['budget_cells']} cells ({choice['uniform_cells']} at the "
             f"uniform width); output MSE on the calibration set {choice['output_mse']:.4g} "
             f"(uniform: {choice['uniform_output_mse']:.4g}).", "",
             "| layer | bits | cells | output MSE at 2 / 3 / 4 / 8 bits (this layer alone) |",
             "|---|---|---|---|"]
    for name, bits in choice["per_layer"].items():
        s = choice["sensitivity"].get(name, {})
        sens = " / ".join(f"{s[b]:.3g}" if b in s else "-" for b in ("2", "3", "4", "8"))
        lines.append(f"| {name} | {bits} | {choice['cells'][name]} | {sens} |")
    return lines + [""]
