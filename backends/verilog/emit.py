"""Write `build/rtl/`: Verilog from jinja2 templates, `mem/*.hex`, `synth.ys`, `tb/` (DESIGN.md 8, 9).

    from anncc.backends.verilog import emit_rtl
    emit_rtl(cm, Path("build/rtl"))                 # RTL, memories, synthesis script, testbench
    write_vectors(cm, x_float, Path("build/rtl"))   # test vectors from the runtime (golden model)

Register widths follow the contract's bounds (DESIGN.md section 4): per array, a
column reads back at most `min(2^adc_bits − 1, (c_max + 2^(s−1)) >> s) << s` with
`c_max = rows·(2^b − 1)` (a stuck-high fault cannot exceed the top level), the
slice shift-add of that is the plane sum's bound, the planes add at most
`(2^in_bits − 1)` times it, and row tiles add up; the requant product bound adds
`max|bias|` and multiplies by `max|M|`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from anncc.backends.verilog.plan import MatrixLayer, Plan, PoolLayer, bitlen_signed, build_plan
from anncc.errors import AnnccError

TOP = "anncc_top"
TEMPLATES = Path(__file__).parent / "templates"
TB_FILES = ("test_anncc.py", "run_tb.py")


def _clog2(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("anncc")
    except Exception:  # noqa: BLE001
        return "dev"


def _packed_hex(values: np.ndarray, width: int) -> str:
    """A Verilog literal of `values` packed LSB-first (element i at bits [i*width +: width])."""
    total = 0
    for i, v in enumerate(values.reshape(-1).tolist()):
        if not 0 <= v < (1 << width):
            raise AnnccError(f"verilog backend: map entry {v} does not fit {width} bits")
        total |= int(v) << (i * width)
    n = values.size * width
    return f"{n}'h{total:0{-(-n // 4)}x}"


def _write_hex(path: Path, values: np.ndarray, width: int) -> None:
    digits = -(-width // 4)
    mask = (1 << width) - 1
    lines = [f"{int(v) & mask:0{digits}x}" for v in values.reshape(-1).tolist()]
    _atomic_write(path, "\n".join(lines) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def tile_bounds(f: dict[str, Any]) -> int:
    """The largest |plane sum| one array's readout produces (contract bound, faults included)."""
    from anncc.ir.contract import adc_read, slice_weights

    b = f["bits_per_cell"]
    c_max = f["rows"] * ((1 << b) - 1) * ((1 << f["dac_bits"]) - 1)
    read_max = int(adc_read(c_max, f["adc_bits"], f["adc_shift"]))
    return sum(read_max * w for w in slice_weights(f["n_slices"], b))


def lane_width(t) -> int:
    """Bits per column lane of the behavioural macro: ADC_BITS when the ADC is lossless for this array."""
    import torch

    from anncc.runtime.cell_kernels import effective_levels

    f = t.fields
    eff = effective_levels(torch.as_tensor(t.levels), torch.as_tensor(t.faults), f["bits_per_cell"]).numpy()
    ref_eff = eff[:, f["ref_col"]].copy()  # the reference column after faults (sensed_levels)
    eff[:, f["ref_col"]] = 0
    col_max = int(eff.sum(0).max(initial=0))
    if f["adc_shift"] == 0 and col_max <= (1 << f["adc_bits"]) - 1 and not ref_eff.any():
        return f["adc_bits"]
    return max(1, col_max.bit_length())


def _inverse_rowmap(rowmap: np.ndarray, array_rows: int) -> np.ndarray:
    """Per physical row: 1 + the logical row it carries, 0 when no logical row drives it."""
    inv = np.zeros(array_rows, dtype=np.int64)
    for i, r in enumerate(rowmap.tolist()):
        inv[int(r)] = i + 1
    return inv


def ps_width(tile_bound: int, channel_bound: int, adc_bits: int) -> int:
    """Bits of a plane sum: one array's shift-added codes for one input plane (`tile_bound`)
    and their sum over the row tiles of a channel (`channel_bound`, the larger once a layer
    has several row tiles), and at least an ADC code with its sign."""
    top = max(tile_bound, channel_bound)
    return max(bitlen_signed(-top, top), adc_bits + 1)


