"""Analog simulation speed at ResNet scale, every simulator in ONE process (issue 16).

For the ResNet-18-style example (`anncc.examples.models.resnet18_style`,
32×32 inputs, random weights) and the digits CNN (`anncc.examples.digits`),
compiled for --target, on one batch. The ResNet runs on two chips
(`--resnet-arrays`): "issue", every array 256×256 as issue 16 measured it (826
arrays on rram), and "compiler", the array sizes the compiler chooses for the
IR-drop budget (about 101,000 arrays of 16×16 to 32×64 on rram).

- float PyTorch (the reference of every ratio);
- IBM aihwkit 1.2.0 when importable (PCM noise, programmed and drifted once);
  else a line says it is skipped and why;
- anncc at each level: xbar (integer contract) and the ideal cell level, each
  with every layer fused into a few batched products (`runtime/layer_exec.py`)
  and op by op (`fuse_layers=False`, the path before); the analog cell level
  with the target's noise and no IR drop, a new chip per run (programming +
  reads) and a kept chip (`cm.program(seed)` then `cm.run(x, chip=...)`), and
  the per-array reads before layer groups (`layer_batch=False`) for chips of
  at most 5,000 arrays;
- with IR drop (the default analog run; digits always, the ResNet with
  --resnet-irdrop): a new chip per run, the first read of a kept chip (exact
  effective weights of every array) and its reads;
- chip programming (wall and CPU seconds), the effective weights of
  --irdrop-arrays arrays one at a time (extrapolated to the chip), and with
  --chips N a Monte Carlo of N ResNet chips with IR drop on 100 inputs, then
  one more trial timed by parts (programming, effective weights, the read).

Times are the best of --repeats runs after a warm-up (one run for the
ResNet's analog rows). The machine this ran on was shared: wall times are
noisy, the ratios from one run (all measured in the same process, minutes
apart) are what count; the CPU seconds of the programming step are printed
beside its wall seconds because they suffer less from other processes.

    python bench/bench_speed.py --threads 2                  # both models
    python bench/bench_speed.py --threads 2 --skip-digits --resnet-irdrop --chips 20
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from typing import Any

import torch
from bench_runtime import best_of  # bench/ is on sys.path when run as a script

from anncc.runtime.chip import cell_ops


def aihwkit_time(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> tuple[float | None, str]:
    """aihwkit 1.2.0's inference time (PCM noise, drifted once), or None and why it is skipped."""
    try:
        from aihwkit.inference import PCMLikeNoiseModel  # type: ignore[import-not-found]
        from aihwkit.nn.conversion import convert_to_analog  # type: ignore[import-not-found]
        from aihwkit.simulator.configs import InferenceRPUConfig  # type: ignore[import-not-found]
    except ImportError as e:
        return None, (f"aihwkit not importable ({e}); it builds from source with "
                      "`pip install --no-build-isolation aihwkit==1.2.0` given cmake, "
                      "scikit-build, pybind11, ninja and mypy")
    cfg = InferenceRPUConfig()
    cfg.noise_model = PCMLikeNoiseModel()
    analog = convert_to_analog(model, cfg).eval()
    analog.program_analog_weights()
    analog.drift_analog_weights(3600.0)
    with torch.no_grad():
        return best_of(lambda: analog(x), repeats), "aihwkit 1.2.0, PCM noise, drifted 1 h"


def chip_program_times(cm: Any, seeds: int) -> tuple[float, float, int]:
    """Best wall and CPU seconds of programming one chip (target defaults), and its arrays."""
    wall, cpu, n = float("inf"), float("inf"), 0
    for s in range(seeds):
        c0, t0 = time.process_time(), time.perf_counter()
        chip = cm.program(seed=s)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        n = chip.n_arrays
        del chip
    return wall, cpu, n


def reference_program_time(cm: Any) -> float:
    """Seconds of the previous programming path: `devices.program_array` array by array
    (per-cell float64 draws of every effect, polynomials per cell), same devices' law."""
    from anncc.runtime import devices
    from anncc.runtime.analog import array_target, operand_tensor
    from anncc.runtime.chip import cell_ops
    from anncc.runtime.interpreter import ExecContext

    ctx = ExecContext(store=cm.store)
    target = cm.target()
    work = []
    for op in cell_ops(cm.ir("cell")):
        f = op.params()
        work.append((f.tile, operand_tensor(op.levels, ctx), operand_tensor(op.faults, ctx),
                     array_target(target, f.g_min_s, f.g_max_s)))
    t0 = time.perf_counter()
    for tile, lv, fm, tgt in work:
        devices.program_array(lv.to(torch.int64), tgt, ctx.generator(tile, "program"), 0.0,
                              fm.to(torch.uint8).expand(lv.shape))
    return time.perf_counter() - t0


