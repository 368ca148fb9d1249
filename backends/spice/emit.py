"""`anncc -o build/` writes build/spice/: the arrays' netlists, harnesses, device library, script.

All arrays for models with at most `limit` (default `runtime.sampling.SAMPLE_LIMIT`,
64) arrays, a sample covering every layer otherwise (`arrays.covering_sample`);
harness vectors are the input
planes of the model's calibration inputs (else its example inputs) as the
runtime computes them. See `anncc.backends.spice.netlist` for the layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anncc.backends.spice.arrays import array_inputs, collect_arrays, covering_sample, row_voltages
from anncc.backends.spice.netlist import write_spice_dir

__all__ = ["emit_spice", "SPICE_INPUTS"]

#: Model inputs the harness vectors are taken from (the first few calibration inputs).
SPICE_INPUTS = 2


def _inputs_of(model: Any) -> Any:
    opts = getattr(model, "options", None)
    calib = getattr(opts, "calib", None)
    if calib is not None:
        return calib[:SPICE_INPUTS]
    return None


def emit_spice(model: Any, directory: str | Path, *, seed: int = 0, inputs: Any = None,
               limit: int | None = None, max_vectors: int = 8, tiles: list[str] | None = None,
               all_arrays: bool = False) -> dict[str, Any] | None:
    """Write `directory` (build/spice/) for chip `seed`; the manifest, or None without a cell level."""
    if "cell" not in getattr(model, "levels", {}):
        return None
    names = tiles or (None if all_arrays else covering_sample(model, limit))
    arrays = collect_arrays(model, seed=seed, names=names)
    x = inputs if inputs is not None else _inputs_of(model)
    volts = {}
    if x is not None:
        xs = array_inputs(model, x, [a.tile for a in arrays])
        volts = {a.name: row_voltages(a, xs[a.tile], max_vectors) for a in arrays}
    else:
        import numpy as np

        rng = np.random.default_rng(seed)
        for a in arrays:
            f = a.params
            hi = 1 << (f.in_bits - 1) if f.in_signed else 1 << f.in_bits
            lo = -hi if f.in_signed else 0
            volts[a.name] = row_voltages(a, rng.integers(lo, hi, size=(1, f.rows)), max_vectors)
    manifest = write_spice_dir(arrays, volts, directory)
    manifest["source"] = "calibration inputs" if x is not None else "random integer inputs"
    return manifest
