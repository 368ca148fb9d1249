"""SPICE vs runtime: simulate chosen arrays of a build in ngspice and compare with the runtime.

    from anncc.backends.spice.verify import run
    summary = run(Path("build"), arrays=None, seed=0, jobs=2)

For each chosen array (default: a sample covering every layer, `default_arrays`)
the chip of `seed` is programmed by the runtime's own code
(`arrays.collect_arrays`), its harness deck is written from the same
`ArrayMesh` the runtime's IR-drop solve reads, and ngspice (in-process through
PySpice, arrays in parallel processes) computes the column currents of every
input vector. Input vectors, in order of preference: `build/spice/vectors/
<array>.npy` (written by `anncc -o build/` from the model's calibration
inputs), `inputs` (float model inputs, run through the runtime to take each
array's integer input planes), else seeded random integer inputs.

Compared with the runtime, per array and vector:
- column currents: relative error |I_spice − I_runtime| / max(|I_runtime|, 1e-3·ΔG·V_lsb),
  which must be <= `rel_tol` (1e-6) with linear devices;
- ADC codes: the runtime's codes come from its own read pipeline (the count
  matrix of `ArrayModel` times the DAC digits, then `adc_`); SPICE's from
  (I_col − I_ref)/(ΔG·V_lsb) through the same ADC. They must be identical except
  where the runtime's count lies within `boundary_tol` of an ADC decision
  boundary: the count's uncertainty implied by `rel_tol` on both currents,
  rel_tol·(|I_col| + |I_ref|)/(ΔG·V_lsb), plus the runtime's own rounding of its
  count matrix (the largest difference between its read pipeline's counts and
  those of its currents). Those are counted (`near_boundary`)
  and reported, not failed.

Writes `build/spice/verify.json`, `build/spice/verify_table.md` (the error
table) and `build/figures/spice_parity.png` (the parity plot) for the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from anncc.backends.spice.arrays import (
    SpiceArray,
    array_inputs,
    collect_arrays,
    layer_of,
    row_voltages,
    spice_name,
)
from anncc.errors import AnnccError

__all__ = ["compare_array", "default_arrays", "run"]

REL_TOL = 1e-6


def default_arrays(model: Any, per_layer: int = 1) -> list[str]:
    """The first `per_layer` arrays of every layer (tile names): a sample covering every layer."""
    from anncc.backends.spice.arrays import _mvm_ops

    count: dict[str, int] = {}
    out = []
    for op in _mvm_ops(model):
        layer = layer_of(op)
        if count.get(layer, 0) < per_layer:
            count[layer] = count.get(layer, 0) + 1
            out.append(op.params().tile)
    return out


def _pipeline_counts(arr: SpiceArray, v: np.ndarray) -> np.ndarray:
    """The runtime read pipeline's counts [V, ncols] for row voltages v: digits @ count matrix."""
    digits = np.rint(v[:, arr.rowmap] / arr.v_lsb)
    mats = arr.model.counts.detach().double().numpy()
    if len(arr.model.digits) == 1:
        return digits @ mats[0]
    # bias-dependent cells with a multi-bit DAC: one count matrix per digit value (read_counts);
    # the netlist's cells are linear at V_read, so such arrays show up as code mismatches
    return sum(((digits == d) * d) @ m for d, m in zip(arr.model.digits, mats))


