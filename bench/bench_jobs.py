"""The job layer on 1 versus 2 local Dask workers: Monte Carlo, effective weights, overhead.

Three measurements on `anncc.runtime.jobs` (DESIGN.md section 10), each on a
Dask LocalCluster of one worker and one of two (processes, one thread each,
`OMP_NUM_THREADS=1`, so a worker is one core):

1. Monte Carlo of the ResNet-18-style model (`anncc.examples.models`) on rram:
   `--chips` trials (one chip each: devices programmed anew from seed `i`) over
   `--inputs` random images. The two runs must give identical per-chip
   accuracies (printed as a check).
2. Effective-weight extraction (`anncc.runtime.irdrop.effective_weights`, the
   exact IR-drop solve) of every array of the same model (or the first
   `--arrays`), programmed for chip 0, `--chunk` arrays per task; each task
   returns every array's relative change of total conductance, also checked
   equal between the runs.
3. Scheduling overhead: `--empty` tasks that do nothing, wall time per task on
   the two-worker cluster, on a local process pool of two and in this process.

Speed-up is the 1-worker wall time over the 2-worker wall time, both measured
in this run; the model travels once per worker (`ModelBundle`, scattered) and
its loading is inside the timings. The load average is printed beside: on a
shared machine the figures are noisy, and a speed-up near 2 needs two free cores.

    python bench/bench_jobs.py                         # 20 chips, 2 images, every array
    python bench/bench_jobs.py --chips 20 --arrays 512 # a quicker effective-weight part
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anncc.runtime.arrayjobs import cell_arrays, irdrop_of_arrays
from anncc.runtime.jobs import Task, run_jobs
from anncc.runtime.montecarlo import ModelBundle, monte_carlo


def empty_job(shared: Any, i: int) -> int:
    return i


def build_model(args: argparse.Namespace):
    """The compiled ResNet-18-style model, cached in --build (compiled once)."""
    import anncc
    from anncc.examples import models
    from anncc.runtime import load

    d = Path(args.build) / f"resnet18-{args.target}-{args.image_size}"
    if (d / "manifest.json").exists():
        return load(d)
    ex = models.resnet18_style(image_size=args.image_size)
    calib = torch.rand(8, 3, args.image_size, args.image_size, generator=torch.Generator().manual_seed(1))
    cm = anncc.compile(ex.model, ex.example_inputs, target=args.target, calib=calib)
    cm.save(d)
    return load(d)


def cluster(n: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                        silence_logs=40, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                              "OPENBLAS_NUM_THREADS": "1"})


def timed(fn, *a: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def load_text() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, default=20)
    p.add_argument("--inputs", type=int, default=2)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--target", default="rram")
    p.add_argument("--arrays", type=int, default=0, help="arrays for effective weights (0: all)")
    p.add_argument("--chunk", type=int, default=64, help="arrays per effective-weight task")
    p.add_argument("--empty", type=int, default=1000, help="empty tasks for the overhead")
    p.add_argument("--build", default="/tmp/anncc-bench-jobs")
    p.add_argument("--skip", default="", help="parts to skip: mc,irdrop,overhead")
    args = p.parse_args()
    skip = set(args.skip.split(","))
    torch.set_num_threads(1)
    print(f"bench_jobs: {os.cpu_count()} cores, {load_text()} (a shared machine makes timings noisy)")

    model, t_build = timed(build_model, args)
    bundle = ModelBundle.of(model)
    n_arrays = len(cell_arrays(model))
    size = sum(len(v) for v in bundle.files.values()) / 2**20
    print(f"ResNet-18-style on {args.target}: {n_arrays} arrays, bundle {size:.0f} MiB "
          f"(build/load {t_build:.1f} s)")

    with cluster(1) as c1, cluster(2) as c2:
        one, two = c1.scheduler_address, c2.scheduler_address
        if "mc" not in skip:
            x = torch.rand(args.inputs, 3, args.image_size, args.image_size,
                           generator=torch.Generator().manual_seed(2))
            y = model.run(x, level="ann").argmax(-1)
            r1, t1 = timed(monte_carlo, model, x, y, trials=args.chips, scheduler=one)
            r2, t2 = timed(monte_carlo, model, x, y, trials=args.chips, scheduler=two)
            same = r1["per_trial"] == r2["per_trial"]
            print(f"\nMonte Carlo, {args.chips} chips x {args.inputs} images ({load_text()}):")
            print(f"  1 worker  {t1:7.1f} s   ({t1 / args.chips:.2f} s per chip)")
            print(f"  2 workers {t2:7.1f} s   speed-up {t1 / t2:.2f}x   "
                  f"identical per-chip accuracies: {same}")
            print(f"  accuracy vs the float model {100 * r1['mean']:.1f} % +- {100 * r1['std']:.1f}")
        if "irdrop" not in skip:
            n = n_arrays if args.arrays <= 0 else min(args.arrays, n_arrays)
            kw = dict(seed=0, chunk=args.chunk, arrays=n, bundle=bundle)
            e1, t1 = timed(irdrop_of_arrays, model, scheduler=one, **kw)
            e2, t2 = timed(irdrop_of_arrays, model, scheduler=two, **kw)
            loss = np.array([v for _, v in e1])
            tasks = -(-n // args.chunk)
            print(f"\nEffective weights of {n} arrays, {tasks} tasks of {args.chunk} ({load_text()}):")
            print(f"  1 worker  {t1:7.1f} s   ({1e3 * t1 / n:.1f} ms per array)")
            print(f"  2 workers {t2:7.1f} s   speed-up {t1 / t2:.2f}x   identical: {e1 == e2}")
            print(f"  column current change from IR drop: median {100 * np.median(loss):.2f} %, "
                  f"worst {100 * loss.min():.2f} %")
        if "overhead" not in skip:
            tasks = [Task(f"e{i}", {"i": i}) for i in range(args.empty)]
            _, td = timed(run_jobs, empty_job, tasks, None, scheduler=two)
            _, tp = timed(run_jobs, empty_job, tasks, None, workers=2)
            _, ti = timed(run_jobs, empty_job, tasks, None)
            print(f"\nScheduling overhead, {args.empty} empty tasks ({load_text()}):")
            print(f"  Dask, 2 workers      {1e3 * td / args.empty:8.3f} ms per task")
            print(f"  local pool, 2        {1e3 * tp / args.empty:8.3f} ms per task (process start included)")
            print(f"  in this process      {1e3 * ti / args.empty:8.3f} ms per task")


if __name__ == "__main__":
    main()
