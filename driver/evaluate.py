"""`anncc eval BUILD`: the command-line half of the Monte-Carlo study.

What `anncc eval` measures (one row per condition: ideal devices, the
target's devices, PCM drift with and without compensation), where its data
comes from (`--data`, or held-out scikit-learn digits for the embedded digits
examples), and the table it prints. The trials themselves run in
`anncc.runtime.montecarlo` on the job layer `anncc.runtime.jobs`: locally
(`--workers`) or on a Dask cluster (`--scheduler tcp://HOST:8786`, or
`$ANNCC_SCHEDULER`), with finished trials kept in a results file
(`--results`, default `BUILD/eval-results.json`) so that `--resume` runs only
the missing ones.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from anncc.errors import AnnccError

#: The results file `anncc eval` keeps in the build directory unless `--results` says otherwise.
RESULTS_FILE = "eval-results.json"


def add_scale_out_arguments(p: argparse.ArgumentParser) -> None:
    """The job-layer options of `anncc eval`: scheduler, results file, resume."""
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address, e.g. tcp://HOST:8786 (default: $ANNCC_SCHEDULER, "
                        "else a local process pool of --workers)")
    p.add_argument("--results", default=None,
                   help=f"results file kept as trials finish (default: BUILD/{RESULTS_FILE})")
    p.add_argument("--resume", action="store_true",
                   help="keep the trials the results file already holds; run only the missing ones")


def format_duration(seconds: float) -> str:
    """1 s, 1 h, 1 day, 1 year (365 days, as 3.15e7 s is read), else seconds."""
    for unit, size in (("year", 3.15e7), ("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and math.isclose(seconds / size, round(seconds / size), rel_tol=0.01):
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n > 1 and unit in ('year', 'day') else ''}"
    return f"{seconds:g} s"


def _parse_times(text: str) -> list[float]:
    try:
        times = [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise AnnccError(f"--drift takes seconds separated by commas, got '{text}'") from None
    if any(t < 0 for t in times):
        raise AnnccError(f"--drift times must be >= 0 seconds, got '{text}'")
    return times


def eval_conditions(target: Any, args: argparse.Namespace) -> list[tuple[str, bool, dict[str, Any]]]:
    """(condition name, analog, options) for each row of `anncc eval`."""
    if args.level != "cell":
        return [(f"{args.level} level (exact)", False, {})]
    rows: list[tuple[str, bool, dict[str, Any]]] = [("ideal devices", False, {})]
    if args.ideal:
        return rows
    # IR drop is on in every analog run (AnalogOptions.ir_drop); --no-ir-drop leaves it out
    ir_drop = getattr(args, "ir_drop", True)
    base: dict[str, Any] = {} if ir_drop else {"ir_drop": False}
    label = " + IR drop" if ir_drop else ", no IR drop"
    times = _parse_times(args.drift) if args.drift else (
        list(target.DEFAULT_DRIFT_TIMES_S))
    rows.append((f"{target.name} devices{label}", True, dict(base)))
    for t in times:
        when = format_duration(t)
        if not args.no_compensation:
            rows.append((f"drift {when}, compensated{label}", True,
                         dict(base, drift_time_s=t, drift_compensation=True)))
        rows.append((f"drift {when}, uncompensated{label}", True,
                     dict(base, drift_time_s=t, drift_compensation=False)))
    return rows


def eval_data(model: Any, data: str | None) -> tuple[Any, Any, str]:
    """Inputs, labels and where they came from: `--data` .npz, else held-out digits."""
    import torch

    if data:
        try:
            with np.load(data, allow_pickle=False) as z:
                return torch.as_tensor(z["x"]), torch.as_tensor(z["y"]), data
        except (OSError, KeyError, ValueError) as e:
            raise AnnccError(f"cannot read evaluation data {data}: {e}",
                             hint="an .npz with arrays 'x' (inputs) and 'y' (labels)") from None
    from anncc.runtime.interpreter import entry_function

    shape = [int(d) for d in entry_function(model.ir("ann")).body.block.args[0].type.get_shape()]
    if shape[1:] in ([64], [1, 8, 8]):
        from anncc.examples.digits import load_digits_split

        _, _, x, y = load_digits_split(flat=shape[1:] == [64])
        return x, y, "scikit-learn digits, held-out 20 %"
    raise AnnccError("no evaluation data for this model", hint="pass --data FILE.npz with x and y")


def format_table(result: dict[str, Any]) -> str:
    """The `anncc eval` table: condition, mean, std, 95 % CI (accuracies in %)."""
    rows = [("condition", "trials", "mean", "std", "95 % CI")]
    for c in result["conditions"]:
        lo, hi = c["ci95"]
        rows.append((c["condition"], str(c["trials"]) if not c["deterministic"] else "1",
                     f"{100 * c['mean']:.2f} %", f"{100 * c['std']:.2f}",
                     f"[{100 * lo:.2f}, {100 * hi:.2f}]"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"anncc eval: target {result['target']}, {result['samples']} samples "
             f"({result['data']}), seed {result['seed']}"]
    for k, r in enumerate(rows):
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def results_path(args: argparse.Namespace) -> Path | None:
    """Where `anncc eval` keeps finished trials: `--results`, else BUILD/eval-results.json."""
    given = getattr(args, "results", None)
    if given:
        return Path(given)
    build = getattr(args, "build", None)
    return Path(build) / RESULTS_FILE if build else None


def eval_command(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """`anncc eval BUILD`: Monte-Carlo accuracy per condition; prints a table unless --json."""
    from anncc.runtime.montecarlo import Condition, monte_carlo_study

    x, y, source = eval_data(model, args.data)
    target = model.target()
    if target is None and args.level == "cell":
        raise AnnccError("this build has no cell level to evaluate")
    resume = bool(getattr(args, "resume", False))
    path = results_path(args)
    if resume and path is None:
        raise AnnccError("--resume needs a results file", hint="pass --results FILE")
    conditions = [Condition(name, analog, options)
                  for name, analog, options in eval_conditions(target, args)]
    rows = monte_carlo_study(model, x, y, conditions, trials=args.trials, level=args.level,
                             seed=args.seed, workers=args.workers,
                             scheduler=getattr(args, "scheduler", None), results_path=path,
                             resume=resume, progress=sys.stderr.isatty())  # no bar in logs
    result = {"target": target.name if target is not None else None, "data": source,
              "samples": len(y), "level": args.level, "trials": args.trials, "seed": args.seed,
              "conditions": rows}
    if not args.json:
        print(format_table(result))
    return result


__all__ = [
    "RESULTS_FILE",
    "add_scale_out_arguments",
    "eval_command",
    "eval_conditions",
    "eval_data",
    "format_duration",
    "format_table",
    "results_path",
]