def layer_params(layer: MatrixLayer, plan: Plan) -> dict[str, Any]:
    """Every number the engine template needs, widths from the contract's bounds."""
    from anncc.ir.contract import requant_product_bound

    src, dst = plan.buffers[layer.src], plan.buffers[layer.dst]
    if src.bits != layer.in_bits or src.signed != layer.in_signed:
        raise AnnccError(f"verilog backend: layer '{layer.name}' reads {src.bits}-bit values "
                         f"but its arrays take {layer.in_bits}-bit inputs")
    mem = f"mem/{layer.name}"
    tiles, channels = [], [[] for _ in range(layer.n)]
    ps_max, ch_bound = 0, [0] * layer.n
    for i, t in enumerate(layer.tiles):
        f = t.fields
        bound = tile_bounds(f)
        ps_max = max(ps_max, bound)
        c0 = f["layer_col_offset"]
        for j in range(f["cols"]):
            channels[c0 + j].append((i, j))
            ch_bound[c0 + j] += bound
        tiles.append(dict(
            name=t.name, rows=f["rows"], cols=f["cols"], row_offset=f["row_offset"], col_offset=c0,
            array_rows=f["array_rows"], array_cols=f["array_cols"], bits_per_cell=f["bits_per_cell"],
            n_slices=f["n_slices"], adc_bits=f["adc_bits"], adc_shift=f["adc_shift"], ref_col=f["ref_col"],
            levels_file=f"mem/{t.name}_levels.hex", faults_file=f"mem/{t.name}_faults.hex",
            lane_w=lane_width(t),
            inv_rowmap_hex=_packed_hex(_inverse_rowmap(t.rowmap, f["array_rows"]), 16),
            colmap_hex=_packed_hex(t.colmap, 16)))
    if any(not c for c in channels):
        raise AnnccError(f"verilog backend: layer '{layer.name}' has a channel no array computes")
    acc_bound = max(ch_bound) * ((1 << layer.in_bits) - 1)
    prod_bound = requant_product_bound(acc_bound, int(np.abs(layer.bias).max(initial=0)),
                                       int(np.abs(layer.mult).max(initial=0)), max(int(layer.shift.max()), 1))
    prod_w = max(bitlen_signed(-prod_bound, prod_bound) + 1,
                 bitlen_signed(min(layer.lo, -1), layer.hi) + 1, 34)
    if prod_w > 64:
        raise AnnccError(f"verilog backend: layer '{layer.name}' requant product needs {prod_w} bits (> 64)")
    if int(layer.shift.min()) < 0 or int(layer.shift.max()) > 63:
        raise AnnccError(f"verilog backend: layer '{layer.name}' has a requant shift outside [0, 63]")
    g_max = int(layer.gather.max(initial=0))
    return dict(
        module=f"anncc_eng_{layer.name}", layer=layer.name, p=layer.p, k=layer.k, n=layer.n,
        in_bits=layer.in_bits, in_signed=layer.in_signed, tb_w=_clog2(layer.in_bits),
        acc_w=max(bitlen_signed(-acc_bound, acc_bound), bitlen_signed(-ps_max, ps_max),
                  max(t["adc_bits"] for t in tiles) + 1), acc_bound=acc_bound,
        ps_w=ps_width(ps_max, max(ch_bound), max(t["adc_bits"] for t in tiles)), prod_w=prod_w,
        g_w=max(1, g_max.bit_length()), ga_w=_clog2(layer.p * layer.k), na_w=_clog2(layer.n),
        src_aw=_clog2(src.size), dst_aw=_clog2(dst.size), out_bits=layer.out_bits,
        zp=layer.zero_point, lo=layer.lo, hi=layer.hi, tiles=tiles, channels=channels,
        gather_file=f"{mem}_gather.hex", bias_file=f"{mem}_bias.hex", mult_file=f"{mem}_mult.hex",
        shift_file=f"{mem}_shift.hex")


def cycles_per_inference(plan: Plan) -> int:
    """Clock cycles from the first input beat to the last output beat, without stalls."""
    n_in = plan.buffers[plan.input_buffer].size
    total = n_in + 1
    for layer in plan.layers:
        if isinstance(layer, MatrixLayer):
            total += layer.p * (layer.k + layer.in_bits + 1 + layer.n) + 1
        else:
            total += layer.gather.shape[0] * layer.gather.shape[1] + 1
    return total + len(plan.output_gather)


