"""anncc.finetune vs IBM aihwkit 1.2.0 hardware-aware training, on the same digits CNN and chips.

    python bench/bench_aihwkit.py [--target rram] [--epochs 3] [--seeds 5]

Both start from the same trained digits CNN (`anncc.examples.digits.train_cnn`)
and train for `--epochs` on the 1437 training digits:
- `anncc`: `anncc.finetune` (errors of `--target` chips measured through the runtime);
- `aihwkit`: aihwkit's hardware-aware training (`InferenceRPUConfig` with the
  `ADD_NORMAL` weight modifier, weights clipped at their initial max, AnalogSGD)
  at the same noise level: the modifier's standard deviation, which aihwkit
  takes relative to the layer's largest weight, is set to the runtime-measured
  effective-weight error of the target in weight LSBs divided by q_max
  (2^(w_bits−1) − 1). aihwkit's trained weights are converted back to a
  digital model (`convert_to_digital`).
Each result is compiled by anncc for `--target` and read on the same
Monte-Carlo chips (seeds 0..S−1), so the comparison is of the training
methods on one hardware model (anncc's), not of the two simulators.
Without `import aihwkit` the aihwkit row is skipped and the reason printed.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from anncc.examples import digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quant import fit  # noqa: E402  (bench/ is on sys.path when run as a script)

CALIB = 256


def analog_accuracy(model, x_tr, x_te, y_te, target: str, seeds: int, w_bits: int) -> tuple[float, float]:
    import anncc

    cm = anncc.compile(model, (x_te[:1],), target=target, calib=x_tr[:CALIB].numpy(), w_bits=w_bits)
    a = [cm.accuracy(x_te, y_te, level="cell", analog=True, seed=s) for s in range(seeds)]
    return float(np.mean(a)), float(np.std(a))


def measured_sigma_lsb(model, x_tr, target: str, w_bits: int) -> float:
    """The runtime's effective-weight error (std over all weights and 2 chips), in weight LSBs."""
    from anncc import hwtrain

    clean = hwtrain.export_module(model, x_tr[:1])
    inst, wqs, names = hwtrain.instrument(clean, x_tr[:CALIB], w_bits, 8)
    shapes = [tuple(hwtrain._get(inst, n).shape) for n in names]
    errs, _ = hwtrain.measure_chip_errors(hwtrain.bake(clean, inst, wqs, names), x_tr[:CALIB].numpy(),
                                          target, w_bits, 8, 2, 0, names, shapes, [w.groups for w in wqs])
    return float(torch.cat([e.reshape(-1) for e in errs]).std())


def aihwkit_train(model, x, y, epochs: int, std_rel: float, lr: float = 0.01, seed: int = 0):
    from aihwkit.nn.conversion import convert_to_analog, convert_to_digital
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import InferenceRPUConfig
    from aihwkit.simulator.parameters.enums import WeightClipType, WeightModifierType

    rpu = InferenceRPUConfig()
    rpu.modifier.type = WeightModifierType.ADD_NORMAL
    rpu.modifier.std_dev = std_rel
    rpu.clip.type = WeightClipType.LAYER_GAUSSIAN
    rpu.clip.sigma = 2.5
    torch.manual_seed(seed)
    analog = convert_to_analog(model, rpu)
    opt = AnalogSGD(analog.parameters(), lr=lr)
    opt.regroup_param_groups(analog)
    fit(analog, opt, x, y, epochs, seed).eval()
    return convert_to_digital(analog).eval()


def main(argv: list[str] | None = None) -> int:
    import copy

    import anncc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="rram")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--w-bits", type=int, default=4)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    x_tr, y_tr, x_te, y_te = digits.load_digits_split(flat=False)
    model = digits.train_cnn()
    q = (1 << (args.w_bits - 1)) - 1
    sigma = measured_sigma_lsb(model, x_tr, args.target, args.w_bits)
    print(f"digits CNN, target {args.target}, w_bits {args.w_bits}, {args.epochs} epochs, analog over seeds "
          f"0..{args.seeds - 1}; runtime-measured weight error {sigma:.3f} LSB = {sigma / q:.4f} of max|w|")
    print(f"{'training':10s} {'float':>6s} {'analog':>13s} {'time s':>7s}")

    def row(label, m, t0):
        mean, std = analog_accuracy(m, x_tr, x_te, y_te, args.target, args.seeds, args.w_bits)
        print(f"{label:10s} {100 * digits.accuracy(m, x_te, y_te):6.2f} {100 * mean:6.2f}±{100 * std:4.2f} "
              f"{time.perf_counter() - t0:7.1f}", flush=True)

    t = time.perf_counter()
    row("none", model, t)
    t = time.perf_counter()
    row("anncc", anncc.finetune(copy.deepcopy(model), x_tr, y_tr, target=args.target, epochs=args.epochs,
                                w_bits=args.w_bits, progress=False).model, t)
    try:
        import aihwkit  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means: skip, and say why
        print(f"aihwkit    skipped: import aihwkit failed ({type(e).__name__}: {e})")
        return 0
    t = time.perf_counter()
    row("aihwkit", aihwkit_train(copy.deepcopy(model), x_tr, y_tr, args.epochs, sigma / q), t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
