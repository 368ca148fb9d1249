"""The build directory writer (DESIGN.md section 9).

    build/
      model.mlir  weights.npz   the final IR and its store
      ir/ann.mlir ir/xbar.mlir ir/cell.mlir   every level (the runtime reads these)
      manifest.json             what `anncc.runtime.load(build/)` opens
      report.md report.html report.json figures/

Writes are atomic; the same model, options and seed give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def emit_build(cm, directory: Path, accuracy: dict[str, Any] | None = None) -> Path:
    from anncc.backends.report import summarize, write_report

    directory.mkdir(parents=True, exist_ok=True)
    cm.save(directory)
    write_report(summarize(cm, accuracy=accuracy), directory)
    emit_rtl_hook(cm, directory)
    return directory


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
        write_vectors(cm, cm.example_inputs, directory / "rtl")