def compare_array(arr: SpiceArray, v: np.ndarray, i_spice: np.ndarray, rel_tol: float = REL_TOL
                  ) -> dict[str, Any]:
    """Currents and ADC codes of SPICE vs the runtime for one array (see the module docstring).

    Bias-dependent MTJ cells: the runtime's currents are its Newton solve of the mesh
    (`ArrayMesh.column_currents`), and its codes those of these currents; how many codes the
    fast read pipeline (per-digit conductances at the nominal digit bias, no iteration)
    gives differently is reported as `pipeline_code_diffs`, not failed.
    """
    i_rt = arr.runtime_currents(v)
    floor = 1e-3 * arr.unit_current_a
    rel = np.abs(i_spice - i_rt) / np.maximum(np.abs(i_rt), floor)
    c_pipe = _pipeline_counts(arr, v)
    c_from_i = arr.counts(i_rt)
    c_rt = c_from_i if arr.bias_dependent else c_pipe
    c_sp = arr.counts(i_spice)
    codes_rt = arr.adc_codes(c_rt)
    codes_sp = arr.adc_codes(c_sp)
    i_cols = np.abs(i_rt[:, arr.sensed_cols]) + np.abs(i_rt[:, arr.ref_col:arr.ref_col + 1])
    # the currents' tolerance in counts, plus the runtime's own rounding of its count
    # matrix (float32 where exact integers fit 24 bits)
    tol_counts = rel_tol * i_cols / arr.unit_current_a + np.abs(c_rt - c_from_i).max()
    near = arr.boundary_distance(c_rt) <= tol_counts
    mismatch = codes_rt != codes_sp
    return {
        "array": arr.name, "tile": arr.tile, "layer": arr.layer,
        "rows": arr.shape[0], "cols": arr.shape[1], "vectors": int(v.shape[0]),
        "bias_dependent": arr.bias_dependent,
        "max_rel_err_current": float(rel.max()),
        "max_abs_err_current_a": float(np.abs(i_spice - i_rt).max()),
        "pipeline_vs_currents_counts": float(np.abs(c_pipe - c_from_i).max()),
        "pipeline_code_diffs": int((arr.adc_codes(c_pipe) != codes_rt).sum()),
        "adc_codes": int(codes_rt.size),
        "adc_code_mismatches": int(mismatch.sum()),
        "mismatches_away_from_boundary": int((mismatch & ~near).sum()),
        "near_boundary": int(near.sum()),
        "_i_runtime": i_rt, "_i_spice": i_spice, "_codes_runtime": codes_rt, "_codes_spice": codes_sp,
    }


