"""The `cmos` target's network as ONE ngspice netlist, end to end (a chain of linear layers: an MLP).

    net = build_cmos_network(cm, seed=0)
    deck = cmos_deck(net, x_int)                 # x_int: [B, in] integer inputs of the first layer
    result = simulate_cmos(net, x_int)           # classes, outputs, power per input vector

The circuit, per layer (`xbar.requant` fed by `xbar.accumulate`/`xbar.concat` of `cell.mvm`s),
read the way the runtime's cmos model reads it (runtime/analog.py), so both simulate one circuit:

- inputs are read plane by plane: the DAC planes of the integer inputs (`contract.input_planes`,
  digits d at d · v_read / (2^dac_bits − 1) volts; bit-serial for the cmos target) drive one
  read each. The first layer's plane DACs are piecewise-linear tables of a swept index (one
  point per input vector); later layers' are the digits of the previous layer's codes
  (`contract.input_plane_expr`). A DC sweep has no time, so each plane read is one instance of
  the array's `.subckt` (the same parts, offsets and summers: one physical array read P times);
- the resistor arrays are the programmed chip of `seed` (E96 parts with their tolerance, the
  runtime's own draw, `arrays.collect_arrays`), each cell a resistor from its row's input node to
  its column's summing node; level-0 sites are open (the reference column is empty);
- one inverting summer per array column (output, slice, polarity): `ANNCC_OPAMP` (behavioural:
  DC gain A0, input offset, output rails, one pole at GBW) with the target's feedback resistor
  R_f; its input offset is the runtime's draw for that column (`devices.draw_opamp_offsets_v`,
  same generator), amplified by the summer's noise gain as in the runtime;
- an ADC per column and plane: the count −v_out / (R_f·ΔG·V_dac) through `contract.adc_read_expr`
  (the runtime's `contract.adc_read`: nearest code, halves up, clipped to [0, 2^adc_bits − 1]);
- the digital shift-add and requantizer per output: codes weighted by `contract.plane_weights`,
  `contract.slice_weights` and ∓1, summed over the layer's row tiles (`xbar.accumulate`), then
  `contract.requantize_expr` (bias, M/2^S, zero point, clamp [lo, hi]: a ReLU when lo = zero
  point), whose code the next layer's plane DACs read;
- output sensing: the last layer's codes, at 1/64 V per code; the class is the argmax.

What it does not share with the runtime: the op-amp's finite gain A0 (the runtime's summer is
ideal apart from offset and rails). Its gain error, about noise gain / A0, moves a count that
lies within ~0.03 of an ADC threshold to the other code; on the digits MLP that changes a few
output codes by 1-2 (none with A0 = 1e9), not the classes.
Power: per layer, the mean over its plane reads of the power the simulation computes (DAC
sources into the arrays, and each summer's output into its feedback resistor), the layers
added; plus the target's quiescent op-amp power (`opamp_power_w`, a model figure, not simulated).

Op-amp defaults: A0 = 1e5 (100 dB, a general-purpose CMOS op-amp), GBW = 10 MHz (the target's
t_read_s rationale); rails and offsets from the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from anncc.backends.spice.arrays import SpiceArray, collect_arrays
from anncc.backends.spice.netlist import devices_lib, num
from anncc.errors import AnnccError
from anncc.ir.contract import (
    adc_read_expr,
    input_plane_expr,
    input_planes,
    plane_weights,
    requantize_expr,
    slice_weights,
)

__all__ = ["CmosLayer", "CmosNetwork", "build_cmos_network", "cmos_deck", "run_cmos_end_to_end",
           "simulate_cmos"]

OPAMP_A0 = 1e5
OPAMP_GBW_HZ = 10e6
OPAMP_ROUT_OHM = 10.0


@dataclass
class CmosLayer:
    """One linear layer: its arrays and requantization (per output: bias, M, S)."""

    name: str
    arrays: list[SpiceArray]
    n_in: int
    n_out: int
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    zero_point: int
    lo: int
    hi: int
    in_bits: int
    offsets_v: dict[tuple[str, int, int, int], float] = field(default_factory=dict)


@dataclass
class CmosNetwork:
    layers: list[CmosLayer]
    target: Any
    seed: int

    @property
    def n_opamps(self) -> int:
        return sum(a.params.cols * 2 * a.params.n_slices for layer in self.layers for a in layer.arrays)


def _const(value: Any, ctx: Any) -> np.ndarray:
    from anncc.runtime.analog import operand_tensor

    return operand_tensor(value, ctx).to(torch.int64).numpy()


def _mvms_of(value: Any) -> list[Any]:
    from anncc.ir.cell import MvmOp

    owner = value.owner
    if isinstance(owner, MvmOp):
        return [owner]
    out = []
    for operand in getattr(owner, "operands", ()):
        if owner.name in ("xbar.accumulate", "xbar.concat"):
            out += _mvms_of(operand)
    if not out:
        raise AnnccError(f"the cmos end-to-end netlist cannot map '{owner.name}'",
                         hint="supported: chains of linear layers (an MLP)")
    return out


def build_cmos_network(model: Any, seed: int = 0) -> CmosNetwork:
    """The layers of a cmos-compiled MLP with the devices and op-amp offsets of chip `seed`."""
    from anncc.ir.xbar import RequantOp
    from anncc.runtime.analog import _generator
    from anncc.runtime.devices import draw_opamp_offsets_v
    from anncc.runtime.interpreter import ExecContext

    target = model.target()
    if getattr(target, "cell_kind", "") != "resistor":
        raise AnnccError(f"the end-to-end netlist is for the cmos target, not '{target.name}'")
    ctx = ExecContext(store=model.store)
    layers: list[CmosLayer] = []
    prev = None
    for rq in (op for op in model.ir("cell").walk() if isinstance(op, RequantOp)):
        mvms = _mvms_of(rq.input)
        tiles = [m.params().tile for m in mvms]
        for m in mvms:
            src = m.input.owner
            if prev is not None and m.input is not prev.result:
                raise AnnccError("the cmos end-to-end netlist needs each layer to read the previous "
                                 f"layer's output ('{m.params().tile}' reads '{src.name}')")
        arrays = collect_arrays(model, seed=seed, names=tiles)
        f0 = arrays[0].params
        n_out = max(a.params.col_offset + a.params.cols for a in arrays)
        n_in = max(a.params.row_offset + a.params.rows for a in arrays)
        props = rq.properties
        layer = CmosLayer(
            name=arrays[0].layer, arrays=arrays, n_in=n_in, n_out=n_out,
            bias=_const(rq.bias, ctx), multiplier=_const(rq.multiplier, ctx), shift=_const(rq.shift, ctx),
            zero_point=int(props["zero_point"].value.data), lo=int(props["lo"].value.data),
            hi=int(props["hi"].value.data), in_bits=int(f0.in_bits))
        opts = arrays[0].model.options
        for a in arrays:  # one summer per (array, output, slice, polarity), as the runtime reads
            f = a.params
            if not opts.opamp_offset or target.opamp_offset_sigma_v <= 0:
                continue
            v_os = draw_opamp_offsets_v([f.array_cols], a.target,
                                        _generator(seed, f.tile, "opamp")).numpy()
            for j in range(f.cols):
                for k in range(f.n_slices):
                    for p in range(2):
                        layer.offsets_v[(a.name, f.col_offset + j, k, p)] = float(
                            v_os[a.colmap[j, k, p]])
        layers.append(layer)
        prev = rq
    if not layers:
        raise AnnccError("no requantized linear layers found for the cmos netlist")
    return CmosNetwork(layers, target, seed)


def _v_dac(a: SpiceArray) -> float:
    """Volts per DAC digit of array `a`: v_read / (2^dac_bits − 1)."""
    return float(a.target.v_read_v) / ((1 << a.params.dac_bits) - 1)


def _count_volts(a: SpiceArray) -> float:
    """Summer output volts per ADC count of `a`: R_f · ΔG · V_dac (the count is −v_out / this)."""
    return float(a.target.r_feedback_ohm) * float(a.target.delta_g_s) * _v_dac(a)


def _planes(layer: CmosLayer) -> int:
    f = layer.arrays[0].params
    return len(plane_weights(int(f.in_bits), bool(f.in_signed), int(f.dac_bits)))


def _summers(a: SpiceArray) -> list[tuple[int, int, str]]:
    f = a.params
    return [(n, k, pol) for n in range(f.col_offset, f.col_offset + f.cols)
            for k in range(f.n_slices) for pol in "pm"]


def _array_subckt(a: SpiceArray, layer: CmosLayer) -> list[str]:
    """One physical array: its resistors, and a summer (op-amp + R_f) per sensed column."""
    f, t = a.params, a.target
    g = a.mesh.g_s
    ref = a.ref_col
    if np.any(g[a.rowmap, ref] > 0):
        raise AnnccError(f"the cmos netlist assumes an empty reference column (array '{a.tile}')")
    rows = [f"r{i}" for i in range(len(a.rowmap))]
    ports = [f"s_{n}_{k}{pol} o_{n}_{k}{pol}" for n, k, pol in _summers(a)]
    out = [f"* array {a.tile}: {len(a.rowmap)} rows (inputs {f.row_offset}..), outputs "
           f"{f.col_offset}..{f.col_offset + f.cols - 1}; ports: rows, then (summing node, output) "
           "per output, slice, polarity",
           f".subckt ARR_{a.name} {' '.join(rows)} {' '.join(ports)}"]
    for n, k, pol in _summers(a):
        col = int(a.colmap[n - f.col_offset, k, "pm".index(pol)])
        for i, r in enumerate(a.rowmap.tolist()):
            if g[r, col] > 0:
                out.append(f"R{r}_{col} r{i} s_{n}_{k}{pol} {num(1.0 / g[r, col])}")
    for n, k, pol in _summers(a):
        vos = layer.offsets_v.get((a.name, n, k, "pm".index(pol)), 0.0)
        out.append(f"XU_{n}_{k}{pol} 0 s_{n}_{k}{pol} o_{n}_{k}{pol} ANNCC_OPAMP params: "
                   f"A0={num(OPAMP_A0)} GBW={num(OPAMP_GBW_HZ)} VOS={num(vos)} "
                   f"VLO={num(t.opamp_rail_low_v)} VHI={num(t.opamp_rail_high_v)} ROUT={num(OPAMP_ROUT_OHM)}")
        out.append(f"Rf_{n}_{k}{pol} s_{n}_{k}{pol} o_{n}_{k}{pol} {num(t.r_feedback_ohm)}")
    out.append(f".ends ARR_{a.name}")
    return out


def cmos_deck(net: CmosNetwork, x_int: np.ndarray, control: bool = False) -> str:
    """The whole network as one deck: DAC tables over the swept index Vidx.

    Each layer is read as the runtime reads it: every DAC plane of the inputs
    (`contract.input_planes`) is one read of the same array (one instance of its
    `.subckt` per plane), every sensed column's count is digitized by a
    behavioural ADC (`contract.adc_read_expr`), and the codes are shift-added
    over planes, slices and polarities (`contract.plane_weights`, `slice_weights`)
    and over the layer's row tiles, then requantized (`contract.requantize_expr`).
    control: add a .control block that sweeps the vectors and writes the outputs
    (volts; divide by 1/64 V per unit) to out/cmos_network.csv (`ngspice -b` by hand).
    """
    t = net.target
    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    n_vec = x.shape[0]
    lines = [f"* anncc cmos network, end to end: {len(net.layers)} layer(s), chip seed {net.seed}, "
             f"{n_vec} input vector(s)",
             "* every resistor is the runtime's programmed part (E96 + tolerance); summers are "
             "ANNCC_OPAMP; inputs are read plane by plane (one array instance per DAC plane), each "
             "column's count digitized per plane, as the runtime reads",
             devices_lib(t), "Vidx idx 0 DC 0"]
    for layer in net.layers:
        f = layer.arrays[0].params
        if f.in_signed or any(a.params.dac_bits != f.dac_bits or a.params.in_bits != f.in_bits
                              for a in layer.arrays):
            raise AnnccError(f"the cmos netlist needs unsigned inputs and one DAC per layer ('{layer.name}')")
    first = net.layers[0]
    f0 = first.arrays[0].params
    v0 = _v_dac(first.arrays[0])
    idx = list(range(n_vec)) if n_vec > 1 else [0, 1]
    xs = x if n_vec > 1 else np.vstack([x, x])
    planes, _ = input_planes(xs, int(f0.in_bits), False, int(f0.dac_bits))
    for i in range(first.n_in):
        lines.append(f"* input {i}: DAC, {num(v0)} V per digit, one source per plane")
        for p in range(planes.shape[0]):
            pts = ", ".join(f"{k}, {num(planes[p, r, i] * v0)}" for r, k in enumerate(idx))
            lines.append(f"Bdac{i}p{p} l0_in{i}_p{p} 0 V = pwl(v(idx), {pts})")
    for li, layer in enumerate(net.layers):
        f = layer.arrays[0].params
        pw = plane_weights(int(f.in_bits), False, int(f.dac_bits))
        sw = slice_weights(int(f.n_slices), int(f.bits_per_cell))
        lines.append(f"* ---- layer {li} ({layer.name}): {layer.n_in} inputs -> {layer.n_out} outputs, "
                     f"{len(pw)} DAC planes, arrays {', '.join(a.tile for a in layer.arrays)}")
        for a in layer.arrays:
            fa = a.params
            lines += _array_subckt(a, layer)
            for p in range(len(pw)):
                rows = " ".join(f"l{li}_in{fa.row_offset + i}_p{p}" for i in range(len(a.rowmap)))
                ports = " ".join(f"s_{a.name}_{n}_{k}{pol}_p{p} o_{a.name}_{n}_{k}{pol}_p{p}"
                                 for n, k, pol in _summers(a))
                lines.append(f"X{a.name}_p{p} {rows} {ports} ARR_{a.name}")
            cv = _count_volts(a)
            lines.append(f"* ADCs of {a.tile}: count = -v(out) / {num(cv)} V, {fa.adc_bits} bits, "
                         f"shift {fa.adc_shift}, one conversion per column and plane")
            for p in range(len(pw)):
                for n, k, pol in _summers(a):
                    node = f"{a.name}_{n}_{k}{pol}_p{p}"
                    lines.append(f"Badc_{node} c_{node} 0 V = "
                                 f"{adc_read_expr(f'-v(o_{node})/{num(cv)}', fa.adc_bits, fa.adc_shift)}")
        last = li == len(net.layers) - 1
        for n in range(layer.n_out):
            acc = " + ".join(
                f"{float(pw[p] * sw[k])!r}*(v(c_{a.name}_{n}_{k}p_p{p}) - v(c_{a.name}_{n}_{k}m_p{p}))"
                for a in layer.arrays if a.params.col_offset <= n < a.params.col_offset + a.params.cols
                for p in range(len(pw)) for k in range(len(sw)))
            code = requantize_expr(acc, int(layer.bias[n]), int(layer.multiplier[n]), int(layer.shift[n]),
                                   layer.zero_point, layer.lo, layer.hi)
            lines.append(f"* output {n}: shift-add, requantize (bias, M/2^S), clamp [{layer.lo}, {layer.hi}]"
                         f"{' = ReLU' if layer.lo == layer.zero_point else ''}")
            if last:
                lines.append(f"Bq{li}_{n} out{n} 0 V = {num(1.0 / 64)}*{code}")
                continue
            lines.append(f"Bq{li}_{n} q{li}_{n} 0 V = {code}")
            nxt = net.layers[li + 1]
            fn = nxt.arrays[0].params
            vn = _v_dac(nxt.arrays[0])
            for p in range(_planes(nxt)):
                digit = input_plane_expr(f"v(q{li}_{n})", p, int(fn.dac_bits))
                lines.append(f"Bdac{li + 1}_{n}p{p} l{li + 1}_in{n}_p{p} 0 V = {num(vn)}*{digit}")
    if control:
        outs = " ".join(f"v(out{n})" for n in range(net.layers[-1].n_out))
        lines += [".control", "set numdgt=15", "set wr_singlescale", "set wr_vecnames",
                  f"dc Vidx 0 {max(n_vec - 1, 1)} 1", f"wrdata out/cmos_network.csv {outs}", "quit 0",
                  ".endc"]
    lines.append(".end")
    return "\n".join(lines) + "\n"


def simulate_cmos(net: CmosNetwork, x_int: np.ndarray) -> dict[str, Any]:
    """Run the deck through the shared ngspice; outputs [B, n_out] (integer units), classes, power.

    Power: per layer, the mean over its plane reads (the planes are read one after
    another) of the DAC sources' power into the arrays and the summers' power into
    their feedback resistors; the layers' powers add (every layer reading at once).
    """
    from anncc.backends.spice.simulate import SpiceConvergenceError, _failure, _reset, _tail, open_ngspice

    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    n_vec = x.shape[0]
    deck = cmos_deck(net, x)
    ng = open_ngspice()
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError, ffi

    try:
        ng.load_circuit(deck)
        ng.exec_command(f"dc vidx 0 {max(n_vec - 1, 1)} 1")
    except (NgSpiceCommandError, NameError) as e:
        out = ng.stdout + "\n" + ng.stderr
        _reset(ng)
        raise SpiceConvergenceError(f"ngspice found no operating point ({_failure(out) or 'failed'})",
                                    where="cmos network", hint=_tail(out)) from e
    plot = ng.last_plot
    api = ng._ngspice_shared

    def vec(name: str) -> np.ndarray:
        info = api.ngGet_Vec_Info(f"{plot}.{name}".encode())
        if info == ffi.NULL:
            raise SpiceConvergenceError(f"ngspice returned no vector '{name}'", where="cmos network")
        return np.frombuffer(ffi.buffer(info.v_realdata, info.v_length * 8), np.float64)[:n_vec].copy()

    last = net.layers[-1]
    outs = np.stack([vec(f"out{n}") for n in range(last.n_out)], 1) * 64
    power = np.zeros(n_vec)
    for li, layer in enumerate(net.layers):
        n_planes = _planes(layer)
        r_f = float(net.target.r_feedback_ohm)
        p_layer = np.zeros(n_vec)
        for p in range(n_planes):
            for i in range(layer.n_in):  # the DACs driving this plane's rows
                src = f"bdac{i}p{p}" if li == 0 else f"bdac{li}_{i}p{p}"
                p_layer += vec(f"l{li}_in{i}_p{p}") * -vec(f"{src}#branch")
            for a in layer.arrays:
                for n, k, pol in _summers(a):
                    node = f"{a.name}_{n}_{k}{pol}_p{p}"
                    vo, vs = vec(f"o_{node}"), vec(f"s_{node}")
                    p_layer += vo * (vo - vs) / r_f  # the summer's output into its feedback resistor
        power += p_layer / n_planes
    _reset(ng)
    return {"outputs": outs, "classes": outs.argmax(1), "signal_power_w": power,
            "opamp_static_power_w": net.n_opamps * float(net.target.opamp_power_w),
            "n_opamps": net.n_opamps, "deck_lines": deck.count("\n")}


def first_layer_inputs(model: Any, net: CmosNetwork, x: Any) -> np.ndarray:
    """The first layer's integer inputs [B, n_in] for float model inputs `x` (through the runtime)."""
    from anncc.backends.spice.arrays import array_inputs

    first = net.layers[0]
    xs = array_inputs(model, x, [a.tile for a in first.arrays])
    out = np.zeros((len(next(iter(xs.values()))), first.n_in), dtype=np.int64)
    for a in first.arrays:
        r0 = a.params.row_offset
        out[:, r0:r0 + a.params.rows] = xs[a.tile]
    return out


