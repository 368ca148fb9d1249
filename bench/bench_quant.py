"""Post-training quantization at 4 bits: float vs xbar accuracy, old min-max vs the new PTQ.

    python bench/bench_quant.py [--models mlp,cnn,mobilenet,resnet18] [--w-bits 4] [--in-bits 8]

Models, all trained here on scikit-learn's digits (1437 train / 360 test images,
the split of `anncc.examples.digits`):
- `mlp`, `cnn`: the bundled digits MLP and CNN (`anncc.examples.digits`);
- `mobilenet`, `resnet18`: `MobileNetStyle` and `ResNet18` of
  `anncc.examples.models`, trained for a few epochs on the digits upsampled
  bilinearly from 8x8 to `--size` (default 16; 8 keeps the native resolution)
  and repeated to 3 channels (`upsample_digits`).

Each model is compiled twice for `sot-mtj` with the same 256 calibration
images: `minmax` (per-channel max|w| weight scales, activation max over the
calibration set, no bias correction: the quantizer before PTQ) and `ptq` (the
defaults: MSE weight clip, MSE activation ranges, bias correction). The xbar
level is the integer contract (DESIGN.md section 4), so its accuracy is what
the chip computes with ideal devices and a lossless ADC. Printed: float
accuracy (PyTorch), xbar accuracy of each, and the loss in points.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from anncc.examples import digits

CALIB = 256
UPSAMPLE = 16


def upsample_digits(x: torch.Tensor, size: int = UPSAMPLE) -> torch.Tensor:
    """`[N, 1, 8, 8]` digits as `[N, 3, size, size]` images (bilinear, gray repeated to RGB)."""
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
          seed: int = 0) -> torch.nn.Module:
    """Adam on cross-entropy, batch 64, seeded."""
    return fit(model, torch.optim.Adam(model.parameters(), lr=lr), x, y, epochs, seed).eval()


def fit(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
        epochs: int, seed: int = 0) -> torch.nn.Module:
    """`epochs` of `opt` on cross-entropy, batch 64, in a seeded order; the model in train mode."""
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model


def models(names: list[str], size: int = UPSAMPLE):
    """(name, model, x_train, x_test, y_test) for each requested model."""
    from anncc.examples.models import MobileNetStyle, ResNet18

    for name in names:
        flat = name == "mlp"
        x_tr, y_tr, x_te, y_te = digits.load_digits_split(flat=flat)
        if name == "mlp":
            yield name, digits.train_mlp(), x_tr, x_te, y_te
        elif name == "cnn":
            yield name, digits.train_cnn(), x_tr, x_te, y_te
        else:
            x_tr, x_te = upsample_digits(x_tr, size), upsample_digits(x_te, size)
            torch.manual_seed(0)
            if name == "mobilenet":
                model = train(MobileNetStyle(10), x_tr, y_tr, epochs=6, lr=1e-2)
            elif name == "resnet18":
                model = train(ResNet18(10), x_tr, y_tr, epochs=2, lr=1e-3)
            else:
                raise SystemExit(f"bench_quant: unknown model '{name}'")
            yield name, model, x_tr, x_te, y_te


SETTINGS = {
    "minmax": {"weight_clip": "minmax", "act_range": "minmax", "bias_correct": False},
    "ptq": {},
}


def main(argv: list[str] | None = None) -> int:
    import anncc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,mobilenet,resnet18")
    ap.add_argument("--w-bits", type=int, default=4)
    ap.add_argument("--in-bits", type=int, default=8)
    ap.add_argument("--size", type=int, default=UPSAMPLE, help="image size for mobilenet/resnet18")
    args = ap.parse_args(argv)
    print(f"w_bits {args.w_bits}, in_bits {args.in_bits}, target sot-mtj, {CALIB} calibration images, "
          f"xbar level (integer contract); mobilenet/resnet18 on digits at {args.size}x{args.size}x3")
    print(f"{'model':10s} {'float':>7s} {'minmax':>7s} {'ptq':>7s} {'loss minmax':>12s} {'loss ptq':>9s}"
          f" {'time s':>7s}")
    for name, model, x_tr, x_te, y_te in models(args.models.split(","), args.size):
        t0 = time.perf_counter()
        fl = digits.accuracy(model, x_te, y_te)
        acc = {}
        for label, extra in SETTINGS.items():
            cm = anncc.compile(model, (x_te[:1],), target="sot-mtj", calib=x_tr[:CALIB].numpy(),
                               w_bits=args.w_bits, in_bits=args.in_bits, **extra)
            acc[label] = cm.accuracy(x_te, y_te, level="xbar")
        dt = time.perf_counter() - t0
        print(f"{name:10s} {100 * fl:7.2f} {100 * acc['minmax']:7.2f} {100 * acc['ptq']:7.2f} "
              f"{100 * (fl - acc['minmax']):12.2f} {100 * (fl - acc['ptq']):9.2f} {dt:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
