"""How ngspice's time for one array harness grows with the array size, and why.

The digits MLP compiled for a target (default rram) at square arrays of each size in
--sizes; its first array (fc1.r0c0, chip seed 0) is written as the harness anncc emits
(`netlist.harness`: every row's DAC a PWL table of one swept index, so the matrix is
ordered once) with ngspice's `rusage all` around the sweep, and run with `ngspice -b`.
Printed per size: equations, the matrix's fill-in, Newton iterations, ngspice's own
reorder / factor / solve times, the process's CPU seconds, wall seconds, and
`cost.estimate_seconds` (the model `verify` uses to refuse big arrays) with the ratio
measured/estimated. --alter adds, for sizes up to 64, the same vectors as plain DC
sources changed with `alter` and one `op` each (ngspice re-orders the matrix on every
`op`, which is why the harness sweeps instead). --klu adds `.options klu` (ignored by
an ngspice built without KLU, such as Debian's 39: the times are then unchanged).

    python bench/bench_spice_scaling.py --sizes 32 64 128
    python bench/bench_spice_scaling.py --sizes 32 64 --alter
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

_RUSAGE = {"equations": r"Circuit Equations = (\d+)", "fill_in": r"Circuit fill-in non-zeroes = (\d+)",
           "iterations": r"Total iterations = (\d+)", "reorder_s": r"Matrix reorder time = ([\d.]+)",
           "factor_s": r"Matrix factor time = ([\d.]+)", "solve_s": r"Matrix solve time = ([\d.]+)"}


def _parse(log: str) -> dict[str, float]:
    out = {}
    for key, pat in _RUSAGE.items():
        hits = re.findall(pat, log)
        if hits:
            out[key] = float(hits[-1])  # the second `rusage all` (after the analysis)
    return out


def _alter_deck(deck: str, v: np.ndarray) -> str:
    """The harness with plain DC sources changed by `alter`, one `op` per vector."""
    lines, in_dac = [], False
    for ln in deck.splitlines():
        if ln.startswith("Bdac"):
            in_dac = True
        if not (in_dac or ln.startswith("Vidx") or ln == ".end"):
            lines.append(ln)
        if in_dac and ln.startswith("+ )"):
            in_dac = False
    body = "\n".join(lines)
    src = "\n".join(f"Vdac{i} in{i} 0 DC {float(v[0, i])!r}" for i in range(v.shape[1]))
    ctl = ["op"]
    for k in range(1, v.shape[0]):
        ctl += [f"alter vdac{i} dc = {float(v[k, i])!r}" for i in range(v.shape[1])] + ["op"]
    return f"{body}\n{src}\n.control\nrusage all\n" + "\n".join(ctl) + "\nrusage all\nquit 0\n.endc\n.end\n"


def _run(deck: str, folder: Path, name: str, timeout_s: float) -> dict[str, float | str]:
    path = folder / f"{name}.cir"
    path.write_text(deck)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        proc = subprocess.run(["ngspice", "-b", path.name], cwd=folder, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish in {timeout_s:g} s"}
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res: dict[str, float | str] = dict(_parse(proc.stdout + proc.stderr))
    res.update(status="ok" if proc.returncode == 0 else f"exit {proc.returncode}", wall_s=wall,
               cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="rram")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--vectors", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per ngspice run")
    ap.add_argument("--alter", action="store_true", help="also alter + op per vector (sizes <= 64)")
    ap.add_argument("--klu", action="store_true", help="also with .options klu")
    args = ap.parse_args()

    import anncc
    from anncc.backends.spice.arrays import array_inputs, collect_arrays, row_voltages
    from anncc.backends.spice.cost import estimate_seconds
    from anncc.backends.spice.netlist import harness
    from anncc.examples import digits

    model = digits.train_mlp()
    x_train, _, x_test, _ = digits.load_digits_split(flat=True)
    print(f"target {args.target}, digits MLP, array fc1.r0c0, chip seed 0, {args.vectors} vectors")
    print("| size | variant | equations | fill-in | iterations | reorder s | factor s | solve s | CPU s "
          "| wall s | estimate s | CPU/estimate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.sizes:
            cm = anncc.compile(model, x_test[:1], target=args.target, w_bits=4, in_bits=8,
                               calib=x_train[:128], target_overrides={"array_rows": n, "array_cols": n})
            (arr,) = collect_arrays(cm, seed=0, names=["fc1.r0c0"])
            v = row_voltages(arr, array_inputs(cm, x_test[:4], [arr.tile])[arr.tile], args.vectors)
            deck = harness(arr, v, inline=True, control=False)
            sweep = deck.replace("\n.end", f"\n.control\nrusage all\ndc Vidx 0 {len(v) - 1} 1\n"
                                           "rusage all\nquit 0\n.endc\n.end")
            variants = [("sweep", sweep)]
            if args.klu:
                variants.append(("sweep + .options klu", sweep.replace("\nVidx", "\n.options klu\nVidx", 1)))
            if args.alter and n <= 64:
                variants.append(("alter + op", _alter_deck(deck, v)))
            est = estimate_seconds(n, n, len(v), arr.bias_dependent)
            for label, text in variants:
                r = _run(text, folder, f"a{n}", args.timeout)
                if r["status"] != "ok":
                    print(f"| {n}x{n} | {label} | {r['status']} | | | | | | | | {est:.1f} | |")
                    continue

                def f(key: str, fmt: str = ".2f", r: dict = r) -> str:
                    return format(r[key], fmt) if key in r else "?"

                ratio = float(r["cpu_s"]) / est if label == "sweep" else float("nan")
                print(f"| {n}x{n} | {label} | {f('equations', '.0f')} | {f('fill_in', '.0f')} | "
                      f"{f('iterations', '.0f')} | {f('reorder_s')} | {f('factor_s')} | {f('solve_s')} | "
                      f"{f('cpu_s')} | {f('wall_s')} | {est:.1f} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
