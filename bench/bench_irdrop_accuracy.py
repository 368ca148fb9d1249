"""Digits MLP and CNN accuracy with IR drop on by default, per target (issue 15).

For each model and target: float (the PyTorch model), xbar (the integer
contract), the default analog run (the target's device noise and IR drop
through each array's exact effective weights; PCM at 1 s of drift, the
target's drift compensation) and the same without IR drop, each the mean over
--seeds chips (seeds 0..n-1), on the held-out scikit-learn digits. The
compile sizes every layer's arrays to its parasitics (`--irdrop-budget`, the
target's by default); the chosen sizes and their exact worst-column errors are
printed beside.

    python bench/bench_irdrop_accuracy.py --seeds 3
    python bench/bench_irdrop_accuracy.py --targets rram --models cnn --budget 0.1
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch


def main(argv: list[str] | None = None) -> None:
    import anncc
    from anncc.examples import digits
    from anncc.runtime.model import module_json_attr

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--targets", default="sot-mtj,rram,pcm")
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", type=float, default=0.0, help="IR-drop budget (0 = target's)")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    for mname in args.models.split(","):
        flat = mname == "mlp"
        model = (digits.train_mlp() if flat else digits.train_cnn()).eval()
        x_train, _, x, y = digits.load_digits_split(flat=flat)
        with torch.no_grad():
            f_acc = float((model(x).argmax(-1) == y).float().mean())
        for tname in args.targets.split(","):
            t0 = time.perf_counter()
            cm = anncc.compile(model, (x[:1],), target=tname, calib=x_train[:256],
                               irdrop_budget=args.budget)
            t_compile = time.perf_counter() - t0
            opts = {"drift_time_s": 1.0} if tname == "pcm" else {}
            xb = cm.accuracy(x, y, level="xbar")
            runs = {}
            for label, extra in (("IR drop on (default)", {}), ("IR drop off", {"ir_drop": False})):
                accs = [cm.accuracy(x, y, level="cell", analog=True, seed=s, **opts, **extra)
                        for s in range(args.seeds)]
                runs[label] = accs
            sizing = module_json_attr(cm.ir("cell"), "anncc.array_sizing") or {}
            sizes = ", ".join(f"{k} {v['array_rows']}x{v['array_cols']} g_max "
                              f"{v['g_max_s'] * 1e6:.3g} uS worst {100 * v['worst']:.1f} %"
                              for k, v in sizing.items())
            drift = " (1 s drift)" if tname == "pcm" else ""
            print(f"digits {mname.upper()} on {tname}{drift}: float {100 * f_acc:.2f} %, "
                  f"xbar {100 * xb:.2f} %, " + ", ".join(
                      f"{k} {100 * np.mean(v):.2f} % (seeds {', '.join(f'{100 * a:.1f}' for a in v)})"
                      for k, v in runs.items()) + f"; compile {t_compile:.1f} s")
            print(f"    arrays: {sizes}")


if __name__ == "__main__":
    main()
