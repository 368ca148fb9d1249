"""Analog simulation speed at ResNet scale, every simulator in ONE process (issue 16).

For the ResNet-18-style example (`anncc.examples.models.resnet18_style`,
32×32 inputs, random weights) and the digits CNN (`anncc.examples.digits`),
compiled for --target, on one batch:

- float PyTorch (the reference of every ratio);
- IBM aihwkit 1.2.0 when importable (PCM noise, programmed and drifted once);
  else a line says it is skipped and why;
- anncc at each level: xbar (integer contract), ideal cell level, analog
  cell level with the target's noise and a new chip per run (programming +
  reads; the arrays of a layer read together, `runtime/layer_read.py`, and the
  per-array reads before it, `layer_batch=False`, for the ratio),
  reads of a kept chip (`cm.program(seed)` then `cm.run(x, chip=...)`);
- with IR drop (digits always, the ResNet with --resnet-irdrop): the first
  read of a kept chip (exact effective weights of every array) and its reads;
- chip programming (wall and CPU seconds) and the IR-drop effective weights
  of --irdrop-arrays arrays (exact solver; the whole chip's time is that
  figure scaled by the number of arrays, printed as an extrapolation).

Times are the best of --repeats runs after a warm-up (one run for the
ResNet's analog rows). The machine this ran on was shared: wall times are
noisy, the ratios from one run (all measured in the same process, minutes
apart) are what count; the CPU seconds of the programming step are printed
beside its wall seconds because they suffer less from other processes.

    python bench/bench_speed.py --threads 2                  # both models
    python bench/bench_speed.py --threads 2 --skip-digits
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from typing import Any

import torch
from bench_runtime import best_of  # bench/ is on sys.path when run as a script


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
           analog_repeats: int, irdrop_arrays: int, irdrop_run: bool) -> None:
    print(f"\n{name}: target {cm.target().name}, batch {len(x)}")
    with torch.no_grad():  # the reference of every ratio: many repeats, it is short
        t_float = best_of(lambda: model(x), max(repeats, 20))
    rows: list[tuple[str, float | None, str]] = [("float PyTorch", t_float, "")]
    t_ai, why = aihwkit_time(model, x, repeats)
    rows.append(("aihwkit", t_ai, why))
    rows.append(("anncc xbar level", best_of(lambda: cm.run(x, level="xbar"), repeats), ""))
    rows.append(("anncc ideal cell level", best_of(lambda: cm.run(x, level="cell"), repeats), ""))
    seeds = iter(range(1000))
    rows.append(("anncc analog cell, target noise, new chip per run", best_of(
        lambda: cm.run(x, level="cell", analog=True, seed=next(seeds)), analog_repeats), ""))
    rows.append(("anncc analog cell, new chip per run, per-array reads", best_of(
        lambda: cm.run(x, level="cell", analog=True, seed=next(seeds), layer_batch=False),
        analog_repeats), "the path before layer groups"))
    chip = cm.program(seed=0)
    cm.run(x, level="cell", chip=chip)  # builds the read models of this chip
    rows.append(("anncc analog cell, target noise, kept chip (reads)", best_of(
        lambda: cm.run(x, level="cell", chip=chip), analog_repeats, warmup=False), ""))
    t_first_ir = None
    if irdrop_run:  # effective weights of every array on the first read, then reads
        chip_ir = cm.program(seed=0, ir_drop=True)
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
    xbar, ideal = rows[2][1], rows[3][1]
    assert xbar is not None and ideal is not None
    print(f"  ideal cell / xbar: {ideal / xbar:.2f}x")
    if t_first_ir is not None:
        print(f"  first read of the IR-drop chip (exact effective weights of every array, "
              f"then the read): {t_first_ir:.2f} s")
    wall, cpu, n = chip_program_times(cm, 3)
    t_ref = reference_program_time(cm)
    print(f"  programming one chip ({n} arrays, target defaults): {wall:.3f} s wall, "
          f"{cpu:.3f} s CPU (best of 3 seeds); previous path (devices.program_array per "
          f"array) {t_ref:.2f} s wall = {t_ref / wall:.1f}x the chip's")
    if irdrop_arrays > 0:
        t_eff, k = effective_weight_time(cm, irdrop_arrays)
        print(f"  exact effective weights (IR drop): {t_eff:.2f} s for {k} arrays, "
              f"{t_eff / k:.3f} s per array; whole chip extrapolated {t_eff / k * n:.0f} s")


def resnet(target: str, batch: int) -> tuple[str, Any, torch.nn.Module, torch.Tensor]:
    import anncc
    from anncc.examples.models import resnet18_style

    model, example = resnet18_style(image_size=32)
    x = torch.randn(batch, *example[0].shape[1:], generator=torch.Generator().manual_seed(0))
    cm = anncc.compile(model, (x[:1],), target=target, calib=x)
    return "ResNet-18-style (32x32)", cm, model.eval(), x


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
        report(*resnet(args.target, args.resnet_batch), args.repeats, 1, args.irdrop_arrays,
               args.resnet_irdrop)
    if not args.skip_digits:
        report(*digits_cnn(args.target, args.digits_batch), args.repeats, args.repeats,
               args.irdrop_arrays, True)


if __name__ == "__main__":
    main()
