"""The build directory writer (DESIGN.md section 9).

    build/
      model.mlir  weights.safetensors   the final IR and its store
      ir/ann.mlir ir/xbar.mlir ir/cell.mlir   every level (the runtime reads these)
      manifest.json             what `anncc.runtime.load(build/)` opens
      report.md report.html report.json figures/
      spice/                    array netlists, harnesses, lib/, run_spice.sh (anncc.backends.spice)
      golden/                   golden vectors of the ideal cell level (anncc.runtime.golden)
      rtl/                      Verilog periphery, mem/*.hex, synth.ys, cocotb tb/ (anncc.backends.verilog)

Writes are atomic; the same model, options and seed give byte-identical files.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from anncc.gcpause import paused_gc


@paused_gc()
def emit_build(cm, directory: Path, accuracy: dict[str, Any] | None = None,
               golden_vectors: int | None = None, golden_inputs: Any = None,
               golden_tiles: str = "sample", timings: dict[str, float] | None = None) -> Path:
    """Write every part of the build; `timings`, when given, gets the seconds of each step."""
    from anncc.backends.report import summarize, write_report

    steps = {
        "save IR + weights": lambda: cm.save(directory),
        "report": lambda: write_report(summarize(cm, accuracy=accuracy), directory),
        "spice netlists": lambda: emit_spice_dir(cm, directory),
        "golden vectors": lambda: emit_golden(cm, directory, golden_vectors, golden_inputs,
                                              golden_tiles, names=cm.saved_names.get("cell")),
        "rtl": lambda: emit_rtl_hook(cm, directory),
    }  # golden vectors reuse the SSA names of the text save just wrote
    directory.mkdir(parents=True, exist_ok=True)
    for name, step in steps.items():
        t = time.perf_counter()
        step()
        if timings is not None:
            timings[name] = time.perf_counter() - t
    return directory


def emit_spice_dir(cm, directory: Path) -> None:
    """build/spice/: every array's netlist (a covering sample above 64 arrays), chip seed 0."""
    import warnings

    from anncc.backends.spice.emit import emit_spice
    from anncc.errors import AnnccError

    try:
        emit_spice(cm, directory / "spice", seed=0)
    except AnnccError as e:  # a target the SPICE writer cannot express: the build still completes
        warnings.warn(f"anncc: no SPICE netlists written: {e}", stacklevel=2)


def emit_golden(cm, directory: Path, count: int | None = None, eval_inputs: Any = None,
                tiles: str = "sample", names: dict | None = None) -> Path | None:
    """`directory/golden/`: the first `count` (default 16; 0: none) evaluation inputs, else
    calibration inputs, else example inputs, through the ideal cell level. Per-array files
    for every array (`tiles="all"`), or for the covering sample of `anncc.runtime.sampling`
    (every array of a model with at most 64)."""

    from anncc.runtime.golden import DEFAULT_VECTORS, record_golden
    from anncc.runtime.sampling import covering_sample, model_tiles

    count = DEFAULT_VECTORS if count is None else count
    if count <= 0 or "cell" not in cm.levels:
        return None
    options = getattr(cm, "options", None)
    for source, data in (("eval", eval_inputs), ("calibration", getattr(options, "calib", None)),
                         ("example", getattr(cm, "example_inputs", None))):
        if data is not None:
            x = input_array(data)
            chosen = None if tiles == "all" else covering_sample(model_tiles(cm.ir("cell")))
            record_golden(cm, x[:count], directory / "golden", source=source, tiles=chosen,
                          names=names)
            return directory / "golden"
    return None


def input_array(data: Any) -> Any:
    """Float32 numpy array of a model input: a tensor, an array, or the one-tensor tuple
    an exported program's example inputs are (its first member)."""
    import numpy as np

    if isinstance(data, (tuple, list)) and data and hasattr(data[0], "shape"):
        data = data[0]
    return np.asarray(data.detach().cpu() if hasattr(data, "detach") else data, dtype=np.float32)


def emit_rtl_hook(cm, directory: Path) -> None:
    """build/rtl/: Verilog, mem/*.hex, synth.ys and the cocotb testbench (anncc.backends.verilog)."""
    from anncc.backends.verilog import emit_rtl, write_vectors
    from anncc.errors import AnnccError

    try:
        emit_rtl(cm, directory / "rtl")
    except AnnccError as e:  # a model the RTL cannot express yet: the rest of the build stands
        (directory / "rtl").mkdir(parents=True, exist_ok=True)
        (directory / "rtl" / "UNSUPPORTED.txt").write_text(f"{e}\n")
        return
    if getattr(cm, "example_inputs", None) is not None:
        write_vectors(cm, input_array(cm.example_inputs), directory / "rtl")
