"""`anncc eval BUILD --compensation`: accuracy without and with IR-drop compensation.

For every analog condition of `anncc eval` (the target's devices, and each
drift time with global drift compensation), with IR drop on, the same chips
(seeds `--seed`, `--seed + 1`, …) are read three ways:

1. as compiled (IR drop, no compensation);
2. with IR-drop pre-compensation (`anncc.runtime.precompensation`: the chip is
   programmed to conductances whose effective weights on the mesh are the
   intended ones) — targets whose cells can be tuned (rram, pcm, cmos) only;
3. with per-column affine calibration folded into the requantization constants
   (`anncc.runtime.column_calibration`), fitted on `--calib-chips` other chips
   (seeds from `CALIBRATION_SEED`) and on calibration inputs that are not the
   evaluation set (`--calib-data`, or the digits training split for the
   embedded digits examples), under the condition's own options — on top of
   pre-compensation where the target has it.

The table is printed, the record goes into the `--json` result under
"compensation" and into the report (`BUILD/report.*`, section "IR-drop
compensation", with a figure), with every array's pre-compensation residual
and every layer's calibration fit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from anncc.errors import AnnccError


def add_compensation_arguments(p: argparse.ArgumentParser) -> None:
    """`anncc eval`'s options of this study."""
    p.add_argument("--compensation", action="store_true",
                   help="also report accuracy with IR-drop pre-compensation and per-column "
                        "calibration (IR drop on; same seeds)")
    p.add_argument("--calib-chips", type=int, default=4,
                   help="chips the per-column calibration is fitted on (default 4)")
    p.add_argument("--calib-data", default=None,
                   help=".npz with x: calibration inputs (default: digits training split)")
    p.add_argument("--calib-samples", type=int, default=256,
                   help="calibration inputs used (default 256)")


