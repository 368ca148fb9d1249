"""ngspice netlists of a compiled model's arrays, from jinja2 templates (`templates/`).

    build/spice/
      arrays/<array>.sub   one .subckt per physical array: wire segments, contact and
                           access resistances, the cells of chip `seed`, the reference column
      <array>.cir          its harness: DAC sources for a set of input vectors, virtual-ground
                           sensing, a .control block writing out/<array>.csv
      vectors/<array>.npy  the harness's row voltages [V, rows] (what verify compares on)
      lib/anncc_devices.lib  device models (MTJ read B-source, behavioural op-amp)
      run_spice.sh         runs every harness with `ngspice -b`, by hand
      manifest.json        arrays, layers, tiles, seed, vector counts

The subcircuit's elements are `ArrayMesh.elements()` (anncc.runtime.mesh), the
same object whose `effective_weights` the runtime reads, so the netlist and the
runtime's solver describe one circuit. Values are written with Python's
shortest round-trip repr, so ngspice reads back the exact doubles.

Why a DC sweep and not `alter` + `op` per vector: Debian's ngspice 39 (Sparse
1.3, no KLU) reorders the matrix on every `op`: a 64x64 mesh spends 1.5 s per
vector reordering and 0.15 s factoring (`rusage all`, measured on this
machine). Driving every row from a piecewise-linear table of one swept index
source orders the matrix once per sweep; each further vector costs one
numeric factorization.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anncc.backends.spice.arrays import SpiceArray

__all__ = [
    "array_subckt",
    "devices_lib",
    "harness",
    "num",
    "subckt_name",
    "write_spice_dir",
]

_PWL_POINTS_PER_LINE = 6


def num(x: float) -> str:
    """A float as ngspice reads it back exactly (shortest round-trip repr)."""
    return repr(float(x))


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("anncc.backends.spice", "templates"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False)


def subckt_name(arr: SpiceArray) -> str:
    return f"ARR_{arr.name}"


def _ports(arr: SpiceArray) -> list[str]:
    n, m = arr.shape
    ins = [f"in{i}" for i in range(n)]
    outs = [f"out{j}" for j in range(m)]
    # ten ports per continuation line
    return [" ".join(p[k:k + 10]) for p in (ins, outs) for k in range(0, len(p), 10)]


def _is_mtj(target: Any) -> bool:
    """Bias-dependent MTJ cells (a target capability, never a name test)."""
    return bool(getattr(target, "BIAS_DEPENDENT", False))


def _element_lines(arr: SpiceArray) -> str:
    """The subcircuit's elements, one per line, from `ArrayMesh.element_tuples()`.

    With bias-dependent cells (`ArrayMesh.bias`, `runtime.mesh_newton.MtjCells`) each
    MTJ that has an antiparallel part is a B-source of the runtime's closed form
    I = V·(a + b/(1 + TMR0/(1 + V²/V_h²))); a fully parallel cell stays a resistor.
    """
    bias = arr.mesh.bias
    if bias is None:
        return "\n".join(f"{name} {n1} {n2} {r!r}" for _, name, n1, n2, r in arr.mesh.element_tuples())
    a, b = bias.a_s.tolist(), bias.b_s.tolist()
    tmr0, k = num(bias.tmr0), num(1.0 / bias.v_half_v ** 2)
    lines = []
    for kind, name, n1, n2, r in arr.mesh.element_tuples():
        if kind == "cell":
            i, j = (int(x) for x in name[2:].split("_"))
            if b[i][j] != 0.0:
                vd = f"V({n1},{n2})"
                lines.append(f"B{name[1:]} {n1} {n2} I = {vd}*({num(a[i][j])} + {num(b[i][j])}/"
                             f"(1 + {tmr0}/(1 + {vd}*{vd}*{k})))")
                continue
            r = 1.0 / a[i][j]
        lines.append(f"{name} {n1} {n2} {r!r}")
    return "\n".join(lines)


def array_subckt(arr: SpiceArray) -> str:
    """The `.subckt` of one programmed array (ports in0.. then out0..)."""
    return _env().get_template("array.sub.j2").render(
        a=arr, f=arr.params, mesh=arr.mesh, num=num, subckt=subckt_name(arr), ports=_ports(arr),
        elements=_element_lines(arr), target_name=getattr(arr.target, "name", "?"),
        is_mtj=_is_mtj(arr.target))


def _tables(v: np.ndarray) -> list[list[str]]:
    """Per row, the `index, volts` pairs of its PWL table in lines of a few points."""
    n_vec, n_rows = v.shape
    out = []
    idx = list(range(n_vec))
    if n_vec == 1:  # pwl needs two points: hold the one vector over [0, 1]
        v = np.vstack([v, v])
        idx = [0, 1]
    for i in range(n_rows):
        pairs = [f"{k}, {num(v[r, i])}" for r, k in enumerate(idx)]
        lines = []
        for s in range(0, len(pairs), _PWL_POINTS_PER_LINE):
            sep = "," if s + _PWL_POINTS_PER_LINE < len(pairs) else ""
            lines.append(", ".join(pairs[s:s + _PWL_POINTS_PER_LINE]) + sep)
        lines[0] = ", " + lines[0]
        out.append(lines)
    return out


def harness(arr: SpiceArray, voltages: np.ndarray, *, inline: bool = False, control: bool = True,
            out_file: str | None = None) -> str:
    """The harness deck of one array for row voltages [V, array_rows].

    inline: paste the subcircuit in (one self-contained deck, what PySpice loads);
    else `.include arrays/<name>.sub`. control: add the `.control` block that
    sweeps the vectors and writes the column currents with `wrdata`.
    """
    v = np.atleast_2d(np.asarray(voltages, dtype=np.float64))
    if v.shape[1] != arr.shape[0] or v.shape[0] < 1:
        raise ValueError(f"voltages must be [V >= 1, {arr.shape[0]}], got {v.shape}")
    return _env().get_template("harness.cir.j2").render(
        a=arr, num=num, n_vectors=v.shape[0], tables=_tables(v), inline=inline, control=control,
        subckt=subckt_name(arr), ports=_ports(arr), out_file=out_file or f"out/{arr.name}.csv",
        subckt_text=array_subckt(arr) if inline else "")


def devices_lib(target: Any = None) -> str:
    mtj = None
    if target is not None and _is_mtj(target):
        mtj = {"name": target.name, "rp": num(target.r_p_ohm),
               "tmr0": num(target.r_ap_ohm / target.r_p_ohm - 1.0), "vh": num(target.tmr_v_half_v)}
    return _env().get_template("anncc_devices.lib.j2").render(mtj=mtj)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_spice_dir(arrays: Sequence[SpiceArray], voltages: dict[str, np.ndarray],
                    directory: str | Path) -> dict[str, Any]:
    """Write the SPICE folder for `arrays` with their harness vectors; returns the manifest.

    voltages: array name -> row voltages [V, array_rows] (see `arrays.row_voltages`).
    """
    d = Path(directory)
    names = []
    manifest: dict[str, Any] = {"arrays": {}}
    for arr in arrays:
        v = voltages[arr.name]
        _atomic_write(d / "arrays" / f"{arr.name}.sub", array_subckt(arr))
        _atomic_write(d / f"{arr.name}.cir", harness(arr, v))
        (d / "vectors").mkdir(parents=True, exist_ok=True)
        tmp = d / "vectors" / f"{arr.name}.tmp.npy"
        np.save(tmp, np.asarray(v, dtype=np.float64))
        tmp.replace(d / "vectors" / f"{arr.name}.npy")
        names.append(arr.name)
        manifest["arrays"][arr.name] = {
            "tile": arr.tile, "layer": arr.layer, "rows": arr.shape[0], "cols": arr.shape[1],
            "vectors": int(np.atleast_2d(v).shape[0]), "seed": arr.seed,
            "target": getattr(arr.target, "name", "?"),
        }
    if arrays:
        manifest["seed"] = arrays[0].seed
        _atomic_write(d / "lib" / "anncc_devices.lib", devices_lib(arrays[0].target))
    (d / "out").mkdir(parents=True, exist_ok=True)  # where the harnesses' wrdata writes
    script = _env().get_template("run_spice.sh.j2").render(names=names)
    _atomic_write(d / "run_spice.sh", script)
    (d / "run_spice.sh").chmod(0o755)
    _atomic_write(d / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
