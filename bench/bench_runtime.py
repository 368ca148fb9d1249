"""Analog-mode inference of the behavioral runtime against the float PyTorch model.

For each model (the digits CNN and MLP of `anncc.examples.digits`, and with
--resnet the ResNet-18-style network of `anncc.examples.models`), compiled for
--target, on one batch:

- float: the PyTorch model's forward;
- bare array products: for every array, the `planes × slices × polarities`
  column products the faithful simulation needs, as one matrix product of its
  DAC digit planes [P·M, rows] with its count matrix [rows, cols·slices·2] —
  the floor of any simulator that reads bit-serially;
- the faithful read (runtime/analog.py) with ideal devices, with the target's
  device noise (programming, variation, per-read noise), and with noise plus IR
  drop through each array's effective weights; its time in the `cell.mvm`
  kernels (the part the bare products measure) and for the whole model;
- the collapsed fast path (one product x @ W per array) with ideal devices and
  with device variation through an ideal ADC.

Arrays are programmed (and their IR-drop effective weights computed) once per
chip; that one-time cost is printed apart. Times are the best of --repeats
runs. Anchors printed beside: IBM aihwkit 1.2.0 measured 40x slower than
float on a digits MLP and 7x on a digits CNN; CrossSim reports about 3x.

    python bench/bench_runtime.py                   # digits CNN and MLP, sot-mtj
    python bench/bench_runtime.py --resnet --resnet-batch 2 --threads 2
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from anncc.runtime import analog as A
from anncc.runtime.cell_kernels import tile_inputs
from anncc.runtime.interpreter import KERNELS, ExecContext, _load_kernels, run_module

ANCHORS = ("anchors: IBM aihwkit 1.2.0 measured 40x slower than float on a digits MLP and 7x "
           "on a digits CNN; CrossSim reports about 3x")


def best_of(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> float:
    """Best wall time in seconds of `repeats` calls (after one warm-up call if `warmup`)."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class KernelClock:
    """Accumulates the time spent in the `cell.mvm` kernel while active."""

    def __init__(self) -> None:
        _load_kernels()
        self.inner = KERNELS["cell.mvm"]
        self.seconds = 0.0

    def __enter__(self) -> KernelClock:
        def timed(op, args, ctx):
            t0 = time.perf_counter()
            out = self.inner(op, args, ctx)
            self.seconds += time.perf_counter() - t0
            return out

        KERNELS["cell.mvm"] = timed
        return self

    def __exit__(self, *exc: Any) -> None:
        KERNELS["cell.mvm"] = self.inner


def analog_context(cm, options: dict[str, Any]) -> ExecContext:
    return ExecContext(store=cm.store, analog=True, seed=0,
                       options=dict(options, target=cm.target()))


def time_analog(cm, x: torch.Tensor, options: dict[str, Any], repeats: int
                ) -> tuple[float, float, float]:
    """(one-time array build, best kernel time, best whole-model time) in seconds."""
    ctx = analog_context(cm, options)
    module = cm.ir("cell")
    t0 = time.perf_counter()
    with torch.no_grad():
        run_module(module, cm.store, [x], ctx)  # programs every array (and its IR drop)
    first = time.perf_counter() - t0
    kernel_best, total_best = float("inf"), float("inf")
    for _ in range(repeats):
        with KernelClock() as clock, torch.no_grad():
            t0 = time.perf_counter()
            run_module(module, cm.store, [x], ctx)
            total = time.perf_counter() - t0
        kernel_best, total_best = min(kernel_best, clock.seconds), min(total_best, total)
    return max(0.0, first - total_best), kernel_best, total_best


def bare_products(cm, x: torch.Tensor, repeats: int) -> tuple[float, int, str]:
    """Best time of every array's planes @ counts product (inputs captured from one run)."""
    ctx = analog_context(cm, dict(A.IDEAL_OPTIONS, fast_path=False))
    values: dict[Any, torch.Tensor] = {}
    with torch.no_grad():
        run_module(cm.ir("cell"), cm.store, [x], ctx, values=values)
    work = []
    shape = ""
    for op in cm.ir("cell").walk():
        if op.name != "cell.mvm":
            continue
        f = op.params()
        model = A.array_model(op, [values[v] for v in op.operands], ctx)
        xt, _ = tile_inputs(op, values[op.operands[0]])
        planes, _ = A.digit_planes(xt, f.in_bits, bool(f.in_signed), f.dac_bits,
                                   model.dtype)
        work.append((planes.reshape(-1, planes.shape[-1]), model.counts[0]))
        shape = f"{planes.shape[0]} planes x {f.n_slices} slices x 2 polarities"

    def run() -> None:
        for d, c in work:
            torch.matmul(d, c)

    return best_of(run, repeats), len(work), shape


#: The default analog run (the target's noise, IR drop on): its cost against the bare products.
DEFAULT_RUN = "default analog: noise + IR drop (effective weights)"