def effective_weight_time(cm: Any, n_arrays: int) -> tuple[float, int]:
    """Seconds of the exact effective weights of the first `n_arrays` programmed arrays."""
    from anncc.runtime.analog import array_target
    from anncc.runtime.irdrop import MeshParams, effective_weights

    chip = cm.program(seed=0)
    target = cm.target()
    tiles = list(chip.index)[:n_arrays]
    t0 = time.perf_counter()
    for tile in tiles:
        p = chip.programmed(tile)
        t = array_target(target, float(p.target.g_min_s), float(p.target.g_max_s))
        effective_weights(p.g_s.numpy(), MeshParams(float(t.r_wire_ohm), float(t.r_contact_ohm)))
    return time.perf_counter() - t0, len(tiles)


def report(name: str, cm: Any, model: torch.nn.Module, x: torch.Tensor, repeats: int,
           analog_repeats: int, irdrop_arrays: int, irdrop_run: bool, chips: int = 0,
           chip_inputs: int = 100, lossless: Any = None) -> None:
    n_arrays = len(list(cell_ops(cm.ir("cell"))))
    print(f"\n{name}: target {cm.target().name}, batch {len(x)}, {n_arrays} arrays")
    with torch.no_grad():  # the reference of every ratio: many repeats, it is short
        t_float = best_of(lambda: model(x), max(repeats, 20))
    rows: list[tuple[str, float | None, str]] = [("float PyTorch", t_float, "")]
    t_ai, why = aihwkit_time(model, x, repeats)
    rows.append(("aihwkit", t_ai, why))
    rows.append(("anncc xbar level", best_of(lambda: cm.run(x, level="xbar"), repeats),
                 "layers fused"))
    rows.append(("anncc xbar level, op by op", best_of(
        lambda: cm.run(x, level="xbar", fuse_layers=False), analog_repeats), "before fusion"))
    rows.append(("anncc ideal cell level", best_of(lambda: cm.run(x, level="cell"), repeats),
                 "layers fused"))
    rows.append(("anncc ideal cell level, op by op", best_of(
        lambda: cm.run(x, level="cell", fuse_layers=False), analog_repeats), "before fusion"))
    seeds = iter(range(1000))
    rows.append(("anncc analog cell, target noise, new chip per run", best_of(
        lambda: cm.run(x, level="cell", analog=True, seed=next(seeds), ir_drop=False),
        analog_repeats), "no IR drop"))
    if n_arrays <= 5000:  # the path before layer groups and fusion: per-array reads
        rows.append(("anncc analog cell, new chip per run, per-array reads", best_of(
            lambda: cm.run(x, level="cell", analog=True, seed=next(seeds), ir_drop=False,
                           layer_batch=False, fuse_layers=False),
            analog_repeats), "the path before layer groups"))
    chip = cm.program(seed=0, ir_drop=False)
    cm.run(x, level="cell", chip=chip)  # builds the read models of this chip
    rows.append(("anncc analog cell, target noise, kept chip (reads)", best_of(
        lambda: cm.run(x, level="cell", chip=chip), analog_repeats, warmup=False), "no IR drop"))
    t_first_ir = None
    if irdrop_run:  # the default: IR drop on; effective weights of every array on the first read
        rows.append(("anncc analog cell + IR drop, new chip per run", best_of(
            lambda: cm.run(x, level="cell", analog=True, seed=next(seeds)), 1, warmup=False),
            "the default analog run"))
        chip_ir = cm.program(seed=0)
        t0 = time.perf_counter()
        cm.run(x, level="cell", chip=chip_ir)
        t_first_ir = time.perf_counter() - t0
        rows.append(("anncc analog cell + IR drop, kept chip (reads)", best_of(
            lambda: cm.run(x, level="cell", chip=chip_ir), analog_repeats, warmup=False), ""))
    print(f"  {'':52s} {'time':>10s} {'x float':>8s} {'x aihwkit':>9s}")
    for label, t, note in rows:
        if t is None:
            print(f"  {label:52s} skipped: {note}")
            continue
        vs_ai = f"{t / t_ai:8.2f}x" if t_ai else f"{'-':>9s}"
        print(f"  {label:52s} {1e3 * t:8.1f}ms {t / t_float:7.2f}x {vs_ai}"
              + (f"  ({note})" if note else ""))
    xbar, ideal = rows[2][1], rows[4][1]
    assert xbar is not None and ideal is not None
    print(f"  ideal cell / xbar: {ideal / xbar:.2f}x (the target's ADC)")
    if lossless is not None:  # the same model with 16-bit ADCs: every array collapses
        t_l = best_of(lambda: lossless.run(x, level="cell"), repeats)
        t_lx = best_of(lambda: lossless.run(x, level="xbar"), repeats)
        print(f"  ideal cell / xbar with lossless 16-bit ADCs: {t_l / t_lx:.2f}x "
              f"({1e3 * t_l:.1f} ms, {t_l / t_float:.2f}x float)")
    if t_first_ir is not None:
        print(f"  first read of a kept IR-drop chip (exact effective weights of every array, "
              f"then the read): {t_first_ir:.2f} s")
    wall, cpu, n = chip_program_times(cm, 3)
    t_ref = reference_program_time(cm) if n <= 5000 else None
    print(f"  programming one chip ({n} arrays, target defaults): {wall:.3f} s wall, "
          f"{cpu:.3f} s CPU (best of 3 seeds)" + (
              f"; previous path (devices.program_array per array) {t_ref:.2f} s wall = "
              f"{t_ref / wall:.1f}x the chip's" if t_ref else ""))
    if irdrop_arrays > 0:
        t_eff, k = effective_weight_time(cm, irdrop_arrays)
        print(f"  exact effective weights (IR drop), one array at a time: {t_eff:.2f} s for {k} "
              f"arrays, {t_eff / k:.4f} s per array; whole chip extrapolated {t_eff / k * n:.0f} s")
    if chips > 0:  # Monte Carlo: a new chip (IR drop on) per trial, `chip_inputs` inputs each
        xs = x.repeat((chip_inputs + len(x) - 1) // len(x), *([1] * (x.dim() - 1)))[:chip_inputs]
        t0 = time.perf_counter()
        for s in range(chips):
            cm.run(xs, level="cell", analog=True, seed=1000 + s)
        t_mc = time.perf_counter() - t0
        print(f"  Monte Carlo with IR drop: {chips} chips x {chip_inputs} inputs in {t_mc:.1f} s "
              f"({t_mc / chips:.1f} s per chip; goal 20 chips under 600 s)")
        # where one trial's time goes: programming, every array's effective weights (with a
        # read of one input), then the trial's read of all its inputs on that chip
        t0 = time.perf_counter()
        chip_mc = cm.program(seed=1000 + chips)
        t1 = time.perf_counter()
        cm.run(xs[:1], level="cell", chip=chip_mc)
        t2 = time.perf_counter()
        cm.run(xs, level="cell", chip=chip_mc)
        t3 = time.perf_counter()
        print(f"    one more trial by parts: programming {t1 - t0:.1f} s, effective weights and a "
              f"1-input read {t2 - t1:.1f} s, the {chip_inputs}-input read {t3 - t2:.1f} s")


#: The issue's chip: every array 256x256 (826 arrays on rram), pinned by the user's array size;
#: "compiler": the sizes the compiler chooses for the IR-drop budget (many small arrays).
RESNET_ARRAYS = {"issue": {"array_rows": 256, "array_cols": 256}, "compiler": {}}


def resnet(target: str, batch: int, arrays: str = "compiler", adc_bits: int = 0
           ) -> tuple[str, Any, torch.nn.Module, torch.Tensor]:
    import anncc
    from anncc.examples.models import resnet18_style

    model, example = resnet18_style(image_size=32)
    x = torch.randn(batch, *example[0].shape[1:], generator=torch.Generator().manual_seed(0))
    overrides = dict(RESNET_ARRAYS[arrays], **({"adc_bits": adc_bits} if adc_bits else {}))
    cm = anncc.compile(model, (x[:1],), target=target, calib=x, target_overrides=overrides)
    return f"ResNet-18-style (32x32), {arrays}'s arrays", cm, model.eval(), x


def digits_cnn(target: str, batch: int) -> tuple[str, Any, torch.nn.Module, torch.Tensor]:
    import anncc
    from anncc.examples.digits import load_digits_split, train_cnn

    x_train, _, x_test, _ = load_digits_split(flat=False)
    model = train_cnn().eval()
    cm = anncc.compile(model, (x_test[:1],), target=target, calib=x_train[:256])
    return "digits CNN", cm, model, x_test[:batch] if batch else x_test


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", default="rram")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--resnet-batch", type=int, default=8)
    p.add_argument("--digits-batch", type=int, default=0, help="default: the 359 test images")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--irdrop-arrays", type=int, default=2,
                   help="arrays whose exact effective weights are timed (0: none)")
    p.add_argument("--resnet-irdrop", action="store_true",
                   help="also read the ResNet with IR drop (every array's exact effective weights)")
    p.add_argument("--resnet-arrays", nargs="+", choices=list(RESNET_ARRAYS),
                   default=["issue", "compiler"],
                   help="issue: 256x256 arrays as issue 16 measured; compiler: the sizes it chooses")
    p.add_argument("--chips", type=int, default=0,
                   help="also time a Monte Carlo of this many ResNet chips with IR drop")
    p.add_argument("--skip-digits", action="store_true")
    p.add_argument("--skip-resnet", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(f"anncc speed benchmark: torch {torch.__version__} CPU, {torch.get_num_threads()} "
          f"threads, {platform.processor() or platform.machine()}; one process, one run: "
          "the machine may be shared, so the ratios are what count")
    if not args.skip_resnet:
        for arrays in args.resnet_arrays:
            lossless = resnet(args.target, args.resnet_batch, arrays, adc_bits=16)[1]
            report(*resnet(args.target, args.resnet_batch, arrays), args.repeats, 1,
                   args.irdrop_arrays, args.resnet_irdrop, args.chips, lossless=lossless)
    if not args.skip_digits:
        report(*digits_cnn(args.target, args.digits_batch), args.repeats, args.repeats,
               args.irdrop_arrays, True)


if __name__ == "__main__":
    main()
