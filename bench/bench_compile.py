"""Compile speed, stage by stage: export, import, each pass, emission, for two model scales.

Models (examples/models.py, random weights, 3x64x64 input): the ResNet-18-style
network (11.2M weights) and a ConvNeXt-T-scale network (`convnext_tiny_style`,
28.6M weights). Each is compiled with `anncc.compile` (default pipeline, to the
cell level) and its build directory written step by step as `anncc -o` does
(`anncc.build.emit_build`: save, report, SPICE, golden vectors, RTL), with the
size of each part of the build. The table lists `cm.timings` (every
stage the compiler accounts for), their sum, and the wall time measured around
`anncc.compile` here: the coverage ratio (sum / wall) shows how much of the
compile time the stages explain. The goals (issue 13) are wall times on the
project's 2-core machine: ResNet-18-style to cells < 15 s, ConvNeXt-T-scale < 40 s.

With --array-size N every array is NxN (what `array_rows: N` and `array_cols: N` in
a `--target-file` pin) instead of the sizes the compiler
chooses for the IR-drop budget, which are small on every target (16x16 for
sot-mtj, 16x16 to 32x64 for rram) and multiply the number of `cell.mvm` ops.

    python bench/bench_compile.py                          # both models, 2 torch threads
    python bench/bench_compile.py --models resnet18 --no-emit
    python bench/bench_compile.py --models resnet18 --target rram --array-size 256
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import torch

import anncc
from anncc.examples.models import convnext_tiny_style, resnet18_style

MODELS = {
    "resnet18": (resnet18_style, 15.0),
    "convnext_tiny": (convnext_tiny_style, 40.0),
}


def bench(name: str, image_size: int, emit: bool, target: str = "sot-mtj", array_size: int = 0
          ) -> dict[str, float]:
    """Compile (and emit) one model; print its stage table; return the stage times."""
    factory, goal = MODELS[name]
    model, inputs = factory(image_size=image_size)
    n_weights = sum(p.numel() for p in model.parameters())
    gc.collect()
    t0 = time.perf_counter()
    overrides = {"array_rows": array_size, "array_cols": array_size} if array_size else {}
    cm = anncc.compile(model, inputs, target=target, target_overrides=overrides)
    wall = time.perf_counter() - t0
    stages = dict(cm.timings)
    emit_stages: dict[str, float] = {}
    sizes: dict[str, int] = {}
    if emit:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            emit_stages = emit_by_stage(cm, Path(d) / "build")
            emit_s = time.perf_counter() - t
            sizes = component_sizes(Path(d) / "build")
    total = sum(stages.values())
    n_arrays = sum(1 for o in cm.ir("cell").walk() if o.name == "cell.mvm")
    print(f"\n{name}: {n_weights / 1e6:.1f}M weights, input 3x{image_size}x{image_size}, "
          f"target {target}, {n_arrays} arrays "
          f"({f'{array_size}x{array_size} set by the user' if array_size else 'sized by the compiler'}), "
          f"levels {list(cm.levels)}")
    print(f"  {'stage':<22}{'seconds':>9}{'share':>8}")
    for stage, s in stages.items():
        print(f"  {stage:<22}{s:9.2f}{100 * s / wall:7.1f}%")
    print(f"  {'sum of stages':<22}{total:9.2f}{100 * total / wall:7.1f}%  (coverage of the wall time)")
    print(f"  {'compile wall time':<22}{wall:9.2f}   goal < {goal:.0f} s: "
          f"{'met' if wall < goal else 'NOT met'} (ratio {wall / goal:.2f})")
    if emit_stages:
        print("  emission, stage by stage (what `anncc -o` adds after compiling):")
        for stage, s in emit_stages.items():
            print(f"  {stage:<22}{s:9.2f}{100 * s / emit_s:7.1f}%")
        print(f"  {'sum of emit stages':<22}{sum(emit_stages.values()):9.2f}"
              f"{100 * sum(emit_stages.values()) / emit_s:7.1f}%  (coverage of {emit_s:.2f} s)")
        print(f"  {'compile + emission':<22}{wall + emit_s:9.2f}")
        print("  build size by component (MiB): " + ", ".join(
            f"{k} {v / 2**20:.1f}" for k, v in sizes.items()))
    return stages | {"wall": wall}


def emit_by_stage(cm, out: Path) -> dict[str, float]:
    """`anncc.build.emit_build`, with the seconds of each of its steps."""
    from anncc.build import emit_build

    times: dict[str, float] = {}
    emit_build(cm, out, timings=times)
    return times


def component_sizes(out: Path) -> dict[str, int]:
    """Bytes of each part of a build directory (top-level files and folders; the total last).

    A file is counted once however many names it has: `model.mlir` is a hard link to
    `ir/cell.mlir` where the file system allows, and counts under `ir/` (0 bytes of its own).
    """
    sizes: dict[str, int] = {}
    seen: set[tuple[int, int]] = set()
    parts = sorted(out.iterdir(), key=lambda p: (not p.is_dir(), p.name))  # folders first
    for p in parts:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        total = 0
        for f in files:
            st = f.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
        sizes[p.name + ("/" if p.is_dir() else "")] = total
    sizes = dict(sorted(sizes.items()))
    sizes["total"] = sum(sizes.values())
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-emit", action="store_true", help="skip cm.emit")
    ap.add_argument("--target", default="sot-mtj")
    ap.add_argument("--array-size", type=int, default=0,
                    help="pin every array to NxN (as a --target-file can); 0: the compiler sizes "
                         "them for the IR-drop budget")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads}")
    for name in args.models:
        bench(name, args.image_size, not args.no_emit, args.target, args.array_size)


if __name__ == "__main__":
    main()
