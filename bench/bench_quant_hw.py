"""Accuracy that survives the hardware, measured: rounding, auto bits, bias correction, fine-tuning.

    python bench/bench_quant_hw.py [--models mlp,cnn,dwsep,rescnn] [--target rram] [--seeds 5]
                                   [--epochs 3] [--out bench_quant_hw.json] [--figure hw.png]

Models, all trained here (seeded) on scikit-learn's digits (1437 train / 360
test images, `anncc.examples.digits`): the bundled digits MLP and CNN, and two
models defined below: `DWSep`, a depthwise-separable CNN, and `ResCNN`, a small
residual CNN (both with batch norm, folded by the compiler).

For each model at `--w-bits` (default 4) and in_bits 8, with 256 calibration
images, compiled for `--target` with its default analog options:
- `nearest`: the PTQ defaults (MSE clip, MSE ranges, bias correction);
- `nearest-nobc`: the same without bias correction;
- `gptq`, `gptq-nobc`: GPTQ rounding (arXiv:2210.17323) with / without bias correction;
- `auto`: `--w-bits-auto` at a budget of 1.0 (the cells of uniform `--w-bits`);
- `finetuned`: `anncc.finetune` for `--epochs` on the training set, then the defaults.
Printed per configuration: float (PyTorch), xbar (the integer contract:
ideal devices) and analog accuracy (the cell level with the target's device
models; mean ± std over `--seeds` Monte-Carlo chips, the same seeds 0..S−1
for every configuration) on the 360 test images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quant import train  # noqa: E402

from anncc.examples import digits  # noqa: E402

CALIB = 256


class DWSep(nn.Module):
    """conv 1→16, depthwise 16, pointwise 32, max-pool, depthwise 32, pointwise 32, avg-pool, linear."""

    def __init__(self) -> None:
        super().__init__()

        def cbr(ci, co, k, g=1):
            return nn.Sequential(nn.Conv2d(ci, co, k, padding=k // 2, groups=g, bias=False),
                                 nn.BatchNorm2d(co), nn.ReLU())

        self.stem = cbr(1, 16, 3)
        self.dw1, self.pw1 = cbr(16, 16, 3, 16), cbr(16, 32, 1)
        self.dw2, self.pw2 = cbr(32, 32, 3, 32), cbr(32, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(self.pw1(self.dw1(self.stem(x))), 2)
        x = self.pw2(self.dw2(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))


class ResCNN(nn.Module):
    """conv 1→16 + BN, two residual blocks of 16 channels, max-pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.block1, self.block2 = _Block(16), _Block(16)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.block2(self.block1(F.relu(self.bn(self.stem(x)))))
        return self.fc(F.max_pool2d(x, 2).flatten(1))


def trained(name: str):
    """(model, x_train, y_train, x_test, y_test), seeded."""
    x_tr, y_tr, x_te, y_te = digits.load_digits_split(flat=name == "mlp")
    if name == "mlp":
        return digits.train_mlp(), x_tr, y_tr, x_te, y_te
    if name == "cnn":
        return digits.train_cnn(), x_tr, y_tr, x_te, y_te
    torch.manual_seed(0)
    model = {"dwsep": DWSep, "rescnn": ResCNN}[name]()
    return train(model, x_tr, y_tr, epochs=8, lr=1e-2), x_tr, y_tr, x_te, y_te


def measure(model, x_tr, x_te, y_te, target: str, seeds: int, **kw) -> dict:
    import anncc

    t = time.perf_counter()
    cm = anncc.compile(model, (x_te[:1],), target=target, calib=x_tr[:CALIB].numpy(), **kw)
    an = [cm.accuracy(x_te, y_te, level="cell", analog=True, seed=s) for s in range(seeds)]
    return {"float": digits.accuracy(model, x_te, y_te), "xbar": cm.accuracy(x_te, y_te, level="xbar"),
            "analog_mean": float(np.mean(an)), "analog_std": float(np.std(an)), "analog": an,
            "w_bits_per_layer": cm.options.w_bits_per_layer, "time_s": time.perf_counter() - t}


CONFIGS = {
    "nearest": {},
    "nearest-nobc": {"bias_correct": False},
    "gptq": {"rounding": "gptq"},
    "gptq-nobc": {"rounding": "gptq", "bias_correct": False},
    "auto": {"w_bits_auto": True, "cell_budget": 1.0},
}


def main(argv: list[str] | None = None) -> int:
    import anncc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,dwsep,rescnn")
    ap.add_argument("--configs", default=",".join([*CONFIGS, "finetuned"]))
    ap.add_argument("--target", default="rram")
    ap.add_argument("--w-bits", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default="bench_quant_hw.json")
    ap.add_argument("--figure", default="", help="PNG of float/xbar/analog before and after fine-tuning")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    configs = args.configs.split(",")
    print(f"target {args.target}, w_bits {args.w_bits}, in_bits 8, {CALIB} calibration images, analog "
          f"over seeds 0..{args.seeds - 1}, 360 test digits")
    print(f"{'model':8s} {'config':13s} {'float':>6s} {'xbar':>6s} {'analog':>13s} {'bits':>22s} {'s':>5s}")
    results: dict = {"target": args.target, "w_bits": args.w_bits, "seeds": args.seeds, "models": {}}
    for name in args.models.split(","):
        model, x_tr, y_tr, x_te, y_te = trained(name)
        res = results["models"][name] = {}
        for cfg in configs:
            if cfg == "finetuned":
                t = time.perf_counter()
                tuned = anncc.finetune(model, x_tr, y_tr, target=args.target, epochs=args.epochs,
                                       w_bits=args.w_bits, seed=0, progress=False).model
                r = measure(tuned, x_tr, x_te, y_te, args.target, args.seeds, w_bits=args.w_bits)
                r["time_s"] += time.perf_counter() - t
            else:
                r = measure(model, x_tr, x_te, y_te, args.target, args.seeds, w_bits=args.w_bits,
                            **CONFIGS[cfg])
            res[cfg] = r
            print(f"{name:8s} {cfg:13s} {100 * r['float']:6.2f} {100 * r['xbar']:6.2f} "
                  f"{100 * r['analog_mean']:6.2f}±{100 * r['analog_std']:4.2f} "
                  f"{r['w_bits_per_layer'][:22]:>22s} {r['time_s']:5.1f}", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    if args.figure:
        from anncc.backends.report.figures import finetune_figure

        finetune_figure(results, Path(args.figure))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
