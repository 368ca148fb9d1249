"""The `cmos` target's network as ONE ngspice netlist, end to end (a chain of linear layers: an MLP).

    net = build_cmos_network(cm, seed=0)
    deck = cmos_deck(net, x_int)                 # x_int: [B, in] integer inputs of the first layer
    result = simulate_cmos(net, x_int)           # classes, outputs, power per input vector

The circuit, per layer (`xbar.requant` fed by `xbar.accumulate`/`xbar.concat` of `cell.mvm`s):

- inputs are voltages u_i = x_i · V_lsb, V_lsb = v_read / (2^in_bits − 1): multi-bit DAC sources
  (piecewise-linear tables of a swept index, one point per input vector) for the first layer,
  the previous layer's ReLU outputs after it;
- the resistor arrays are the programmed chip of `seed` (E96 parts with their tolerance, the
  runtime's own draw, `arrays.collect_arrays`), each cell a resistor from its row's input node to
  its column's summing node; level-0 sites are open;
- one inverting summer per array column (output, slice, polarity), as the runtime reads:
  `ANNCC_OPAMP` (behavioural: DC gain A0, input offset, output rails, one pole at GBW) with
  the target's feedback resistor R_f; its input offset is the runtime's draw for that column
  (`devices.draw_opamp_offsets_v`, same generator), amplified by the summer's noise gain as
  in the runtime;
- a behavioural requantizer per output: the summer outputs of its row tiles (the analog
  `xbar.accumulate`), slices and polarities, weighted 2^(k·b) and ∓1, give R_f·V_lsb·ΔG·acc;
  it adds the bias, scales by M/2^S, rounds as the digital requantizer does at the layer
  boundary (floor(y + 1/2), so both sides quantize the hidden layer alike), adds the zero
  point and clamps to [lo, hi] (a ReLU when lo = zero point), driving the next layer's
  input node at y · V_lsb_next;
- output sensing: the last layer's outputs, read as voltages / V_lsb_out; the class is the argmax.

What it does not model (and the runtime does): bit-serial input planes and the ADC between
summer and shift-add — here the layer is one analog step with multi-bit DACs, so the ADC's
per-plane rounding is absent; agreement is measured on classifications.
Power: the signal power the simulation computes (DAC sources into the arrays, and each summer's
output into its feedback resistor), plus the target's quiescent op-amp power (`opamp_power_w`,
a model figure, not simulated).

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


def _v_lsb(target: Any, bits: int) -> float:
    return float(target.v_read_v) / ((1 << bits) - 1)


def cmos_deck(net: CmosNetwork, x_int: np.ndarray, control: bool = False) -> str:
    """The whole network as one deck: DAC tables over the swept index Vidx.

    control: add a .control block that sweeps the vectors and writes the outputs
    (volts; divide by 1/64 V per unit) to out/cmos_network.csv (`ngspice -b` by hand).
    """
    t = net.target
    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    n_vec = x.shape[0]
    lines = [f"* anncc cmos network, end to end: {len(net.layers)} layer(s), chip seed {net.seed}, "
             f"{n_vec} input vector(s)",
             "* every resistor is the runtime's programmed part (E96 + tolerance); summers are "
             "ANNCC_OPAMP", devices_lib(t), "Vidx idx 0 DC 0"]
    first = net.layers[0]
    v0 = _v_lsb(t, first.in_bits)
    idx = list(range(n_vec)) if n_vec > 1 else [0, 1]
    xs = x if n_vec > 1 else np.vstack([x, x])
    for i in range(first.n_in):
        pts = ", ".join(f"{k}, {num(xs[r, i] * v0)}" for r, k in enumerate(idx))
        lines.append(f"* input {i}: DAC, {num(v0)} V per step")
        lines.append(f"Bdac{i} l0_in{i} 0 V = pwl(v(idx), {pts})")
    r_f = float(t.r_feedback_ohm)
    for li, layer in enumerate(net.layers):
        v_in = _v_lsb(t, layer.in_bits)
        b = layer.arrays[0].params.bits_per_cell
        ns = layer.arrays[0].params.n_slices
        lines.append(f"* ---- layer {li} ({layer.name}): {layer.n_in} inputs -> {layer.n_out} outputs, "
                     f"arrays {', '.join(a.tile for a in layer.arrays)}")
        for a in layer.arrays:
            f = a.params
            lines.append(f"* array {a.tile}: {len(a.rowmap)} rows from input {f.row_offset}, "
                         f"outputs {f.col_offset}..{f.col_offset + f.cols - 1}")
            g = a.mesh.g_s
            for j in range(f.cols):
                n = f.col_offset + j
                for k in range(ns):
                    for p, pol in enumerate("pm"):
                        col = int(a.colmap[j, k, p])
                        for i, r in enumerate(a.rowmap.tolist()):
                            if g[r, col] > 0:
                                lines.append(f"R{a.name}_{r}_{col} l{li}_in{f.row_offset + i} "
                                             f"s_{a.name}_{n}_{k}{pol} {num(1.0 / g[r, col])}")
        for a in layer.arrays:
            f = a.params
            for n in range(f.col_offset, f.col_offset + f.cols):
                for k in range(ns):
                    for pol, p in (("p", 0), ("m", 1)):
                        s, o = f"s_{a.name}_{n}_{k}{pol}", f"o_{a.name}_{n}_{k}{pol}"
                        vos = layer.offsets_v.get((a.name, n, k, p), 0.0)
                        lines.append(f"XU_{a.name}_{n}_{k}{pol} 0 {s} {o} ANNCC_OPAMP params: "
                                     f"A0={num(OPAMP_A0)} GBW={num(OPAMP_GBW_HZ)} VOS={num(vos)} "
                                     f"VLO={num(t.opamp_rail_low_v)} VHI={num(t.opamp_rail_high_v)} "
                                     f"ROUT={num(OPAMP_ROUT_OHM)}")
                        lines.append(f"Rf_{a.name}_{n}_{k}{pol} {s} {o} {num(r_f)}")
        last = li == len(net.layers) - 1
        nxt = 7 if last else net.layers[li + 1].in_bits
        v_out = _v_lsb(t, nxt) if not last else 1.0 / 64
        unit = r_f * v_in * float(t.delta_g_s)  # volts per count of acc
        for n in range(layer.n_out):
            acc = " + ".join(f"{float(1 << (k * b))!r}*(v(o_{a.name}_{n}_{k}m) - v(o_{a.name}_{n}_{k}p))"
                             for a in layer.arrays for k in range(ns)
                             if a.params.col_offset <= n < a.params.col_offset + a.params.cols)
            scale = float(layer.multiplier[n]) / float(1 << int(layer.shift[n]))
            y = (f"(({acc})/{num(unit)} + {num(float(layer.bias[n]))})*{num(scale)} + "
                 f"{layer.zero_point}")
            node = f"l{li + 1}_in{n}" if not last else f"out{n}"
            lines.append(f"* output {n}: requantize (bias, M/2^S), clamp [{layer.lo}, {layer.hi}]"
                         f"{' = ReLU' if layer.lo == layer.zero_point else ''}, {num(v_out)} V per step")
            clamp = f"max(min(floor({y} + 0.5), {layer.hi}), {layer.lo})"
            lines.append(f"Bq{li}_{n} {node} 0 V = {num(v_out)}*{clamp}")
    if control:
        outs = " ".join(f"v(out{n})" for n in range(net.layers[-1].n_out))
        lines += [".control", "set numdgt=15", "set wr_singlescale", "set wr_vecnames",
                  f"dc Vidx 0 {max(n_vec - 1, 1)} 1", f"wrdata out/cmos_network.csv {outs}", "quit 0",
                  ".endc"]
    lines.append(".end")
    return "\n".join(lines) + "\n"


def simulate_cmos(net: CmosNetwork, x_int: np.ndarray) -> dict[str, Any]:
    """Run the deck through the shared ngspice; outputs [B, n_out] (integer units), classes, power."""
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
    for i in range(net.layers[0].n_in):
        power += vec(f"l0_in{i}") * -vec(f"bdac{i}#branch")
    r_f = float(net.target.r_feedback_ohm)
    for li, layer in enumerate(net.layers):
        ns = layer.arrays[0].params.n_slices
        for a in layer.arrays:
            f = a.params
            for n in range(f.col_offset, f.col_offset + f.cols):
                for k in range(ns):
                    for pol in "pm":
                        vo, vs = vec(f"o_{a.name}_{n}_{k}{pol}"), vec(f"s_{a.name}_{n}_{k}{pol}")
                        power += vo * (vo - vs) / r_f  # the summer's output into its feedback resistor
        for n in range(layer.n_out):
            if li + 1 < len(net.layers):  # this layer's outputs drive the next layer's arrays
                power += vec(f"l{li + 1}_in{n}") * -vec(f"bq{li}_{n}#branch")
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
    runtime = model.run(x, level="cell", analog=True, seed=seed).argmax(-1).numpy()
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
