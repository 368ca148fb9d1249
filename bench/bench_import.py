"""Import speed: the ResNet-18-style model (11.2M weights) from PyTorch into `ann`.

The goal (DESIGN.md section 3: weights never inline, one op per layer) is an
import under 10 s on 2 cores, end to end. Phases, each timed on its own:

- `torch.export`: tracing the nn.Module (PyTorch's cost, paid once per model;
  the first export in a process also warms up torch's tracer);
- `.pt2 save` / `.pt2 load`: the archive a user hands to `anncc model.pt2`;
- `anncc import`: the ExportedProgram into a verified ann module and its weight
  store (dispatch, weight copies and digests, op building, verification);
- `store save`: the weights written as `.npz` beside the IR.

    python bench/bench_import.py                  # 3x64x64 input, 2 torch threads
    python bench/bench_import.py --image-size 32 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from anncc.examples.models import resnet18_style
from anncc.frontend import import_model, load_model
from anncc.ir import print_module

GOAL_S = 10.0


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="anncc import: best of N")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (2: the cores of the goal)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, inputs = resnet18_style(image_size=args.image_size)
    n_weights = sum(p.numel() for p in model.parameters())
    rows: list[tuple[str, float]] = []

    t_export, program = timed(lambda: torch.export.export(model, inputs))
    rows.append(("torch.export (cold)", t_export))
    with tempfile.TemporaryDirectory() as tmp:
        pt2 = Path(tmp) / "resnet18.pt2"
        rows.append((".pt2 save", timed(lambda: torch.export.save(program, str(pt2)))[0]))
        t_load, loaded = timed(lambda: load_model(pt2))
        rows.append((".pt2 load", t_load))
        t_import, (module, store) = timed(lambda: import_model(loaded.program), args.repeat)
        rows.append(("anncc import", t_import))
        rows.append(("store save (.npz)", timed(lambda: store.save(Path(tmp) / "w.npz"))[0]))
    n_ops = sum(1 for _ in module.walk()) - 2  # minus module and func
    text = print_module(module)

    print(f"ResNet-18-style, 3x{args.image_size}x{args.image_size} input, {n_weights:,} weights, "
          f"{args.threads} torch threads, {os.cpu_count()} CPUs")
    print(f"{'phase':<22}{'seconds':>10}{'weights/s':>16}")
    for name, seconds in rows:
        print(f"{name:<22}{seconds:>10.3f}{n_weights / seconds:>16,.0f}")
    end_to_end = t_export + t_import
    print(f"{'export + import':<22}{end_to_end:>10.3f}{n_weights / end_to_end:>16,.0f}")
    print(f"IR: {n_ops} ops, {len(text):,} characters of text; store: {len(store)} arrays, "
          f"{store.nbytes() / 1e6:.1f} MB")
    verdict = "meets" if end_to_end < GOAL_S else "MISSES"
    print(f"{verdict} the goal of an import under {GOAL_S:.0f} s (export + import)")


if __name__ == "__main__":
    main()