def conditions(ir_drop: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """The analog runs to time: label and options."""
    noisy: dict[str, Any] = {}  # the target's defaults: programming noise, variation, read noise
    rows = [
        ("faithful, ideal devices", dict(A.IDEAL_OPTIONS, fast_path=False)),
        ("faithful, device noise, no IR drop", dict(noisy, ir_drop=False)),
        (DEFAULT_RUN, noisy),
        ("collapsed fast path, ideal devices", dict(A.IDEAL_OPTIONS)),
        ("collapsed fast path, variation + ideal ADC",
         dict(A.IDEAL_OPTIONS, programming_noise=True, d2d=True, ideal_adc=True)),
    ]
    return [r for r in rows if ir_drop or r[1].get("ir_drop") is False
            or r[1] is not noisy]


def report(name: str, cm, model: torch.nn.Module, x: torch.Tensor, repeats: int,
           rows: list[tuple[str, dict[str, Any]]]) -> None:
    with torch.no_grad():
        t_float = best_of(lambda: model(x), repeats)
    t_bare, n_arrays, shape = bare_products(cm, x, repeats)
    target = cm.target()
    print(f"\n{name}: target {target.name}, batch {len(x)}, {n_arrays} arrays, {shape}")
    print(f"  {'':44s} {'cell.mvm':>10s} {'x bare':>7s} {'model':>10s} {'x float':>8s}")
    print(f"  {'float PyTorch model':44s} {'':>10s} {'':>7s} {1e3 * t_float:8.2f}ms "
          f"{1.0:7.2f}x")
    print(f"  {'bare array products (P*S*2 matmuls)':44s} {1e3 * t_bare:8.2f}ms {1.0:6.2f}x "
          f"{'':>10s} {t_bare / t_float:7.2f}x")
    t_xbar = best_of(lambda: cm.run(x, level="xbar"), repeats)
    print(f"  {'integer contract (xbar level, no arrays)':44s} {'':>10s} {'':>7s} "
          f"{1e3 * t_xbar:8.2f}ms {t_xbar / t_float:7.2f}x")
    one_time = []
    ratio = None
    for label, options in rows:
        build, t_kernel, t_model = time_analog(cm, x, options, repeats)
        print(f"  {label:44s} {1e3 * t_kernel:8.2f}ms {t_kernel / t_bare:6.2f}x "
              f"{1e3 * t_model:8.2f}ms {t_model / t_float:7.2f}x")
        if "noise" in label:
            one_time.append(f"{label}: {build:.2f} s")
        if label == DEFAULT_RUN:
            ratio = t_kernel / t_bare
    print("  one-time array programming per chip: " + "; ".join(one_time))
    if ratio is not None:
        print(f"  noise + IR drop vs bare products: {ratio:.2f}x (goal <= 2x)")


def digits_models(target: str) -> list[tuple[str, Any, torch.nn.Module, torch.Tensor]]:
    import anncc
    from anncc.examples.digits import load_digits_split, train_cnn, train_mlp

    out = []
    for name, train, flat in (("digits CNN", train_cnn, False), ("digits MLP", train_mlp, True)):
        x_train, _, x_test, _ = load_digits_split(flat=flat)
        model = train().eval()
        cm = anncc.compile(model, (x_test[:1],), target=target, calib=x_train[:256])
        out.append((name, cm, model, x_test))
    return out


def resnet(target: str, batch: int) -> tuple[str, Any, torch.nn.Module, torch.Tensor]:
    import anncc
    from anncc.examples.models import resnet18_style

    model, example = resnet18_style()
    model = model.eval()
    x = torch.randn(batch, *example[0].shape[1:], generator=torch.Generator().manual_seed(0))
    cm = anncc.compile(model, example, target=target, calib=x)
    return "ResNet-18-style", cm, model, x


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", default="sot-mtj")
    p.add_argument("--batch", type=int, default=0,
                   help="digits batch (default: the 359 test images)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--resnet", action="store_true", help="also the ResNet-18-style model")
    p.add_argument("--resnet-target", default="pcm")
    p.add_argument("--resnet-batch", type=int, default=2)
    p.add_argument("--skip-digits", action="store_true", help="only the ResNet-18-style model")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(f"anncc runtime benchmark: torch {torch.__version__} CPU, {torch.get_num_threads()} "
          f"threads, {platform.processor() or platform.machine()}")
    models = [] if args.skip_digits else digits_models(args.target)
    if args.resnet:
        models.append(resnet(args.resnet_target, args.resnet_batch))
    for name, cm, model, x in models:
        if name.startswith("digits"):
            report(name, cm, model, x[:args.batch] if args.batch else x, args.repeats,
                   conditions())
        else:  # hundreds of arrays: one timed run each, no IR-drop solves (about 1 s per array)
            report(name, cm, model, x, 1, conditions(ir_drop=False))
    print("\n" + ANCHORS)


if __name__ == "__main__":
    main()
