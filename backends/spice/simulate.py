"""Run array harnesses in-process through PySpice's shared ngspice (libngspice), or `ngspice -b`.

`simulate_deck(deck, n_vectors, n_cols)` loads one self-contained deck (the
harness with its subcircuit inline and no `.control` block) into
`NgSpiceShared`, runs the DC sweep over its input vectors and returns the
column currents `[V, n_cols]` as a numpy array read straight from ngspice's
vectors (`vsense<j>#branch`), no output parsing. Many vectors per loaded
circuit: the sweep steps through them with one matrix ordering.

`simulate_many(jobs, workers)` runs decks in parallel worker processes (spawned,
one libngspice per process) with a tqdm progress bar and a timeout per deck.

Errors, one line each (AnnccError): libngspice missing (how to install it),
non-convergence (ngspice's own words), a timeout.

`simulate_batch_subprocess(deck_path, ...)`: the same harness through an
`ngspice -b` process (its .control block writes the currents with `wrdata`),
for the by-hand check and the benchmark.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anncc.errors import AnnccError, ToolMissingError

__all__ = [
    "INSTALL_HINT",
    "SpiceConvergenceError",
    "SpiceJob",
    "SpiceTimeoutError",
    "open_ngspice",
    "read_wrdata",
    "simulate_deck",
    "simulate_many",
    "simulate_batch_subprocess",
]

INSTALL_HINT = "install it with: apt-get install -y libngspice0-dev"
_FAILURES = ("no convergence", "singular matrix", "simulation(s) aborted", "gmin stepping failed",
             "source stepping failed", "timestep too small", "too many iterations")


class SpiceConvergenceError(AnnccError):
    """ngspice could not find the operating point of a deck."""


class SpiceTimeoutError(AnnccError):
    """A SPICE simulation ran past its time limit."""


_INSTANCE: Any = None


def open_ngspice() -> Any:
    """This process's shared ngspice (created once), or ToolMissingError saying how to install it."""
    global _INSTANCE
    if _INSTANCE is not None:
        return _INSTANCE
    import logging
    import warnings

    logging.getLogger("PySpice").setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except ImportError as e:
        raise ToolMissingError("PySpice is not installed; in-process SPICE needs it",
                               hint="pip install PySpice==1.5") from e
    try:
        _INSTANCE = NgSpiceShared.new_instance()
    except OSError as e:
        raise ToolMissingError(f"libngspice could not be loaded ({str(e).splitlines()[0][:120]})",
                               hint=INSTALL_HINT) from e
    return _INSTANCE


def _tail(lines: str, n: int = 3) -> str:
    rows = [r.strip() for r in lines.strip().splitlines() if r.strip()]
    return " | ".join(rows[-n:])


def _failure(text: str) -> str | None:
    low = text.lower()
    return next((p for p in _FAILURES if p in low), None)


def simulate_deck(deck: str, n_vectors: int, n_cols: int, *, where: str = "deck") -> np.ndarray:
    """Column currents [n_vectors, n_cols] of a harness deck (inline subcircuit, no .control)."""
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

    ng = open_ngspice()
    try:
        ng.load_circuit(deck)
        last = max(n_vectors - 1, 1)
        ng.exec_command(f"dc vidx 0 {last} 1")
    except (NgSpiceCommandError, NameError) as e:
        out = ng.stdout + "\n" + ng.stderr
        cause = _failure(out) or "the simulation failed"
        _reset(ng)
        raise SpiceConvergenceError(f"ngspice found no operating point ({cause})", where=where,
                                    hint=_tail(out)) from e
    out = ng.stdout + "\n" + ng.stderr
    if _failure(out):
        _reset(ng)
        raise SpiceConvergenceError(f"ngspice found no operating point ({_failure(out)})",
                                    where=where, hint=_tail(out))
    plot = ng.last_plot
    api = ng._ngspice_shared
    from PySpice.Spice.NgSpice.Shared import ffi

    cur = np.empty((n_vectors, n_cols))
    for j in range(n_cols):
        info = api.ngGet_Vec_Info(f"{plot}.vsense{j}#branch".encode())
        if info == ffi.NULL or info.v_length < n_vectors:
            raise SpiceConvergenceError(f"ngspice returned no current for column {j}", where=where,
                                        hint=_tail(out))
        buf = np.frombuffer(ffi.buffer(info.v_realdata, info.v_length * 8), dtype=np.float64)
        cur[:, j] = buf[:n_vectors]
    _reset(ng)
    return cur


