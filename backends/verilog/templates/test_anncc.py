"""cocotb 2.x testbench of anncc_top (written by anncc into build/rtl/tb/).

Drives integer input vectors x_q on the input stream with random bubbles,
reads y_q with random back-pressure on the output stream, and compares every
output integer bit for bit with the expected vectors. In per-layer mode it also
reads every feature buffer after each inference and names the first layer whose
output differs. Environment: ANNCC_VECTORS (.npz with x, y, buf_<name>),
ANNCC_MANIFEST, ANNCC_PER_LAYER, ANNCC_LIMIT, ANNCC_SUMMARY (JSON written here).
"""

import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

PERIOD_NS = 10


def _signed(v: int, bits: int, signed: bool) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >> (bits - 1) else v


async def _send(dut, xs, rng, bubbles):
    """Drive one vector, one element per beat; `bubbles`: random idle cycles between beats."""
    for v in xs:
        dut.in_data.value = int(v)
        dut.in_valid.value = 1
        while True:
            await ReadOnly()
            ready = bool(dut.in_ready.value)
            await RisingEdge(dut.clk)
            if ready:
                break
        dut.in_valid.value = 0
        if bubbles and rng.random() < 0.3:
            await ClockCycles(dut.clk, rng.randint(1, 3))


async def _receive(dut, n, bits, signed, rng, backpressure):
    """Collect n output beats; `backpressure`: hold ready low for random stretches."""
    out = []
    await ReadOnly()
    if not dut.out_valid.value:  # sleep through the computation, no per-cycle Python
        await RisingEdge(dut.out_valid)
    else:
        await RisingEdge(dut.clk)  # ready is low: the beat waits
    while len(out) < n:
        if backpressure and rng.random() < 0.3:
            dut.out_ready.value = 0
            await ClockCycles(dut.clk, rng.randint(1, 4))
        dut.out_ready.value = 1
        await ReadOnly()
        valid = bool(dut.out_valid.value)
        data = int(dut.out_data.value) if valid else 0
        await RisingEdge(dut.clk)
        if valid:
            out.append(_signed(data, bits, signed))
    dut.out_ready.value = 0
    return out


def _read_buffer(dut, name, size, bits, signed):
    mem = getattr(dut, f"buf_{name}").mem
    out = []
    for i in range(size):
        v = mem[i].value
        out.append(_signed(int(v), bits, signed) if v.is_resolvable else None)
    return out


@cocotb.test()
async def test_vectors(dut):
    with open(os.environ["ANNCC_MANIFEST"]) as fh:
        man = json.load(fh)
    vec = np.load(os.environ["ANNCC_VECTORS"])
    per_layer = os.environ.get("ANNCC_PER_LAYER", "0") == "1"
    limit = int(os.environ.get("ANNCC_LIMIT", "0") or 0)
    xs, ys = vec["x"], vec["y"]
    n_vec = len(xs) if limit <= 0 else min(limit, len(xs))
    rng = random.Random(1234)
    ob = man["output"]
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst_n.value = 0
    dut.in_valid.value = 0
    dut.out_ready.value = 0
    dut.in_data.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst_n.value = 1
    await RisingEdge(dut.clk)
    mismatches, first, layer_bad = 0, [], {}
    clean_cycles = None
    t0 = time.perf_counter()
    for i in range(n_vec):
        stress = i > 0  # vector 0 runs without stalls: it measures cycles per inference
        start_ns = cocotb.utils.get_sim_time(unit="ns")
        sender = cocotb.start_soon(_send(dut, xs[i], rng, stress))
        got = await _receive(dut, ob["n"], ob["bits"], ob["signed"], rng, stress)
        await sender
        if not stress:
            clean_cycles = int(round((cocotb.utils.get_sim_time(unit="ns") - start_ns) / PERIOD_NS))
        want = [int(v) for v in ys[i]]
        if got != want:
            mismatches += 1
            if len(first) < 5:
                first.append(f"vector {i}: got {got} expected {want}")
        if per_layer:
            for b in man["buffers"]:
                key = f"buf_{b['name']}"
                if key not in vec.files:
                    continue
                hw = _read_buffer(dut, b["name"], b["size"], b["bits"], b["signed"])
                exp = [int(v) for v in vec[key][i]]
                if hw != exp:
                    bad = [j for j in range(len(hw)) if hw[j] != exp[j]]
                    layer_bad.setdefault(b["name"], 0)
                    layer_bad[b["name"]] += 1
                    if len(first) < 10:
                        first.append(f"vector {i} buffer {b['name']}: {len(bad)} of {len(hw)} differ, "
                                     f"first at {bad[0]}: got {hw[bad[0]]} expected {exp[bad[0]]}")
    wall = time.perf_counter() - t0
    summary = dict(vectors=n_vec, mismatches=mismatches, cycles_per_inference=clean_cycles,
                   wall_s=wall, vectors_per_s=n_vec / wall if wall > 0 else 0.0,
                   per_layer=per_layer, layer_mismatches=layer_bad, first=first)
    with open(os.environ["ANNCC_SUMMARY"], "w") as fh:
        json.dump(summary, fh)
    assert mismatches == 0 and not layer_bad, "; ".join(first)
