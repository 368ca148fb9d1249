"""SPICE backend speed: netlist emission, and simulation through PySpice vs `ngspice -b` processes.

The digits MLP compiled for a target (default sot-mtj; --rows/--cols override the array
size, default 32x32 so Debian's ngspice 39 finishes in seconds), chip seed 0.

1. Emission: `emit_spice` of every array (programming the chip with the runtime's code,
   the mesh, the jinja2 netlists, vectors): arrays per second and MB of netlist per second,
   and the netlist writing alone (templates, given programmed arrays).
2. Simulation of the same arrays and input vectors, both in one process each way:
   - PySpice: one shared libngspice in this process, each array's deck loaded once and its
     vectors swept (`simulate.simulate_deck`);
   - `ngspice -b`: one subprocess per array running the emitted harness, which writes its
     currents with `wrdata` (`simulate.simulate_batch_subprocess`).
   Printed: seconds, arrays/s and vectors/s for each, the ratio, and the largest
   difference between the two (both are the same ngspice, so it is ~1e-15).

    python bench/bench_spice.py
    python bench/bench_spice.py --target rram --rows 64 --cols 64 --vectors 16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="sot-mtj")
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--cols", type=int, default=32)
    ap.add_argument("--vectors", type=int, default=8, help="input vectors per array")
    args = ap.parse_args()

    import anncc
    from anncc.backends.spice.arrays import array_inputs, collect_arrays, row_voltages
    from anncc.backends.spice.emit import emit_spice
    from anncc.backends.spice.netlist import harness, write_spice_dir
    from anncc.backends.spice.simulate import open_ngspice, simulate_batch_subprocess, simulate_deck
    from anncc.examples import digits

    model = digits.train_mlp()
    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    cm = anncc.compile(model, x_test[:1], target=args.target, w_bits=4, in_bits=8, calib=x_train[:256],
                       target_overrides={"array_rows": args.rows, "array_cols": args.cols})
    with tempfile.TemporaryDirectory(prefix="anncc-bench-spice-") as tmp:
        d = Path(tmp) / "spice"
        t = time.perf_counter()
        manifest = emit_spice(cm, d, seed=0, inputs=x_test[:4], max_vectors=args.vectors, all_arrays=True)
        t_emit = time.perf_counter() - t
        n = len(manifest["arrays"])
        mb = sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) / 2**20
        arrays = collect_arrays(cm, seed=0)
        xs = array_inputs(cm, x_test[:4])
        volts = {a.name: row_voltages(a, xs[a.tile], args.vectors) for a in arrays}
        t = time.perf_counter()
        write_spice_dir(arrays, volts, Path(tmp) / "again")
        t_write = time.perf_counter() - t
        print(f"target {args.target}, {n} arrays of {args.rows}x{args.cols}, {mb:.2f} MB of netlists")
        print(f"emission (program chip + mesh + netlists): {t_emit:.2f} s = {n / t_emit:.1f} arrays/s, "
              f"{mb / t_emit:.2f} MB/s")
        print(f"netlist writing alone:                   {t_write:.2f} s = {n / t_write:.1f} arrays/s, "
              f"{mb / t_write:.2f} MB/s")

        n_vec = sum(len(v) for v in volts.values())
        t = time.perf_counter()
        open_ngspice()
        t_start = time.perf_counter() - t
        t = time.perf_counter()
        shared = {a.name: simulate_deck(harness(a, volts[a.name], inline=True, control=False),
                                        len(volts[a.name]), a.shape[1], where=a.name) for a in arrays}
        t_py = time.perf_counter() - t
        t = time.perf_counter()
        batch = {a.name: simulate_batch_subprocess(d / f"{a.name}.cir", len(volts[a.name]))
                 for a in arrays}
        t_b = time.perf_counter() - t
        diff = max(float(np.abs(shared[k] - batch[k]).max() / np.abs(batch[k]).max()) for k in shared)
        print(f"simulation of {n} arrays, {n_vec} vectors (one process each way, sequential):")
        print(f"  PySpice shared ngspice: {t_py:.2f} s = {n / t_py:.2f} arrays/s, "
              f"{n_vec / t_py:.1f} vectors/s"
              f" (+{t_start:.2f} s to load libngspice once)")
        print(f"  ngspice -b processes:   {t_b:.2f} s = {n / t_b:.2f} arrays/s, {n_vec / t_b:.1f} vectors/s")
        print(f"  PySpice / ngspice -b speed: {t_b / t_py:.2f}x; max relative difference {diff:.1e}")


if __name__ == "__main__":
    main()