def _vectors(build_dir: Path, arrays: list[SpiceArray], model: Any, inputs: Any, seed: int,
             max_vectors: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    need = []
    for a in arrays:
        path = build_dir / "spice" / "vectors" / f"{a.name}.npy"
        if inputs is None and path.exists():
            v = np.load(path, allow_pickle=False)
            if v.ndim == 2 and v.shape[1] == a.shape[0]:
                out[a.name] = v[:max_vectors]
                continue
        need.append(a)
    if need and inputs is not None:
        xs = array_inputs(model, inputs, [a.tile for a in need])
        for a in need:
            out[a.name] = row_voltages(a, xs[a.tile], max_vectors)
    elif need:
        rng = np.random.default_rng(seed)
        for a in need:
            f = a.params
            lo, hi = (-(1 << (f.in_bits - 1)), 1 << (f.in_bits - 1)) if f.in_signed else (
                0, 1 << f.in_bits)
            x = rng.integers(lo, hi, size=(2, f.rows))
            out[a.name] = row_voltages(a, x, max_vectors)
    return out


def _parity_plot(rows: list[dict[str, Any]], path: Path, rel_tol: float = REL_TOL) -> Path:
    """Three panels: |I| runtime vs SPICE (log-log), relative errors against the tolerance, ADC codes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(13, 4))
    lo, hi = np.inf, 0.0
    for r in rows:
        i_rt, i_sp = np.abs(r["_i_runtime"].ravel()), np.abs(r["_i_spice"].ravel())
        keep = (i_rt > 0) & (i_sp > 0)
        if keep.any():
            ax.scatter(i_rt[keep] * 1e6, i_sp[keep] * 1e6, s=4, label=r["array"])
            lo = min(lo, float(i_rt[keep].min()), float(i_sp[keep].min()))
            hi = max(hi, float(i_rt[keep].max()), float(i_sp[keep].max()))
        err = np.abs(r["_i_spice"] - r["_i_runtime"]).ravel() / np.maximum(
            np.abs(r["_i_runtime"]).ravel(), 1e-30)
        bx.hist(np.log10(np.maximum(err, 1e-18)), bins=40, histtype="step", label=r["array"])
        c_rt, c_sp = r["_codes_runtime"].ravel(), r["_codes_spice"].ravel()
        same = c_rt == c_sp
        cx.scatter(c_rt[same], c_sp[same], s=6, alpha=0.5,
                   label=f"{r['array']}: {int(same.sum())}/{same.size} identical")
        if (~same).any():
            cx.scatter(c_rt[~same], c_sp[~same], s=18, marker="x", color="r")
    if hi > 0:
        ax.plot([lo * 1e6, hi * 1e6], [lo * 1e6, hi * 1e6], "k--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("runtime |column current| (µA)")
    ax.set_ylabel("ngspice |column current| (µA)")
    ax.set_title("column currents (log-log)")
    bx.axvline(np.log10(rel_tol), color="r", ls="--", lw=0.8, label=f"tolerance {rel_tol:g}")
    bx.set_xlabel("log10 relative error")
    bx.set_ylabel("column currents")
    bx.set_title("relative error, SPICE vs runtime")
    top = max([1] + [int(max(r["_codes_runtime"].max(), r["_codes_spice"].max())) for r in rows])
    cx.plot([0, top], [0, top], "k--", lw=0.8)
    cx.set_xlabel("runtime ADC code")
    cx.set_ylabel("SPICE ADC code")
    cx.set_title("ADC codes (x: differ)")
    if len(rows) <= 8:
        for a in (ax, bx, cx):
            a.legend(fontsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _table(rows: list[dict[str, Any]], seconds: dict[str, float] | None = None) -> str:
    """The error table (Markdown), one line per array."""
    sec = seconds or {}
    head = ("| array | layer | size | cells | vectors | ngspice s | max rel err (current) | ADC codes "
            "| mismatches | near boundary | pipeline codes differing |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['array']} | {r['layer']} | {r['rows']}x{r['cols']} | "
        f"{'MTJ, bias-dependent' if r.get('bias_dependent') else 'linear'} | {r['vectors']} | "
        f"{sec.get(r['array'], float('nan')):.1f} | "
        f"{r['max_rel_err_current']:.2e} | {r['adc_codes']} | {r['adc_code_mismatches']} | "
        f"{r['near_boundary']} | {r.get('pipeline_code_diffs', 0)} |\n" for r in rows)
    return head + body


def run(build_dir: Path, arrays: list[str] | None = None, seed: int = 0, jobs: int = 2, *,
        inputs: Any = None, max_vectors: int = 16, timeout_s: float = 600.0,
        rel_tol: float = REL_TOL, progress: bool = True, max_rows: int | None = None
        ) -> dict[str, Any]:
    """Simulate `arrays` of the build in ngspice and compare with the runtime (module docstring).

    max_rows: arrays with more physical rows are not simulated (default
    `cost.DEFAULT_MAX_ROWS`): named ones are refused, and the default sample skips
    them, each with ngspice's estimated time (`cost.estimate_seconds`); when no array
    is left, one error line says so. Returns {"passed", "arrays",
    "max_rel_err_current", "adc_code_mismatches", "near_boundary", "lines", "table"
    (Markdown), "per_array", "skipped"} (JSON-able) and writes verify.json, the error
    table and the parity plot into `build_dir`.
    """
    from anncc.backends.spice.cost import DEFAULT_MAX_ROWS, too_big_message
    from anncc.backends.spice.netlist import harness
    from anncc.backends.spice.simulate import SpiceJob, simulate_many
    from anncc.runtime.model import load

    build_dir = Path(build_dir)
    model = load(build_dir)
    names = list(arrays) if arrays else default_arrays(model)
    limit = DEFAULT_MAX_ROWS if max_rows is None else int(max_rows)
    if limit < 1:
        raise AnnccError(f"--max-rows must be >= 1, got {limit}")
    from anncc.backends.spice.arrays import _mvm_ops

    sizes = {op.params().tile: (int(op.params().array_rows), int(op.params().array_cols))
             for op in _mvm_ops(model)}
    sizes.update({spice_name(t): rc for t, rc in list(sizes.items())})
    bias = bool(getattr(model.target(), "BIAS_DEPENDENT", False))
    skipped = [n for n in names if sizes.get(n, (0, 0))[0] > limit]
    notes = [too_big_message(spice_name(n), *sizes[n], max_vectors, limit, bias) for n in skipped]
    if skipped and (arrays or len(skipped) == len(names)):
        raise AnnccError(notes[0] + (f" ({len(skipped) - 1} more such array(s))" if len(skipped) > 1 else ""),
                         where=str(build_dir))
    chosen = collect_arrays(model, seed=seed, names=[n for n in names if n not in skipped])
    if not chosen:
        raise AnnccError("no arrays to simulate", where=str(build_dir))
    volts = _vectors(build_dir, chosen, model, inputs, seed, max_vectors)
    sim_jobs = [SpiceJob(a.name, harness(a, volts[a.name], inline=True, control=False),
                         int(volts[a.name].shape[0]), a.shape[1]) for a in chosen]
    from anncc.backends.spice.cost import estimate_seconds

    # an array let through --max-rows gets the time it is expected to need (x3 for a shared machine)
    longest = max(estimate_seconds(*a.shape, j.n_vectors, a.bias_dependent) for a, j in zip(chosen, sim_jobs))
    currents, seconds = simulate_many(sim_jobs, workers=jobs, timeout_s=max(timeout_s, 3 * longest),
                                      progress=progress)
    rows = [compare_array(a, volts[a.name], currents[a.name], rel_tol) for a in chosen]
    max_rel = max(r["max_rel_err_current"] for r in rows)
    mism = sum(r["adc_code_mismatches"] for r in rows)
    away = sum(r["mismatches_away_from_boundary"] for r in rows)
    near = sum(r["near_boundary"] for r in rows)
    passed = bool(max_rel <= rel_tol and away == 0)
    target = getattr(chosen[0].target, "name", "?")
    lines = [f"spice: {len(rows)} array(s) of target {target}, chip seed {seed}, "
             f"{sum(r['vectors'] for r in rows)} input vector(s)"]
    for r in rows:
        lines.append(
            f"  {r['array']} ({r['layer']}, {r['rows']}x{r['cols']}, {r['vectors']} vectors, "
            f"{seconds.get(r['array'], 0.0):.2f} s): max rel err {r['max_rel_err_current']:.2e}, "
            f"ADC codes {r['adc_codes'] - r['adc_code_mismatches']}/{r['adc_codes']} identical, "
            f"{r['near_boundary']} near a boundary"
            + (f"; bias-dependent MTJs (Newton): the fast read pipeline differs on "
               f"{r['pipeline_code_diffs']} code(s)" if r.get("bias_dependent") else ""))
    lines += [f"  skipped: {n}" for n in notes]
    lines.append(f"spice: {'PASSED' if passed else 'FAILED'}: max rel err {max_rel:.2e} "
                 f"(tolerance {rel_tol:g}), {mism} ADC code mismatch(es), "
                 f"{away} away from a code boundary, {near} code(s) near a boundary")
    summary = {
        "passed": passed, "arrays": len(rows), "max_rel_err_current": max_rel,
        "adc_code_mismatches": mism, "near_boundary": near, "lines": lines,
        "seed": seed, "target": target, "rel_tol": rel_tol,
        "table": _table(rows, seconds),
        "per_array": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
        "skipped": notes, "max_rows": limit,
        "pipeline_code_diffs": sum(r["pipeline_code_diffs"] for r in rows),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    out = build_dir / "spice"
    out.mkdir(parents=True, exist_ok=True)
    (out / "verify.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (out / "verify_table.md").write_text(summary["table"])
    _parity_plot(rows, build_dir / "figures" / "spice_parity.png", rel_tol)
    summary["parity_plot"] = "figures/spice_parity.png"
    return summary


def spice_names(tiles: list[str]) -> list[str]:
    """SPICE names of tiles (`linear.r0c0` -> `linear_r0c0`)."""
    return [spice_name(t) for t in tiles]


def main(argv: list[str] | None = None) -> int:
    """`python -m anncc.backends.spice.verify build/ [--arrays A B] [--seed N] [--jobs N]`.

    Prints the summary lines; exit 0 when passed, 1 when not or on an error (one line).
    """
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m anncc.backends.spice.verify",
                                 description="ngspice vs the runtime on a build's arrays")
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--arrays", nargs="*", default=None, help="tile names (default: one per layer)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-rows", type=int, default=None,
                    help="simulate arrays of at most this many rows (default 128)")
    args = ap.parse_args(argv)
    try:
        summary = run(args.build_dir, args.arrays, seed=args.seed, jobs=args.jobs,
                      max_rows=args.max_rows)
    except AnnccError as e:
        print(f"anncc: error: {e}", file=sys.stderr)
        return 1
    print("\n".join(summary["lines"]))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