def run_cmos_end_to_end(model: Any, x: Any, seed: int = 0, out_dir: Any = None) -> dict[str, Any]:
    """Classify `x` with the one-netlist cmos network in ngspice and with the runtime's cmos model.

    Returns agreement (fraction of identical classes), the simulated signal power
    (mean and max over inputs), the op-amps' quiescent power (target model), and
    report lines; with `out_dir`, writes cmos_network.cir (runnable by hand) and
    cmos_network.json there.
    """
    import json
    from pathlib import Path

    net = build_cmos_network(model, seed)
    xi = first_layer_inputs(model, net, x)
    sim = simulate_cmos(net, xi)
    # this netlist wires each cell straight into its summer (no row/column wire mesh), so the
    # runtime it is compared with reads without IR drop (on by default in analog runs)
    runtime = model.run(x, level="cell", analog=True, seed=seed, ir_drop=False).argmax(-1).numpy()
    agree = float((sim["classes"] == runtime).mean())
    p = sim["signal_power_w"]
    summary = {
        "inputs": int(len(xi)), "agreement": agree,
        "disagreements": int((sim["classes"] != runtime).sum()),
        "signal_power_mean_w": float(p.mean()), "signal_power_max_w": float(p.max()),
        "opamp_static_power_w": sim["opamp_static_power_w"], "n_opamps": sim["n_opamps"],
        "seed": seed, "classes": sim["classes"].tolist(),
    }
    summary["lines"] = [
        f"cmos end to end: {summary['inputs']} inputs, classes agree with the runtime's cmos model on "
        f"{100 * agree:.2f} % ({summary['disagreements']} differ)",
        f"cmos end to end: simulated signal power {1e3 * p.mean():.3f} mW mean, {1e3 * p.max():.3f} mW max; "
        f"{sim['n_opamps']} op-amps at the target's {1e3 * float(net.target.opamp_power_w):g} mW each "
        f"= {sim['opamp_static_power_w']:.3f} W quiescent (model)",
    ]
    if out_dir is not None:
        d = Path(out_dir)
        (d / "out").mkdir(parents=True, exist_ok=True)
        (d / "cmos_network.cir").write_text(cmos_deck(net, xi, control=True))
        (d / "cmos_network.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
