"""How fast anncc's IR prints, parses and verifies at the scale of a real tiled model.

    python bench/bench_ir.py                 # an MLP tiled into 1,024 xbar.mvm tiles
    python bench/bench_ir.py --arrays 256    # smaller arrays: 16,384 tiles
    python bench/bench_ir.py --repeat 5      # best of 5

The module is what `tile` produces for a 5-layer MLP (1024-2048-2048-2048-2048-1024,
4-bit weights, 8-bit activations) on 128x128 arrays: per layer one `xbar.mvm`
per tile, one `xbar.accumulate` per column range, an `xbar.concat` and an
`xbar.requant`; weights are store references (`ann.weight`), never inline.
It prints the time to build, verify, print and parse it back (with and without
verification), ops per second for each, and checks that print -> parse -> print
is identical (DESIGN.md section 3).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from anncc.ir import parse_module, print_module, verify_module
from anncc.ir._xdsl import Block, Builder, FuncOp, InsertPoint, ModuleOp, Region, ReturnOp, f32
from anncc.ir.ann import WeightOp
from anncc.ir.contract import accumulator_bound, signed_bits
from anncc.ir.shapes import tensor
from anncc.ir.xbar import (
    AccumulateOp,
    ConcatOp,
    DequantizeOp,
    MvmOp,
    QuantizeOp,
    RequantOp,
    int_type,
)

LAYERS = (1024, 2048, 2048, 2048, 2048, 1024)
W_BITS, IN_BITS = 4, 8
DIGEST = "0123456789abcdef"  # digests are not checked without a store


@dataclass
class Timing:
    """Best wall-clock and CPU seconds of one step over `ops` operations."""

    what: str
    wall_s: float
    cpu_s: float
    ops: int

    def line(self) -> str:
        rate = self.ops / self.wall_s if self.wall_s > 0 else math.inf
        return (f"{self.what:<20} {self.wall_s * 1e3:9.1f} ms wall {self.cpu_s * 1e3:9.1f} ms cpu "
                f"{rate:10,.0f} ops/s {self.wall_s / self.ops * 1e6:8.0f} us/op")


def build_tiled_mlp(layers: tuple[int, ...], array: int) -> tuple[ModuleOp, int]:
    """The xbar-level module of an MLP on `array`x`array` crossbars; (module, tile count)."""
    s32, u8 = int_type(32, True), int_type(IN_BITS, False)
    block = Block(arg_types=[tensor([None, layers[0]], f32)])
    b = Builder(InsertPoint.at_end(block))
    x = b.insert(QuantizeOp(block.args[0], 0.05, tensor([None, layers[0]], u8))).result
    tiles = 0
    for n, (k, m) in enumerate(zip(layers[:-1], layers[1:])):
        w = b.insert(WeightOp(f"fc{n}.qweight", DIGEST, tensor([k, m], int_type(W_BITS, True))))
        ranges = []
        for c0 in range(0, m, array):
            cols = min(array, m - c0)
            partials = []
            for r0 in range(0, k, array):
                rows = min(array, k - r0)
                mvm = MvmOp(x, w.result, f"fc{n}.r{r0 // array}c{c0 // array}", r0, c0, rows, cols,
                            W_BITS, tensor([None, cols], s32), layer=f"fc{n}")
                partials.append(b.insert(mvm).result)
                tiles += 1
            acc_bits = signed_bits(accumulator_bound(k, IN_BITS, False, W_BITS))
            ranges.append(b.insert(AccumulateOp(partials, tensor([None, cols], s32), layer=f"fc{n}",
                                                acc_bits=acc_bits)).result)
        acc = b.insert(ConcatOp(ranges, tensor([None, m], s32), layer=f"fc{n}")).result
        chan = [b.insert(WeightOp(f"fc{n}.{what}", DIGEST, tensor([m], s32))).result
                for what in ("bias_q", "multiplier", "shift")]
        x = b.insert(RequantOp(acc, *chan, 0, 0, 255, 0.05, tensor([None, m], u8), layer=f"fc{n}",
                               acc_bits=acc_bits, product_bits=acc_bits + 31)).result
    y = b.insert(DequantizeOp(x, 0.05, tensor([None, layers[-1]], f32))).result
    b.insert(ReturnOp(y))
    fn = FuncOp("mlp", ((tensor([None, layers[0]], f32),), (tensor([None, layers[-1]], f32),)),
                Region(block))
    return ModuleOp([fn]), tiles


def best_of(what: str, ops: int, repeat: int, fn: Callable[[], object]) -> tuple[Timing, object]:
    """Run `fn` `repeat` times; the fastest run's wall and CPU time, and its result.

    CPU time is printed beside wall time because a loaded machine inflates the
    latter; the two agree on an idle one.
    """
    wall, cpu, result = math.inf, math.inf, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return Timing(what, wall, cpu, ops), result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", type=int, default=128, help="crossbar rows = columns (128)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (3)")
    args = ap.parse_args(argv)

    t_build, built = best_of("build (Python API)", 1, 1,
                             lambda: build_tiled_mlp(LAYERS, args.arrays))
    module, tiles = built  # type: ignore[misc]
    n_ops = sum(1 for _ in module.walk())
    t_build.ops = n_ops
    timings = [t_build]
    t, _ = best_of("verify", n_ops, args.repeat, lambda: verify_module(module))
    timings.append(t)
    t, text = best_of("print", n_ops, args.repeat, lambda: print_module(module))
    timings.append(t)
    assert isinstance(text, str)
    t, _ = best_of("parse", n_ops, args.repeat, lambda: parse_module(text, verify=False))
    timings.append(t)
    t, parsed = best_of("parse + verify", n_ops, args.repeat, lambda: parse_module(text))
    timings.append(t)
    assert isinstance(parsed, ModuleOp)
    identical = print_module(parsed) == text

    print(f"module: MLP {'-'.join(map(str, LAYERS))} on {args.arrays}x{args.arrays} arrays: "
          f"{tiles:,} xbar.mvm tiles, {n_ops:,} ops, {len(text) / 1e6:.2f} MB of text "
          f"({len(text) / n_ops:.0f} bytes/op)")
    print(f"best of {args.repeat} (build: once):")
    for timing in timings:
        print("  " + timing.line())
    print(f"print -> parse -> print identical: {identical}")
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
