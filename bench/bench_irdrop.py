"""IR-drop solvers side by side: ngspice vs the sparse direct solve vs CG, and a 706×706 array.

Parasitics of Yi Li et al., Nature Electronics 2022 (706×706 array): R_wire 2.5 Ω per
segment, R_contact 50 Ω; cells uniform in 5–10 kΩ; inputs uniform in 0–0.2 V.

Part 1, for each size in --sizes (default 64 and 128): wall time of ngspice (one
`ngspice -b` process for all input vectors, netlist writing and parsing included),
of `solve_direct` (factorization and solve, the per-shape pattern already cached,
as for every array after the first of its shape), and of `solve_cg`; the speed-up
over ngspice and the max relative error of each against ngspice. ngspice 39 from
Debian takes minutes at 128×128 (DESIGN.md measured 158 s): `--skip-ngspice-128`.

Part 2, at --big (default 706): the exact solve (factor + one input) with its peak
memory, CG with its error against it, the effective-weight extraction for the whole
array, and then one input as a dense matrix product. Each runs in a fresh process
so that its peak resident memory (ru_maxrss) is its own. Every timing is given as
wall time and as the process's CPU time (time.process_time, all threads): on a
machine shared with other work the wall time stretches, the CPU time much less.
The default backend at this size is dense-nd; --compare-splu also runs the exact
solve and the effective weights with SuperLU (the fallback), in fresh processes too.

    python bench/bench_irdrop.py                      # everything (ngspice 128 is slow)
    python bench/bench_irdrop.py --skip-ngspice-128
    python bench/bench_irdrop.py --sizes 32,64 --big 0
    python bench/bench_irdrop.py --no-ngspice --sizes "" --compare-splu
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import platform
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from anncc.runtime import irdrop
from anncc.runtime.irdrop import (
    MeshParams,
    alpha_beta,
    effective_weights,
    solve_cg,
    solve_direct,
)

PARAMS = MeshParams(r_wire_ohm=2.5, r_contact_ohm=50.0)


def make_array(n: int, n_vectors: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    G = 1.0 / rng.uniform(5e3, 10e3, (n, n))
    V = rng.uniform(0.0, 0.2, (n, n_vectors))
    return G, V


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeats` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time and CPU time (this process, all threads) of one call, and its result."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def peak_mib(base: float) -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def ngspice_version() -> str:
    exe = shutil.which("ngspice")
    if exe is None:
        return "not installed"
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False).stdout
    line = next((s for s in out.splitlines() if "ngspice-" in s), "ngspice")
    return line.strip(" *")


# ----------------------------------------------------------------------------- part 1


def compare_with_ngspice(n: int, n_vectors: int, seed: int, run_spice: bool) -> dict[str, Any]:
    G, V = make_array(n, n_vectors, seed)
    solve_direct(*make_array(n, 1, seed + 1), PARAMS)  # cache the pattern of this shape
    solve_cg(*make_array(8, 1, seed), PARAMS)  # import/warm-up outside the timings
    t_direct, exact = timed(lambda: solve_direct(G, V, PARAMS), repeats=3)
    t_cg, cg = timed(lambda: solve_cg(G, V, PARAMS, rtol=1e-12), repeats=3)
    row: dict[str, Any] = {
        "n": n,
        "t_direct": t_direct,
        "t_cg": t_cg,
        "cg_iters": cg.iterations,
        "cg_vs_direct": rel_err(cg.currents, exact),
        "irdrop": alpha_beta(G, PARAMS).expected_error,
    }
    if run_spice:
        from anncc.backends.spice.mesh import run_mesh

        t_spice, spice = timed(lambda: run_mesh(G, V, PARAMS))
        row.update(
            t_spice=t_spice,
            direct_vs_spice=rel_err(exact, spice),
            cg_vs_spice=rel_err(cg.currents, spice),
        )
    return row


# ----------------------------------------------------------------------------- part 2


def _child(task: str, n: int, seed: int, queue: Any) -> None:
    G, V = make_array(n, 1, seed)
    backend = "splu" if task.endswith("-splu") else "auto"
    base = rss_mib()
    out: dict[str, Any] = {"backend": irdrop._auto_backend(n, n) if backend == "auto" else backend}
    if task in ("direct", "direct-splu"):
        # The first solve of a shape builds its pattern/plan; later arrays of that shape reuse it.
        first = timed_cpu(lambda: solve_direct(G, V, PARAMS, backend=backend))
        out["t_first"], out["cpu_first"], exact = first
        out["peak_mib"] = peak_mib(base)
        G2, _ = make_array(n, 1, seed + 1)
        cached = timed_cpu(lambda: solve_direct(G2, V, PARAMS, backend=backend))
        out["t_cached"], out["cpu_cached"], _ = cached
        out["exact"] = exact
    elif task == "cg":
        out["t"], out["cpu"], cg = timed_cpu(lambda: solve_cg(G, V, PARAMS, rtol=1e-12))
        out["peak_mib"] = peak_mib(base)
        out["currents"], out["iters"] = cg.currents, cg.iterations
    elif task in ("geff", "geff-splu"):
        out["t"], out["cpu"], g_eff = timed_cpu(lambda: effective_weights(G, PARAMS, backend=backend))
        out["peak_mib"] = peak_mib(base)
        v = V[:, 0].copy()
        out["t_matvec"], out["currents"] = timed(lambda: v @ g_eff, repeats=200)
    queue.put(out)


def in_fresh_process(task: str, n: int, seed: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(task, n, seed, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def big_array(n: int, seed: int, compare_splu: bool = False) -> list[tuple[str, str, str]]:
    direct = in_fresh_process("direct", n, seed)
    cg = in_fresh_process("cg", n, seed)
    geff = in_fresh_process("geff", n, seed)
    exact = direct["exact"][0]
    rows = [
        (
            f"exact solve, {direct['backend']} (factor + 1 input)",
            f"{direct['t_cached']:.2f} s wall, {direct['cpu_cached']:.2f} s CPU "
            f"(first of its shape: {direct['t_first']:.2f} s wall, {direct['cpu_first']:.2f} s CPU)",
            f"peak {direct['peak_mib']:.0f} MiB",
        ),
        (
            "CG, rtol 1e-12",
            f"{cg['t']:.2f} s wall, {cg['cpu']:.2f} s CPU, {cg['iters']} iterations",
            f"peak {cg['peak_mib']:.0f} MiB, err vs exact {rel_err(cg['currents'][0], exact):.1e}",
        ),
        (
            f"effective weights, {geff['backend']}, whole array",
            f"{geff['t']:.2f} s wall, {geff['cpu']:.2f} s CPU",
            f"peak {geff['peak_mib']:.0f} MiB",
        ),
        (
            "then one input: v @ G_eff",
            f"{geff['t_matvec'] * 1e3:.3f} ms",
            f"err vs exact {rel_err(geff['currents'], exact):.1e}",
        ),
    ]
    if compare_splu:
        direct_lu = in_fresh_process("direct-splu", n, seed)
        geff_lu = in_fresh_process("geff-splu", n, seed)
        rows += [
            (
                "exact solve, splu (the fallback)",
                f"{direct_lu['t_cached']:.2f} s wall, {direct_lu['cpu_cached']:.2f} s CPU "
                f"(first of its shape: {direct_lu['t_first']:.2f} s wall, "
                f"{direct_lu['cpu_first']:.2f} s CPU)",
                f"peak {direct_lu['peak_mib']:.0f} MiB, "
                f"{direct['backend']} vs splu {rel_err(exact, direct_lu['exact'][0]):.1e}",
            ),
            (
                "effective weights, splu",
                f"{geff_lu['t']:.2f} s wall, {geff_lu['cpu']:.2f} s CPU",
                f"peak {geff_lu['peak_mib']:.0f} MiB, "
                f"err vs exact {rel_err(geff_lu['currents'], exact):.1e}",
            ),
        ]
    return rows


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,128", help="array sizes compared with ngspice")
    ap.add_argument("--vectors", type=int, default=1, help="input vectors per array")
    ap.add_argument("--skip-ngspice-128", action="store_true", help="no ngspice at >= 128")
    ap.add_argument("--no-ngspice", action="store_true", help="no ngspice at all")
    ap.add_argument("--big", type=int, default=706, help="size of part 2 (0 skips it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare-splu", action="store_true", help="also time SuperLU at --big (slow)")
    args = ap.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {mp.cpu_count()} cores")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (CPU times below are per process)")
    print(f"dense-nd: {irdrop._ND_WORKERS} worker thread(s), BLAS held to 1 thread inside")
    print(f"ngspice: {ngspice_version()}; R_wire 2.5 ohm, R_contact 50 ohm, cells 5-10 kOhm")
    print(f"input vectors per array: {args.vectors}\n")

    have_spice = shutil.which("ngspice") is not None and not args.no_ngspice
    header = (
        f"{'array':>9} | {'a/2+2b':>7} | {'ngspice':>9} | {'direct':>9} | {'CG (it)':>12} | "
        f"{'spice/direct':>12} | {'spice/CG':>9} | {'err direct':>10} | {'err CG':>8}"
    )
    print(header)
    print("-" * len(header))
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        run_spice = have_spice and not (args.skip_ngspice_128 and n >= 128)
        r = compare_with_ngspice(n, args.vectors, args.seed, run_spice)
        cg = f"{r['t_cg'] * 1e3:.1f} ms ({r['cg_iters']})"
        direct = f"{r['t_direct'] * 1e3:.1f} ms"
        if "t_spice" in r:
            print(
                f"{n:>4}x{n:<4} | {100 * r['irdrop']:>6.0f}% | {r['t_spice']:>7.2f} s | "
                f"{direct:>9} | {cg:>12} | {r['t_spice'] / r['t_direct']:>11.0f}x | "
                f"{r['t_spice'] / r['t_cg']:>8.0f}x | {r['direct_vs_spice']:>10.1e} | "
                f"{r['cg_vs_spice']:>8.1e}"
            )
        else:
            print(
                f"{n:>4}x{n:<4} | {100 * r['irdrop']:>6.0f}% | {'skipped':>9} | {direct:>9} | "
                f"{cg:>12} | {'-':>12} | {'-':>9} | {'-':>10} | {r['cg_vs_direct']:>8.1e}"
            )
    side = math.isqrt(irdrop._DENSE_ND_MIN_SITES)
    print(f"('direct' is solve_direct's default backend: dense-nd from {side}x{side} cells up, else SuperLU)")
    print("(errors: max |I - I_ngspice| / max |I_ngspice|; 'err CG' is vs direct where ngspice")
    print(" was skipped; goals: >= 1000x faster than ngspice at 128x128, error <= 1e-9)\n")

    if args.big > 0:
        n = args.big
        print(f"{n}x{n} array ({2 * n * n:,} nodes), one input vector, each in a fresh process:")
        rows = big_array(n, args.seed, args.compare_splu)
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        for name, t, extra in rows:
            print(f"  {name:<{w0}} | {t:<{w1}} | {extra}")
        print("  (goals: exact solve < 2 s and < 1 GB; effective weights < 20 s)")


if __name__ == "__main__":
    main()
