"""`anncc verify BUILD`: check a build's RTL and SPICE against its golden vectors.

    anncc verify build/ --rtl                    cocotb testbench on Icarus, bit-exact with build/golden/
    anncc verify build/ --rtl --per-layer        compare every layer's output (locates a mismatch)
    anncc verify build/ --spice --arrays fc0.r0c0,fc1.r0c0
    anncc verify build/                          both

The checks live in the backends; this module only finds them, runs them and
keeps their results. Each backend is imported when asked for, so a build
without one still verifies with the other:

- RTL: `anncc.backends.verilog.verify.run(build_dir, per_layer=bool,
  simulator="icarus" | "verilator", limit=int | None)`
- SPICE: `anncc.backends.spice.verify.run(build_dir, arrays=list[str] | None,
  seed=int, jobs=int)`

Each returns a JSON-able dict with at least `passed` (bool) and `lines` (list
of str, printed in order). Optional keys the report shows when present —
RTL: `vectors`, `vectors_passed` or `mismatches`, `cycles_per_inference`,
`vectors_per_s`, `simulator`; SPICE: `arrays` (int or list), `max_rel_err_current`,
`adc_code_mismatches`, `near_boundary`; either: `table` (Markdown) and
`figures` (paths relative to BUILD; a SPICE parity plot at
`figures/spice_parity.png` is picked up by itself). A backend raises
`AnnccError` for a failure the user can fix (a missing simulator, a build
without golden vectors).

Results go to `BUILD/verify.json` (`{"passed": bool, "rtl": {...}, "spice": {...}}`;
a later run of one backend keeps the other's last result) and into the
report's "Verification" section (report.md, report.html, report.json).
The exit status is 0 when every check run passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

from anncc.errors import AnnccError, ToolMissingError
from anncc.files import atomic_write_text

#: backend key -> (module, what it is called in messages)
BACKENDS: dict[str, tuple[str, str]] = {
    "rtl": ("anncc.backends.verilog.verify", "RTL (Verilog) backend"),
    "spice": ("anncc.backends.spice.verify", "SPICE backend"),
}


def verify_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="anncc verify",
        description="Check a build's RTL (cocotb) and SPICE netlists against its golden vectors "
                    "(BUILD/golden/). With neither --rtl nor --spice, runs both.")
    p.add_argument("build", help="a build directory written by anncc")
    p.add_argument("--rtl", action="store_true", help="simulate the RTL, bit-exact with the golden vectors")
    p.add_argument("--spice", action="store_true", help="simulate array netlists in ngspice vs the runtime")
    p.add_argument("--arrays", default="", help="SPICE: comma-separated arrays (tiles) to simulate "
                   "(default: a sample covering every layer)")
    p.add_argument("--vectors", type=int, default=None, metavar="N",
                   help="RTL: compare the first N golden vectors (default: all recorded)")
    p.add_argument("--per-layer", action="store_true", help="RTL: compare every layer's output")
    p.add_argument("--simulator", choices=("icarus", "verilator"), default="icarus", help="RTL simulator")
    p.add_argument("--seed", type=int, default=0, help="SPICE: device seed (the runtime's analog seed)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="SPICE: parallel simulation processes")
    p.add_argument("--max-rows", type=int, default=None, metavar="N",
                   help="SPICE: simulate arrays of at most N rows (default 128; larger ones are refused "
                        "with ngspice's estimated time)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def load_backend(key: str) -> Any:
    """The backend's verify module; a one-line error when it (or a package it needs) is missing."""
    module, what = BACKENDS[key]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise _missing(key, e) from None


def _missing(key: str, e: ModuleNotFoundError) -> ToolMissingError:
    module, what = BACKENDS[key]
    name = e.name or ""
    if name and (module == name or module.startswith(name + ".")):
        return ToolMissingError(f"the {what} is not present in this anncc ({module} not found)",
                                hint="install an anncc that includes it, or drop --" + key)
    return ToolMissingError(f"the {what} needs the Python package '{name}', which is not installed",
                            hint=f"pip install {name.split('.')[0]}" if name else None)