def calibration_inputs(model: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """Calibration inputs (never the evaluation set) and where they came from."""
    import torch

    n = int(getattr(args, "calib_samples", 256))
    if not 1 <= n <= 1_000_000:
        raise AnnccError(f"--calib-samples must be in [1, 1000000], got {n}")
    path = getattr(args, "calib_data", None)
    if path:
        try:
            with np.load(path, allow_pickle=False) as z:
                x = np.asarray(z["x"], dtype=np.float32)
        except (OSError, KeyError, ValueError) as e:
            raise AnnccError(f"cannot read calibration data {path}: {e}",
                             hint="an .npz with an array 'x' of inputs") from None
        return torch.from_numpy(x[:n]), path
    from anncc.runtime.interpreter import entry_function

    shape = [int(d) for d in entry_function(model.ir("ann")).body.block.args[0].type.get_shape()]
    if shape[1:] in ([64], [1, 8, 8]):
        from anncc.examples.digits import load_digits_split

        x, _, _, _ = load_digits_split(flat=shape[1:] == [64])
        return x[:n], f"scikit-learn digits, training split (first {min(n, len(x))})"
    raise AnnccError("no calibration data for this model", hint="pass --calib-data FILE.npz with x")


def _analog_conditions(target: Any, args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    from anncc.evaluate import eval_conditions

    ns = argparse.Namespace(**vars(args))
    ns.ir_drop, ns.ideal, ns.level = True, False, "cell"
    rows = []
    for name, analog, opts in eval_conditions(target, ns):
        if analog and opts.get("drift_compensation", True):
            rows.append((name, dict(opts, ir_drop=True)))
    return rows


def compensation_study(model: Any, x: Any, y: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Rows (as `monte_carlo_study`'s) per condition and way, and the fits' figures."""
    from anncc.runtime.column_calibration import CALIBRATION_SEED, calibrate_columns
    from anncc.runtime.montecarlo import Condition, monte_carlo_study
    from anncc.runtime.precompensation import precompensable, residual_report

    target = model.target()
    if target is None:
        raise AnnccError("--compensation needs a build with a cell level")
    if not 1 <= int(args.calib_chips) <= 1000:
        raise AnnccError(f"--calib-chips must be in [1, 1000], got {args.calib_chips}")
    xc, csource = calibration_inputs(model, args)
    tunable = precompensable(target)
    conds = _analog_conditions(target, args)
    common = dict(trials=args.trials, level="cell", seed=args.seed, workers=args.workers,
                  scheduler=getattr(args, "scheduler", None), results_path=None)
    plain: list[Any] = []
    for name, opts in conds:
        plain.append(Condition(name, True, opts))
        if tunable:
            plain.append(Condition(f"{name} + pre-compensation", True, dict(opts, precompensate=True)))
    rows = monte_carlo_study(model, x, y, plain, **common)
    fits: dict[str, Any] = {}
    extra = " + pre-compensation" if tunable else ""
    for name, opts in conds:
        copts = dict(opts, precompensate=True) if tunable else dict(opts)
        cal = calibrate_columns(model, xc, chips=int(args.calib_chips), seed=CALIBRATION_SEED,
                                **copts)
        label = f"{name}{extra} + column calibration"
        rows += monte_carlo_study(cal.model, x, y, [Condition(label, True, copts)], **common)
        fits[label] = {"layers": cal.report, "seconds": cal.seconds}
    return {"conditions": rows, "precompensation": residual_report(model) if tunable else [],
            "calibration": fits, "calibration_data": csource,
            "calibration_seeds": [CALIBRATION_SEED + i for i in range(int(args.calib_chips))],
            "seeds": [args.seed + i for i in range(args.trials)], "target": target.name,
            "tunable": tunable}


def compensation_command(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Run the study, print it (unless --json), and add it to the build's report."""
    from anncc.evaluate import eval_data, format_table

    x, y, source = eval_data(model, args.data)
    record = compensation_study(model, x, y, args)
    record.update(data=source, samples=len(y))
    if not args.json:
        print(format_table({"target": record["target"], "data": source, "samples": len(y),
                            "seed": args.seed, "conditions": record["conditions"]})
              .replace("anncc eval:", "anncc eval --compensation:", 1))
        for r in record["precompensation"]:
            print(f"  pre-compensation {r['tile']} ({r['array']}): max cell error "
                  f"{r['initial_lsb']:.3g} -> {r['residual_lsb']:.3g} level steps, column loss "
                  f"{100 * r['initial_column_loss']:.2f} % -> {100 * r['column_loss']:.3f} %, "
                  f"{r['iterations']} steps, {r['clipped']} cells clipped")
        print(f"  calibration: {args.calib_chips} chips, {record['calibration_data']}",
              file=sys.stdout)
    update_report(Path(args.build), record)
    return record


def calibrate_compiled(cm: Any, x: Any, chips: int, quiet: bool = False) -> list[dict[str, Any]]:
    """`anncc --calibrate-columns CHIPS`: calibrate a compiled model's cell level in place.

    Fitted on `chips` chips (IR drop on; pre-compensated programming where the
    target's cells can be tuned) and the calibration inputs `x`; the build then
    holds the calibrated constants, so its golden vectors, RTL and SPICE use them.
    """
    import warnings

    from anncc.runtime.column_calibration import CALIBRATION_SEED, calibrate_columns
    from anncc.runtime.precompensation import precompensable

    if not 1 <= int(chips) <= 1000:
        raise AnnccError(f"--calibrate-columns must be in [1, 1000] chips, got {chips}")
    if len(x) < 32:
        warnings.warn(f"column calibration on {len(x)} inputs; give at least 32 with --calib",
                      stacklevel=2)
    opts: dict[str, Any] = {"ir_drop": True}
    if precompensable(cm.target()):
        opts["precompensate"] = True
    cal = calibrate_columns(cm, x, chips=int(chips), seed=CALIBRATION_SEED, **opts)
    cm.levels["cell"] = cal.model.ir("cell")
    if not quiet:
        for r in cal.report:
            print(f"anncc: column calibration {r['layer']}: gains {r['gain_min']:.3g}–"
                  f"{r['gain_max']:.3g}, accumulator RMS error {100 * r['rms_error_before']:.1f} % -> "
                  f"{100 * r['rms_error_after']:.1f} % ({r['samples']} samples)")
    return cal.report


def update_report(build_dir: Path, record: dict[str, Any]) -> None:
    """Put the study into BUILD/report.{json,md,html} (section "IR-drop compensation")."""
    report = build_dir / "report.json"
    if not report.is_file():
        return
    from anncc.backends.report import write_report

    summary = json.loads(report.read_text())
    summary["compensation"] = json.loads(json.dumps(record, default=float))
    write_report(summary, build_dir)


__all__ = ["add_compensation_arguments", "calibrate_compiled", "calibration_inputs", "compensation_command",
           "compensation_study", "update_report"]
