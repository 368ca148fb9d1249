"""The job layer (runtime/jobs.py): ordering, faults, resume; Monte Carlo on a Dask LocalCluster.

Job functions live at module level so that spawned pool processes and Dask
workers import them by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from cell_ir import mlp_model, teacher_labels

from anncc.errors import AnnccError
from anncc.runtime.analog import IDEAL_OPTIONS
from anncc.runtime.jobs import JobsFailed, ResultsFile, Task, resolve_scheduler, run_jobs
from anncc.runtime.montecarlo import Condition, ModelBundle, monte_carlo, monte_carlo_study

NOISY = dict(IDEAL_OPTIONS, d2d=True, adc_noise=True, adc_noise_sigma_lsb=0.7)


# --------------------------------------------------------------------------- job functions


def draw(shared: dict, seed: int, log: str = "") -> list[float]:
    """A seeded job that reads the shared payload, and notes (in `log`) that it ran."""
    if log:
        with open(log, "a") as f:
            f.write(f"{seed}\n")
    rng = np.random.default_rng(seed)
    return [float(shared["scale"] * rng.standard_normal()), os.getpid()]


def fail_on_three(shared: dict, seed: int, log: str = "") -> list[float]:
    """Fails deterministically for seed 3 (same cause every time)."""
    if seed == 3:
        raise ValueError(f"cannot simulate chip {seed}: conductance out of range")
    return draw(shared, seed, log)


def kill_worker_once(shared: dict, seed: int, marker: str) -> list[float]:
    """Kills its own worker process the first time seed 2 runs (the marker file remembers)."""
    if seed == 2 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return draw(shared, seed)


def interrupt_at(shared: dict, seed: int, stop: int, log: str) -> list[float]:
    """Stands for Ctrl-C or a dying client: interrupts the whole study at seed `stop`."""
    if seed == stop:
        raise KeyboardInterrupt
    return draw(shared, seed, log)


def _values(results: list[list[float]]) -> list[float]:
    return [r[0] for r in results]


def _tasks(n: int, **args) -> list[Task]:
    return [Task(f"chip-{s}", dict(args, seed=s)) for s in range(n)]


SHARED = {"scale": 2.0}
EXPECTED = [2.0 * float(np.random.default_rng(s).standard_normal()) for s in range(6)]


# --------------------------------------------------------------------------- local


def test_results_come_back_in_task_order_keyed_and_seeded():
    assert _values(run_jobs(draw, _tasks(6), SHARED)) == EXPECTED
    shuffled = _tasks(6)[::-1]
    assert _values(run_jobs(draw, shuffled, SHARED)) == EXPECTED[::-1]
    with pytest.raises(AnnccError, match="unique"):
        run_jobs(draw, [Task("a", {"seed": 0}), Task("a", {"seed": 1})], SHARED)


def test_scheduler_comes_from_the_argument_else_the_environment(monkeypatch):
    monkeypatch.delenv("ANNCC_SCHEDULER", raising=False)
    assert resolve_scheduler(None) is None
    monkeypatch.setenv("ANNCC_SCHEDULER", "tcp://10.0.0.1:8786")
    assert resolve_scheduler(None) == "tcp://10.0.0.1:8786"
    assert resolve_scheduler("local") is None
    assert resolve_scheduler("tcp://h:1") == "tcp://h:1"


def test_a_deterministic_failure_is_reported_once_with_its_cause_and_the_rest_still_runs(tmp_path):
    log = tmp_path / "ran.log"
    with pytest.raises(JobsFailed) as e:
        run_jobs(fail_on_three, _tasks(6, log=str(log)), SHARED, results_path=tmp_path / "r.json")
    assert [f.key for f in e.value.failures] == ["chip-3"]
    assert "ValueError: cannot simulate chip 3" in str(e.value) and "--resume" in str(e.value)
    assert sorted(int(s) for s in log.read_text().split()) == [0, 1, 2, 4, 5]  # tried once, not again
    kept = json.loads((tmp_path / "r.json").read_text())["results"]
    assert sorted(kept) == ["chip-0", "chip-1", "chip-2", "chip-4", "chip-5"]


def test_an_interrupted_study_resumes_with_only_the_missing_tasks(tmp_path):
    results, log = tmp_path / "study.json", tmp_path / "ran.log"
    study = {"model": "digest-1"}
    with pytest.raises(KeyboardInterrupt):
        run_jobs(interrupt_at, _tasks(6, stop=4, log=str(log)), SHARED, results_path=results,
                 study=study)
    assert sorted(json.loads(results.read_text())["results"]) == [f"chip-{s}" for s in range(4)]
    log.unlink()
    out = run_jobs(interrupt_at, _tasks(6, stop=-1, log=str(log)), SHARED, results_path=results,
                   study=study, resume=True)
    assert sorted(int(s) for s in log.read_text().split()) == [4, 5]
    assert _values(out) == EXPECTED
    with pytest.raises(AnnccError, match="another study"):
        ResultsFile(results, {"model": "digest-2"}, resume=True)
    assert ResultsFile(results, {"model": "digest-2"}, resume=False).results == {}


@pytest.mark.slow
def test_local_pool_survives_a_killed_worker_and_matches_in_process(tmp_path):
    out = run_jobs(kill_worker_once, _tasks(6, marker=str(tmp_path / "m")), SHARED, workers=2)
    assert (tmp_path / "m").exists() and _values(out) == EXPECTED
    assert len({pid for _, pid in out}) >= 2  # a second process finished what the first could not


# --------------------------------------------------------------------------- Dask LocalCluster


def _cluster(n: int):
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                    dashboard_address=":0", silence_logs=40)


@pytest.fixture(scope="module")
def cluster2():
    with _cluster(2) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def digits_mlp():
    from anncc.examples.digits import load_digits_split

    cm, _ = mlp_model([64, 16, 10], target="rram", n_calib=64, seed=2)
    x = load_digits_split(flat=True)[2][:48]
    return cm, x, teacher_labels(cm, x)


def test_dask_runs_tasks_with_one_copy_of_the_payload_per_worker(cluster2, tmp_path):
    out = run_jobs(draw, _tasks(6), SHARED, scheduler=cluster2, progress=True)
    assert _values(out) == EXPECTED and len({pid for _, pid in out}) <= 2
    with pytest.raises(JobsFailed) as e:
        run_jobs(fail_on_three, _tasks(6, log=str(tmp_path / "log")), SHARED, scheduler=cluster2)
    assert [(f.key, f.cause) for f in e.value.failures] == [
        ("chip-3", "ValueError: cannot simulate chip 3: conductance out of range")]
    assert sorted((tmp_path / "log").read_text().split()) == ["0", "1", "2", "4", "5"]


def test_dask_worker_killed_mid_run_is_retried_elsewhere(cluster2, tmp_path):
    marker = tmp_path / "killed"
    out = run_jobs(kill_worker_once, _tasks(6, marker=str(marker)), SHARED, scheduler=cluster2,
                   results_path=tmp_path / "r.json")
    assert marker.exists() and _values(out) == EXPECTED
    assert len(json.loads((tmp_path / "r.json").read_text())["results"]) == 6


def test_monte_carlo_is_the_same_on_one_and_two_dask_workers_and_the_local_pool(cluster2, digits_mlp):
    cm, x, y = digits_mlp
    here = monte_carlo(cm, x, y, trials=4, seed=7, **NOISY)
    assert not here["deterministic"] and len(set(here["per_trial"])) > 1
    two = monte_carlo(cm, x, y, trials=4, seed=7, scheduler=cluster2, **NOISY)
    assert two["per_trial"] == here["per_trial"] and two["ci95"] == here["ci95"]
    with _cluster(1) as one:
        assert monte_carlo(cm, x, y, trials=4, seed=7, scheduler=one.scheduler_address,
                           **NOISY)["per_trial"] == here["per_trial"]


@pytest.mark.slow
def test_monte_carlo_local_pool_equals_in_process(digits_mlp):
    cm, x, y = digits_mlp
    here = monte_carlo(cm, x, y, trials=3, seed=7, **NOISY)
    assert monte_carlo(cm, x, y, trials=3, seed=7, workers=2, **NOISY)["per_trial"] == here["per_trial"]


def test_model_bundle_is_content_addressed_and_loads_the_same_model(digits_mlp):
    cm, x, _ = digits_mlp
    a, b = ModelBundle.of(cm), ModelBundle.of(cm)
    assert a.token == b.token and "weights.safetensors" in a.files
    assert torch.equal(a.model().run(x, level="cell"), cm.run(x, level="cell"))
    assert a.model() is b.model()  # loaded once per process


def test_eval_resume_keeps_finished_trials_and_runs_only_the_missing_ones(digits_mlp, tmp_path):
    cm, x, y = digits_mlp
    conds = [Condition("ideal devices", False), Condition("rram devices", True, dict(NOISY))]
    path = tmp_path / "mc.json"
    full = monte_carlo_study(cm, x, y, conds, trials=3, seed=1, results_path=path)
    doc = json.loads(path.read_text())
    assert sorted(doc["results"]) == ["ideal devices/seed=1", "rram devices/seed=1",
                                      "rram devices/seed=2", "rram devices/seed=3"]
    # an interrupted study: seed 3 never finished; seed 1 was kept (marked so we can tell)
    del doc["results"]["rram devices/seed=3"]
    doc["results"]["rram devices/seed=1"] = 0.125
    path.write_text(json.dumps(doc))
    resumed = monte_carlo_study(cm, x, y, conds, trials=3, seed=1, results_path=path, resume=True)
    assert resumed[1]["per_trial"] == [0.125] + full[1]["per_trial"][1:]
    assert resumed[0]["per_trial"] == full[0]["per_trial"]
    with pytest.raises(AnnccError, match="another study"):
        monte_carlo_study(cm, x[:40], y[:40], conds, trials=3, seed=1, results_path=path, resume=True)


def test_anncc_eval_resume_on_the_command_line(digits_mlp, tmp_path, capsys):
    from anncc.cli import main

    cm, x, y = digits_mlp
    cm.save(tmp_path / "build")
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=y.numpy())
    argv = ["eval", str(tmp_path / "build"), "--trials", "2", "--json", "--data", str(tmp_path / "d.npz")]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    kept = tmp_path / "build" / "eval-results.json"
    assert kept.exists()
    assert main(argv + ["--resume", "--trials", "3"]) == 0
    more = json.loads(capsys.readouterr().out)
    assert more["conditions"][1]["per_trial"][:2] == first["conditions"][1]["per_trial"]
    assert len(json.loads(kept.read_text())["results"]) == 1 + 3
    assert main(argv + ["--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_dask_single_worker_killed_loses_the_payload_and_it_is_scattered_again(tmp_path):
    with _cluster(1) as one:
        out = run_jobs(kill_worker_once, _tasks(6, marker=str(tmp_path / "m")), SHARED,
                       scheduler=one.scheduler_address)
    assert (tmp_path / "m").exists() and _values(out) == EXPECTED


def test_effective_weights_of_every_array_as_jobs_match_in_process(cluster2, digits_mlp):
    from anncc.runtime.arrayjobs import cell_arrays, irdrop_of_arrays

    cm, _, _ = digits_mlp
    here = irdrop_of_arrays(cm, seed=4, chunk=1)
    assert [t for t, _ in here] == [op.params().tile for op in cell_arrays(cm)]
    assert all(-0.5 < loss < 0 for _, loss in here)  # wire resistance only ever takes current away
    assert irdrop_of_arrays(cm, seed=4, chunk=1, scheduler=cluster2) == here