def _reset(ng: Any) -> None:
    """Drop the loaded circuit and its plots, so the next deck starts clean."""
    for cmd in ("destroy all", "remcirc"):
        try:
            ng.exec_command(cmd)
        except Exception:  # noqa: BLE001 - nothing loaded is fine
            pass


@dataclass(frozen=True)
class SpiceJob:
    """One deck to simulate: its name, text, and the size of the result."""

    name: str
    deck: str
    n_vectors: int
    n_cols: int


def _worker(job: SpiceJob) -> tuple[str, np.ndarray | None, str | None, float]:
    import time

    t = time.perf_counter()
    try:
        return job.name, simulate_deck(job.deck, job.n_vectors, job.n_cols, where=job.name), None, \
            time.perf_counter() - t
    except AnnccError as e:
        return job.name, None, f"{type(e).__name__}\t{e}", time.perf_counter() - t


def _raise(err: str) -> None:
    kind, _, msg = err.partition("\t")
    cls = {"ToolMissingError": ToolMissingError, "SpiceConvergenceError": SpiceConvergenceError}
    raise cls.get(kind, AnnccError)(msg)


def simulate_many(jobs: Sequence[SpiceJob], workers: int = 2, timeout_s: float = 600.0,
                  progress: bool = True) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Simulate decks in `workers` spawned processes; results and seconds per deck, by name.

    workers <= 1 runs in this process (still one shared ngspice). A deck that
    runs past `timeout_s` stops everything with SpiceTimeoutError.
    """
    from tqdm import tqdm

    results: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(jobs), desc="ngspice", unit="array", disable=not progress,
               file=sys.stderr, leave=False)
    if workers <= 1 or len(jobs) <= 1:
        open_ngspice()
        for job in jobs:
            name, cur, err, dt = _worker(job)
            if err:
                _raise(err)
            results[name], seconds[name] = cur, dt  # type: ignore[assignment]
            bar.update(1)
        bar.close()
        return results, seconds
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(min(workers, len(jobs)))
    try:
        pending = [(job, pool.apply_async(_worker, (job,))) for job in jobs]
        for job, fut in pending:
            try:
                name, cur, err, dt = fut.get(timeout=timeout_s)
            except mp.TimeoutError as e:
                raise SpiceTimeoutError(f"ngspice did not finish within {timeout_s:g} s",
                                        where=job.name) from e
            if err:
                _raise(err)
            results[name], seconds[name] = cur, dt  # type: ignore[assignment]
            bar.update(1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        bar.close()
    return results, seconds


def read_wrdata(path: str | Path) -> np.ndarray:
    """Column currents [V, M] from a harness's `wrdata` file (header row, sweep column first)."""
    data = np.loadtxt(path, skiprows=1, ndmin=2)
    return data[:, 1:]


def simulate_batch_subprocess(deck_path: str | Path, n_vectors: int, *, timeout_s: float = 600.0,
                              ngspice: str = "ngspice") -> np.ndarray:
    """Run a written harness (with its .control block) in an `ngspice -b` process; currents [V, M].

    The harness writes `out/<name>.csv` relative to its own folder.
    """
    import shutil

    exe = shutil.which(ngspice)
    if exe is None:
        raise ToolMissingError(f"{ngspice!r} was not found on PATH",
                               hint="install it with: apt-get install -y ngspice")
    deck_path = Path(deck_path)
    folder = deck_path.parent
    (folder / "out").mkdir(exist_ok=True)
    out_csv = folder / "out" / f"{deck_path.stem}.csv"
    if out_csv.exists():
        out_csv.unlink()
    try:
        proc = subprocess.run([exe, "-b", deck_path.name], cwd=folder, capture_output=True, text=True,
                              timeout=timeout_s, check=False, env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired as e:
        raise SpiceTimeoutError(f"ngspice did not finish within {timeout_s:g} s",
                                where=str(deck_path)) from e
    text = proc.stdout + "\n" + proc.stderr
    if _failure(text) or not out_csv.exists():
        raise SpiceConvergenceError(f"ngspice found no operating point ({_failure(text) or 'no output'})",
                                    where=str(deck_path), hint=_tail(text))
    cur = read_wrdata(out_csv)
    return cur[:n_vectors]