def run_backend(key: str, build_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one backend's check with the options this command gives it; validate its result."""
    backend = load_backend(key)
    try:
        if key == "rtl":
            result = backend.run(build_dir, per_layer=args.per_layer, simulator=args.simulator,
                                 limit=args.vectors)
        else:
            arrays = [a.strip() for a in args.arrays.split(",") if a.strip()] or None
            extra = {} if getattr(args, "max_rows", None) is None else {"max_rows": args.max_rows}
            result = backend.run(build_dir, arrays=arrays, seed=args.seed, jobs=args.jobs, **extra)
    except ModuleNotFoundError as e:
        raise _missing(key, e) from None
    if not (isinstance(result, dict) and isinstance(result.get("passed"), bool)
            and isinstance(result.get("lines"), list)):
        raise AnnccError(f"the {BACKENDS[key][1]} returned {type(result).__name__}, not a dict with "
                         "'passed' (bool) and 'lines' (list of str)")
    result = json.loads(json.dumps(result, default=_jsonable))
    parity = Path("figures") / "spice_parity.png"
    if key == "spice" and "figures" not in result and (build_dir / parity).is_file():
        result["figures"] = [parity.as_posix()]
    return result


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def _check_build(build_dir: Path) -> None:
    if not (build_dir / "manifest.json").is_file():
        raise AnnccError(f"{build_dir} is not an anncc build directory (no manifest.json)",
                         hint="write one with 'anncc MODEL -o BUILD'")
    if not (build_dir / "golden" / "index.json").is_file():
        raise AnnccError(f"{build_dir} has no golden vectors (golden/index.json)",
                         hint="rebuild with 'anncc ... -o BUILD --golden-vectors N', N >= 1")


def record_results(build_dir: Path, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge `results` into BUILD/verify.json and the report; returns the merged record."""
    path = build_dir / "verify.json"
    record: dict[str, Any] = {}
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            record = {}
    record.update(results)
    record["passed"] = all(v.get("passed") is True for k, v in record.items() if k in BACKENDS)
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    _update_report(build_dir, record)
    return record


def _update_report(build_dir: Path, record: dict[str, Any]) -> None:
    report = build_dir / "report.json"
    if not report.is_file():
        return
    from anncc.backends.report import write_report

    summary = json.loads(report.read_text())
    summary["verification"] = record
    write_report(summary, build_dir)


def cmd_verify(args: argparse.Namespace) -> int:
    build_dir = Path(args.build)
    if args.vectors is not None and args.vectors < 1:
        raise AnnccError(f"--vectors must be >= 1, got {args.vectors}")
    if args.jobs < 1:
        raise AnnccError(f"--jobs must be >= 1, got {args.jobs}")
    if args.arrays and not (args.spice or not args.rtl):
        raise AnnccError("--arrays chooses SPICE arrays; add --spice")
    _check_build(build_dir)
    keys = [k for k in BACKENDS if getattr(args, k)] or list(BACKENDS)
    for k in keys:  # a missing backend fails before any simulation starts
        load_backend(k)
    results = {k: run_backend(k, build_dir, args) for k in keys}
    record_results(build_dir, results)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        for k in keys:
            r = results[k]
            print(f"anncc verify: {BACKENDS[k][1]}: {'passed' if r['passed'] else 'FAILED'}")
            for line in r["lines"]:
                print(f"  {line}")
        print(f"anncc verify: wrote {build_dir / 'verify.json'}"
              + (" and the report's Verification section" if (build_dir / "report.json").is_file() else ""))
    return 0 if all(results[k]["passed"] for k in keys) else 1


__all__ = ["BACKENDS", "cmd_verify", "load_backend", "record_results", "run_backend", "verify_parser"]