def emit_rtl(cm, outdir: Path, plan: Plan | None = None) -> Path:
    """Write the RTL of a compiled model's cell level into `outdir` (usually build/rtl)."""
    plan = plan or build_plan(cm.ir("cell"), cm.store)
    outdir = Path(outdir)
    env = _env()
    ver = _version()
    mem = outdir / "mem"
    sources: list[str] = ["anncc_lib.v", "anncc_xbar_macro.v"]
    for name in ("anncc_lib", "anncc_xbar_macro"):
        _atomic_write(outdir / f"{name}.v", env.get_template(f"{name}.v.j2").render(version=ver))
    top_layers = []
    for layer in plan.layers:
        src, dst = plan.buffers[layer.src], plan.buffers[layer.dst]
        g_w = max(1, int(layer.gather.max(initial=0)).bit_length())
        _write_hex(mem / f"{layer.name}_gather.hex", layer.gather, g_w)
        if isinstance(layer, MatrixLayer):
            m = layer_params(layer, plan)
            for t in layer.tiles:
                _write_hex(mem / f"{t.name}_levels.hex", t.levels, 8)
                _write_hex(mem / f"{t.name}_faults.hex", t.faults, 8)
            _write_hex(mem / f"{layer.name}_bias.hex", layer.bias, 32)
            _write_hex(mem / f"{layer.name}_mult.hex", layer.mult, 32)
            _write_hex(mem / f"{layer.name}_shift.hex", layer.shift, 8)
            fname = f"{m['module']}.v"
            _atomic_write(outdir / fname, env.get_template("engine.v.j2").render(m=m, version=ver))
            sources.append(fname)
            top_layers.append(dict(module=m["module"], params="", layer=layer.name, layer_v=layer.name,
                                   src=layer.src, dst=layer.dst))
        else:
            assert isinstance(layer, PoolLayer)
            o, w = layer.gather.shape
            params = (f"#(.O({o}), .W({w}), .DW({layer.bits}), .SIGNED({int(layer.signed)}), "
                      f".SRC_AW({_clog2(src.size)}), .DST_AW({_clog2(dst.size)}), .G_W({g_w}), "
                      f".GA_W({_clog2(o * w)}), .GATHER_FILE(\"mem/{layer.name}_gather.hex\"))")
            top_layers.append(dict(module="anncc_maxpool", params=params, layer=layer.name,
                                   layer_v=layer.name, src=layer.src, dst=layer.dst))
    ib, ob = plan.buffers[plan.input_buffer], plan.buffers[plan.output_buffer]
    og_w = max(1, int(plan.output_gather.max()).bit_length())
    _write_hex(mem / "output_gather.hex", plan.output_gather, og_w)
    bufs = [dict(name=b.name, size=b.size, bits=b.bits, aw=_clog2(b.size)) for b in plan.buffers.values()]
    top = env.get_template("top.v.j2").render(
        version=ver, top=TOP, n_in=ib.size, in_bits=ib.bits, in_signed=ib.signed,
        n_out=len(plan.output_gather),
        out_bits=ob.bits, out_signed=ob.signed, st_w=_clog2(len(plan.layers) + 2), layers=top_layers,
        buffers=bufs, input_buffer=ib.name, input_aw=_clog2(ib.size), output_buffer=ob.name,
        output_aw=_clog2(ob.size), og_w=og_w, oa_w=_clog2(len(plan.output_gather)),
        out_gather_file="mem/output_gather.hex")
    _atomic_write(outdir / f"{TOP}.v", top)
    sources.append(f"{TOP}.v")
    _atomic_write(outdir / "sources.f", "\n".join(sources) + "\n")
    _atomic_write(outdir / "synth.ys", env.get_template("synth.ys.j2").render(
        version=ver, sources=sources, top=TOP))
    manifest = dict(
        top=TOP, sources=sources, cycles_per_inference=cycles_per_inference(plan),
        input=dict(buffer=ib.name, n=ib.size, bits=ib.bits, signed=ib.signed),
        output=dict(buffer=ob.name, n=len(plan.output_gather), bits=ob.bits, signed=ob.signed),
        buffers=[dict(name=b.name, size=b.size, bits=b.bits, signed=b.signed) for b in plan.buffers.values()],
        layers=[dict(name=layer.name, kind=layer.kind, src=layer.src, dst=layer.dst)
                for layer in plan.layers])
    _atomic_write(outdir / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tb = outdir / "tb"
    tb.mkdir(parents=True, exist_ok=True)
    for name in TB_FILES:
        shutil.copyfile(TEMPLATES / name, tb / name)
    return outdir


def golden_values(cm, x: Any, plan: Plan | None = None) -> dict[str, np.ndarray]:
    """Integer input, every buffer and the output per vector, from the runtime's ideal cell level."""
    import torch

    from anncc.runtime.interpreter import ExecContext, run_module

    plan = plan or build_plan(cm.ir("cell"), cm.store)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    env: dict[Any, Any] = {}
    run_module(cm.ir("cell"), cm.store, [xt], ExecContext(store=cm.store), values=env)
    out: dict[str, np.ndarray] = {}
    n = xt.shape[0]
    for b in plan.buffers.values():
        out[f"buf_{b.name}"] = env[b.value].reshape(n, -1).numpy().astype(np.int64)
    out["x"] = out[f"buf_{plan.input_buffer}"]
    out["y"] = out[f"buf_{plan.output_buffer}"][:, plan.output_gather - 1]
    return out


def write_vectors(cm, x: Any, outdir: Path, plan: Plan | None = None) -> Path:
    """Save test vectors (`tb/vectors.npz`) for the cocotb testbench from the runtime."""
    vals = golden_values(cm, x, plan)
    path = Path(outdir) / "tb" / "vectors.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("vectors.tmp.npz")
    np.savez(tmp, **vals)
    tmp.replace(path)
    return path
