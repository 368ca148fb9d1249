"""Compile speed, stage by stage: export, import, each pass, emission, for two model scales.

Models (examples/models.py, random weights, 3x64x64 input): the ResNet-18-style
network (11.2M weights) and a ConvNeXt-T-scale network (`convnext_tiny_style`,
28.6M weights). Each is compiled with `anncc.compile` (default pipeline, to the
cell level) and emitted with `cm.emit`. The table lists `cm.timings` (every
stage the compiler accounts for), their sum, and the wall time measured around
`anncc.compile` here: the coverage ratio (sum / wall) shows how much of the
compile time the stages explain. The goals (issue 13) are wall times on the
project's 2-core machine: ResNet-18-style to cells < 15 s, ConvNeXt-T-scale < 40 s.

    python bench/bench_compile.py                          # both models, 2 torch threads
    python bench/bench_compile.py --models resnet18 --no-emit
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


def bench(name: str, image_size: int, emit: bool) -> dict[str, float]:
    """Compile (and emit) one model; print its stage table; return the stage times."""
    factory, goal = MODELS[name]
    model, inputs = factory(image_size=image_size)
    n_weights = sum(p.numel() for p in model.parameters())
    gc.collect()
    t0 = time.perf_counter()
    cm = anncc.compile(model, inputs)
    wall = time.perf_counter() - t0
    stages = dict(cm.timings)
    emit_s = None
    if emit:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            out = cm.emit(Path(d) / "build")
            emit_s = time.perf_counter() - t
            size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    total = sum(stages.values())
    print(f"\n{name}: {n_weights / 1e6:.1f}M weights, input 3x{image_size}x{image_size}, "
          f"levels {list(cm.levels)}")
    print(f"  {'stage':<22}{'seconds':>9}{'share':>8}")
    for stage, s in stages.items():
        print(f"  {stage:<22}{s:9.2f}{100 * s / wall:7.1f}%")
    print(f"  {'sum of stages':<22}{total:9.2f}{100 * total / wall:7.1f}%  (coverage of the wall time)")
    print(f"  {'compile wall time':<22}{wall:9.2f}   goal < {goal:.0f} s: "
          f"{'met' if wall < goal else 'NOT met'} (ratio {wall / goal:.2f})")
    if emit_s is not None:
        print(f"  {'emission (cm.emit)':<22}{emit_s:9.2f}   build {size / 2**20:.1f} MiB")
        print(f"  {'compile + emission':<22}{wall + emit_s:9.2f}")
    return stages | {"wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-emit", action="store_true", help="skip cm.emit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads}")
    for name in args.models:
        bench(name, args.image_size, not args.no_emit)


if __name__ == "__main__":
    main()
