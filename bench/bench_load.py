"""How fast a build loads back: each level parsed by xDSL's parser and by anncc's; `anncc.runtime.load`.

The ResNet-18-style model (examples/models.py, random weights, 3x64x64 input) is
compiled for a target (rram by default, 101,008 arrays at the sizes the compiler
picks) and saved as `anncc -o` saves it; or `--build DIR` reads an existing build.
For each level file `ir/<level>.mlir` it prints the time and ops per second of
xDSL's `Parser` as it is, of `LocatingParser` (what `parse_module` uses: the
per-array ops `ann.weight`, `xbar.mvm`, `cell.mvm` read by its fast path, with how
many it read), and of `parse_module` (parse and verify); then `anncc.runtime.load`
of the build with the fast path off (as before it existed) and on.

    python bench/bench_load.py                              # compile to a temporary build
    python bench/bench_load.py --build /tmp/build_rr        # an existing build directory
    python bench/bench_load.py --build /tmp/build_rr --fast-only   # skip the xDSL-only runs (minutes)
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import tempfile
import time
from pathlib import Path


def compile_build(directory: Path, target: str) -> None:
    import torch

    import anncc
    from anncc.examples.models import resnet18_style

    torch.set_num_threads(2)
    model, inputs = resnet18_style(image_size=64)
    t = time.perf_counter()
    cm = anncc.compile(model, inputs, target=target)
    cm.save(directory)
    print(f"compiled and saved for {target} in {time.perf_counter() - t:.1f} s: {directory}")


def bench_levels(build: Path, fast_only: bool) -> None:
    from anncc.ir._xdsl import Parser
    from anncc.ir.module_io import LocatingParser, make_context, parse_module

    print(f"{'level':10s} {'parser':18s} {'MB':>5s} {'ops':>7s} {'s':>7s} {'ops/s':>7s}")
    for f in sorted((build / "ir").glob("*.mlir")):
        text = f.read_text()
        runs = {"xDSL Parser": lambda: Parser(make_context(), text, str(f)).parse_module(),
                "LocatingParser": lambda: LocatingParser(make_context(), text, str(f)),
                "parse_module": lambda: parse_module(text, str(f))}
        for name, run in runs.items():
            if fast_only and name == "xDSL Parser":
                continue
            gc.collect()
            t = time.perf_counter()
            made = run()
            module = made.parse_module() if isinstance(made, LocatingParser) else made
            dt = time.perf_counter() - t
            n_ops = sum(1 for _ in module.walk())
            note = f"  ({made.fast_parsed} by the fast path)" if isinstance(made, LocatingParser) else ""
            print(f"{f.stem:10s} {name:18s} {len(text) / 1e6:5.1f} {n_ops:7d} {dt:7.2f} "
                  f"{n_ops / dt:7.0f}{note}", flush=True)
            del made, module


def bench_load(build: Path, fast_only: bool) -> None:
    import anncc.runtime
    from anncc.ir import module_io

    original = module_io.LocatingParser
    try:
        for fast in ((True,) if fast_only else (False, True)):
            module_io.LocatingParser = functools.partial(original, fast=fast)  # type: ignore[misc]
            gc.collect()
            t = time.perf_counter()
            model = anncc.runtime.load(build)
            print(f"anncc.runtime.load, fast path {'on' if fast else 'off'}: "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
            del model
    finally:
        module_io.LocatingParser = original  # type: ignore[misc]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, help="an existing build directory (else one is compiled)")
    ap.add_argument("--target", default="rram")
    ap.add_argument("--fast-only", action="store_true",
                    help="skip xDSL's parser and the load without the fast path (minutes)")
    args = ap.parse_args()
    os.environ.setdefault("ANNCC_MAX_IR_OPS", "2000000")  # sot-mtj's cell level is ~700,000 ops
    with tempfile.TemporaryDirectory() as tmp:
        build = args.build
        if build is None or not (build / "manifest.json").is_file():
            build = build or Path(tmp) / "build"
            compile_build(build, args.target)
        bench_levels(build, args.fast_only)
        bench_load(build, args.fast_only)


if __name__ == "__main__":
    main()
