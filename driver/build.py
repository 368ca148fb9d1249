"""The build directory writer (DESIGN.md section 9).

    build/
      model.mlir  weights.safetensors   the final IR and its store (safetensors; .npz still read)
      ir/ann.mlir ir/xbar.mlir ir/cell.mlir   every level (the runtime reads these)
      manifest.json             what `anncc.runtime.load(build/)` opens
      report.md report.html report.json figures/
      spice/                    array netlists, harnesses, lib/, run_spice.sh (anncc.backends.spice)

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
    emit_spice_dir(cm, directory)
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
