"""Monte-Carlo accuracy under device non-idealities: one job per chip.

One trial is one chip: trial `i` runs with seed `seed + i`, so its devices
(programming noise, variation, faults, drift exponents) are drawn anew, and
every read draws its own noise. The accuracy over trials gives the mean, the
sample standard deviation and a 95 % confidence interval of the mean from
Student's t distribution (`mean ± t_0.975,n−1 · s/√n`).

    r = monte_carlo(model, x, y, trials=20, level="cell", analog=True, seed=0, workers=4)
    r["mean"], r["std"], r["ci95"], r["per_trial"]
    rows = monte_carlo_study(model, x, y, [Condition("pcm devices", True, {}), ...],
                             trials=100, scheduler="tcp://host:8786", results_path="mc.json")

Trials are independent jobs of `anncc.runtime.jobs` (DESIGN.md section 10):
in this process with `workers=1`, a process pool with `workers > 1`, a Dask
cluster with `scheduler`. The model travels as a `ModelBundle` (the files
`Model.save` writes), loaded once per worker process; the evaluation set
travels with it. A study of several conditions is one set of jobs, so its
trials spread over all workers and one results file resumes all of it. A
level without randomness (`ann`, `xbar`, or `cell` with ideal devices) is run
once and reported with zero spread. The command line (`anncc eval`) lives in
`anncc.evaluate`.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anncc.errors import AnnccError

# --------------------------------------------------------------------------- statistics


def summarize(per_trial: list[float]) -> dict[str, Any]:
    """Mean, sample std (ddof 1) and the t-distribution 95 % interval of the mean, clipped to
    [0, 1]: the trials are accuracies (with two chips the t interval alone can pass 100 %)."""
    a = np.asarray(per_trial, dtype=np.float64)
    n = len(a)
    mean = float(a.mean()) if n else float("nan")
    std = float(a.std(ddof=1)) if n > 1 else 0.0
    if n > 1:
        from scipy.stats import t as student_t

        half = float(student_t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    else:
        half = 0.0
    return {"mean": mean, "std": std, "ci95": [max(0.0, mean - half), min(1.0, mean + half)],
            "trials": n,
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



# --------------------------------------------------------------------------- the model, once per worker

_BUNDLE_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


@dataclass(frozen=True)
class ModelBundle:
    """A compiled model as the files `Model.save` writes, to ship once to each worker.

    `token` is the SHA-256 of those files: two bundles of the same model are
    equal, and a worker loads a bundle once (`model()` caches it per process).
    """

    token: str
    files: dict[str, bytes]

    @classmethod
    def of(cls, model: Any) -> ModelBundle:
        with tempfile.TemporaryDirectory(prefix="anncc-bundle-") as d:
            model.save(d)
            root = Path(d)
            files = {p.relative_to(root).as_posix(): p.read_bytes()
                     for p in sorted(root.rglob("*")) if p.is_file()}
        h = hashlib.sha256()
        for name, data in files.items():
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return cls(h.hexdigest(), files)

    def model(self) -> Any:
        """The model, loaded from a private copy of the files on first use in this process."""
        with _BUNDLE_LOCK:
            m = _LOADED.get(self.token)
            if m is None:
                from anncc.runtime.model import load

                d = Path(tempfile.mkdtemp(prefix="anncc-worker-"))
                atexit.register(shutil.rmtree, d, True)
                for name, data in self.files.items():
                    (d / name).parent.mkdir(parents=True, exist_ok=True)
                    (d / name).write_bytes(data)
                m = _LOADED[self.token] = load(d)
            return m


@dataclass(frozen=True)
class Condition:
    """One row of a study: a name, analog physics on or off, and the analog options."""

    name: str
    analog: bool
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Evaluation:
    """What every trial of a study shares: the model (or its bundle) and the labelled set."""

    model: Any
    x: np.ndarray
    y: np.ndarray
    level: str
    batch_size: int

    def loaded(self) -> Any:
        return self.model.model() if isinstance(self.model, ModelBundle) else self.model


def _trial_job(ev: _Evaluation, analog: bool, options: dict[str, Any], seed: int) -> float:
    """One chip: the accuracy of trial `seed` (a job of `anncc.runtime.jobs`)."""
    return trial_accuracy(ev.loaded(), torch.from_numpy(ev.x), torch.from_numpy(ev.y), ev.level,
                          analog, seed, ev.batch_size, **options)


def is_random(level: str, analog: bool, options: dict[str, Any]) -> bool:
    """Whether trials differ by seed: only the cell level with some device physics on."""
    if level != "cell" or not analog:
        return False
    from anncc.runtime.analog import IDEAL_OPTIONS

    return any(options.get(k, None) != v for k, v in IDEAL_OPTIONS.items()) or bool(
        set(options) - set(IDEAL_OPTIONS) - {"target", "fast_path", "precision"})


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "target"}


def _data_digest(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (x, y):
        h.update(str((a.dtype.str, a.shape)).encode() + np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def monte_carlo_study(model: Any, inputs: Any, labels: Any, conditions: list[Condition],
                      trials: int = 10, level: str = "cell", seed: int = 0, workers: int = 1,
                      batch_size: int = 512, scheduler: Any = None,
                      results_path: str | os.PathLike[str] | None = None, resume: bool = False,
                      progress: bool = False) -> list[dict[str, Any]]:
    """Accuracy over `trials` chips for each condition, all trials one set of jobs.

    Trial `i` of every random condition uses seed `seed + i`; a condition
    without randomness runs once (seed `seed`) and reports zero spread. Jobs run
    on `anncc.runtime.jobs.run_jobs` (local pool with `workers`, or Dask with
    `scheduler`); `results_path` keeps finished trials so that `resume=True`
    runs only the missing ones. One dict per condition, as `monte_carlo`'s.
    """
    from anncc.runtime.jobs import Task, resolve_scheduler, run_jobs
    from anncc.runtime.model import as_tensor

    if trials < 1:
        raise AnnccError(f"trials must be >= 1, got {trials}")
    if workers < 1:
        raise AnnccError(f"workers must be >= 1, got {workers}")
    x, y = as_tensor(inputs), torch.as_tensor(np.asarray(labels)).to(torch.int64)
    if len(x) != len(y):
        raise AnnccError(f"{len(x)} inputs but {len(y)} labels")
    seeds = [seed + i for i in range(trials)]
    plan: list[tuple[Condition, bool, list[str]]] = []
    tasks: list[Task] = []
    for c in conditions:
        random = is_random(level, c.analog, c.options)
        cseeds = seeds if random else [seed]
        keys = [f"{c.name}/seed={s}" for s in cseeds]
        tasks += [Task(k, {"analog": c.analog, "options": _plain(c.options), "seed": s})
                  for k, s in zip(keys, cseeds)]
        plan.append((c, random, keys))
    remote = resolve_scheduler(scheduler) is not None or (workers > 1 and len(tasks) > 1)
    bundle = ModelBundle.of(model) if remote or results_path is not None else None
    ev = _Evaluation(bundle if remote else model, x.numpy(), y.numpy(), level, batch_size)
    study = None
    if bundle is not None:
        study = {"kind": "monte-carlo", "model": bundle.token, "data": _data_digest(ev.x, ev.y),
                 "level": level, "batch_size": batch_size,
                 "conditions": [[c.name, c.analog, _plain(c.options)] for c in conditions]}
    values = run_jobs(_trial_job, tasks, ev, workers=workers, scheduler=scheduler,
                      results_path=results_path, study=study, resume=resume, progress=progress,
                      desc="trials")
    by_key = dict(zip((t.key for t in tasks), values))
    out = []
    for c, random, keys in plan:
        per_trial = [by_key[k] for k in keys] if random else [by_key[keys[0]]] * trials
        r = summarize(per_trial)
        r.update(seeds=seeds, level=level, analog=c.analog, deterministic=not random,
                 options=_plain(c.options), condition=c.name)
        out.append(r)
    return out


def monte_carlo(model: Any, inputs: Any, labels: Any, trials: int = 10, level: str = "cell",
                analog: bool = True, seed: int = 0, workers: int = 1, batch_size: int = 512,
                scheduler: Any = None, results_path: str | os.PathLike[str] | None = None,
                resume: bool = False, progress: bool = False, **options: Any) -> dict[str, Any]:
    """Accuracy over `trials` chips: dict(mean, std, ci95, trials, per_trial, seeds, ...).

    Trial `i` uses seed `seed + i`. `options` are the analog options of
    `anncc.runtime.analog.AnalogOptions` (e.g. `drift_time_s=86400`;
    IR drop is on by default, `ir_drop=False` leaves it out). `workers > 1` runs trials
    in that many processes,
    `scheduler="tcp://host:8786"` on a Dask cluster (see `monte_carlo_study`).
    """
    r = monte_carlo_study(model, inputs, labels, [Condition("trials", analog, dict(options))],
                          trials=trials, level=level, seed=seed, workers=workers,
                          batch_size=batch_size, scheduler=scheduler, results_path=results_path,
                          resume=resume, progress=progress)[0]
    del r["condition"]
    return r


__all__ = [
    "Condition",
    "ModelBundle",
    "is_random",
    "monte_carlo",
    "monte_carlo_study",
    "summarize",
    "trial_accuracy",
]
