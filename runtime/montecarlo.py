"""Monte-Carlo accuracy under device non-idealities, and `anncc eval`.

One trial is one chip: trial `i` runs with seed `seed + i`, so its devices
(programming noise, variation, faults, drift exponents) are drawn anew, and
every read draws its own noise. The accuracy over trials gives the mean, the
sample standard deviation and a 95 % confidence interval of the mean from
Student's t distribution (`mean ± t_0.975,n−1 · s/√n`).

    r = monte_carlo(model, x, y, trials=20, level="cell", analog=True, seed=0, workers=4)
    r["mean"], r["std"], r["ci95"], r["per_trial"]

Trials are independent jobs (DESIGN.md section 10): with `workers > 1` they
run in a process pool (spawned processes; the model is written once to a
temporary build directory with `Model.save` and each worker loads it with
`anncc.runtime.load`); `workers=1` runs in this process. A level without
randomness (`ann`, `xbar`, or `cell` with ideal devices) is run once and
reported with zero spread.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError

#: PCM drift times `anncc eval` reports by default (the target's `DEFAULT_DRIFT_TIMES_S`).
DEFAULT_DRIFT_TIMES_S = (1.0, 86400.0, 3.15e7)


# --------------------------------------------------------------------------- statistics


def summarize(per_trial: list[float]) -> dict[str, Any]:
    """Mean, sample std (ddof 1) and the t-distribution 95 % interval of the mean."""
    a = np.asarray(per_trial, dtype=np.float64)
    n = len(a)
    mean = float(a.mean()) if n else float("nan")
    std = float(a.std(ddof=1)) if n > 1 else 0.0
    if n > 1:
        from scipy.stats import t as student_t

        half = float(student_t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    else:
        half = 0.0
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "trials": n,
            "per_trial": [float(v) for v in a]}


# --------------------------------------------------------------------------- one trial


def trial_accuracy(model, x: torch.Tensor, y: torch.Tensor, level: str, analog: bool, seed: int,
                   batch_size: int = 512, **options: Any) -> float:
    """Top-1 accuracy of one chip (one seed) over the whole set.

    All batches share one execution context, so every batch reads the same
    programmed arrays (built once) with fresh read noise.
    """
    from anncc.runtime.interpreter import ExecContext, run_module

    ctx = ExecContext(store=model.store, analog=analog, seed=seed, options=dict(options))
    if analog:
        ctx.options.setdefault("target", model.target())
    module = model.ir(level)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out, _ = run_module(module, model.store, [x[i:i + batch_size]], ctx)
            correct += int((out[0].argmax(-1) == y[i:i + batch_size]).sum())
    return correct / max(1, len(x))


_WORKER: dict[str, Any] = {}


def _init_worker(build_dir: str, x: np.ndarray, y: np.ndarray, threads: int) -> None:
    from anncc.runtime import load

    torch.set_num_threads(threads)
    _WORKER.update(model=load(build_dir), x=torch.from_numpy(x), y=torch.from_numpy(y))


def _worker_trial(level: str, analog: bool, seed: int, batch_size: int,
                  options: dict[str, Any]) -> float:
    w = _WORKER
    return trial_accuracy(w["model"], w["x"], w["y"], level, analog, seed, batch_size, **options)


def _is_random(model, level: str, analog: bool, options: dict[str, Any]) -> bool:
    if level != "cell" or not analog:
        return False
    from anncc.runtime.analog import IDEAL_OPTIONS

    return any(options.get(k, None) != v for k, v in IDEAL_OPTIONS.items()) or bool(
        set(options) - set(IDEAL_OPTIONS) - {"target", "fast_path", "precision"})


def monte_carlo(model, inputs: Any, labels: Any, trials: int = 10, level: str = "cell",
                analog: bool = True, seed: int = 0, workers: int = 1, batch_size: int = 512,
                **options: Any) -> dict[str, Any]:
    """Accuracy over `trials` chips: dict(mean, std, ci95, trials, per_trial, seeds, ...).

    Trial `i` uses seed `seed + i`. `options` are the analog options of
    `anncc.runtime.analog.AnalogOptions` (e.g. `drift_time_s=86400`,
    `ir_drop=True`). `workers > 1` runs trials in that many processes.
    """
    from anncc.runtime.model import as_tensor

    if trials < 1:
        raise AnnccError(f"trials must be >= 1, got {trials}")
    if workers < 1:
        raise AnnccError(f"workers must be >= 1, got {workers}")
    x, y = as_tensor(inputs), torch.as_tensor(np.asarray(labels)).to(torch.int64)
    if len(x) != len(y):
        raise AnnccError(f"{len(x)} inputs but {len(y)} labels")
    seeds = [seed + i for i in range(trials)]
    random = _is_random(model, level, analog, options)
    if not random:
        acc = trial_accuracy(model, x, y, level, analog, seed, batch_size, **options)
        per_trial = [acc] * trials
    elif workers == 1 or trials == 1:
        per_trial = [trial_accuracy(model, x, y, level, analog, s, batch_size, **options)
                     for s in seeds]
    else:
        per_trial = _parallel(model, x, y, level, analog, seeds, batch_size, workers, options)
    out = summarize(per_trial)
    out.update(seeds=seeds, level=level, analog=analog, deterministic=not random,
               options={k: v for k, v in options.items() if k != "target"})
    return out


def _parallel(model, x, y, level, analog, seeds, batch_size, workers, options) -> list[float]:
    workers = min(workers, len(seeds))
    threads = max(1, (os.cpu_count() or 1) // workers)
    build_dir = tempfile.mkdtemp(prefix="anncc-mc-")
    try:
        model.save(build_dir)
        opts = {k: v for k, v in options.items() if k != "target"}
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker,
                                 initargs=(build_dir, x.numpy(), y.numpy(), threads)) as pool:
            futures = [pool.submit(_worker_trial, level, analog, s, batch_size, opts)
                       for s in seeds]
            return [f.result() for f in futures]
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


# --------------------------------------------------------------------------- anncc eval


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


def eval_conditions(target, args) -> list[tuple[str, bool, dict[str, Any]]]:
    """(condition name, analog, options) for each row of `anncc eval`."""
    if args.level != "cell":
        return [(f"{args.level} level (exact)", False, {})]
    rows: list[tuple[str, bool, dict[str, Any]]] = [("ideal devices", False, {})]
    if args.ideal:
        return rows
    base: dict[str, Any] = {"ir_drop": True} if args.ir_drop else {}
    label = " + IR drop" if args.ir_drop else ""
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


def eval_data(model, data: str | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Inputs, labels and where they came from: `--data` .npz, else held-out digits."""
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


def eval_command(model, args) -> dict[str, Any]:
    """`anncc eval BUILD`: Monte-Carlo accuracy per condition; prints a table unless --json."""
    x, y, source = eval_data(model, args.data)
    target = model.target()
    if target is None and args.level == "cell":
        raise AnnccError("this build has no cell level to evaluate")
    conditions = []
    for name, analog, options in eval_conditions(target, args):
        r = monte_carlo(model, x, y, trials=args.trials, level=args.level, analog=analog,
                        seed=args.seed, workers=args.workers, **options)
        r["condition"] = name
        conditions.append(r)
    result = {"target": target.name if target is not None else None, "data": source,
              "samples": len(y), "level": args.level, "trials": args.trials, "seed": args.seed,
              "conditions": conditions}
    if not args.json:
        print(format_table(result))
    return result


__all__ = [
    "DEFAULT_DRIFT_TIMES_S",
    "eval_command",
    "eval_conditions",
    "eval_data",
    "format_duration",
    "format_table",
    "monte_carlo",
    "summarize",
    "trial_accuracy",
]
