"""A crossbar array's resistive mesh as an ngspice netlist, and a harness to run it.

The circuit is `anncc.runtime.irdrop`'s, element for element (see that module's
docstring for the picture). With N rows, M columns, cells G[i, j] (siemens):

    Vin{i}      in{i}     0         DC V[i]         row driver (DAC), ideal
    Rcr{i}      in{i}     r{i}_0    R_contact       row driver/contact resistance
    Rwr{i}_{j}  r{i}_{j}  r{i}_{j+1} R_wire         row (word-line) wire segment
    Rx{i}_{j}   r{i}_{j}  c{i}_{j}  1/G[i, j]       the cell (omitted when G = 0: open)
    Rwc{i}_{j}  c{i}_{j}  c{i+1}_{j} R_wire         column (bit-line) wire segment
    Rcc{j}      c{N-1}_{j} vg{j}    R_contact       column contact
    Vsense{j}   vg{j}     0         DC 0            virtual ground of the sense amplifier

i(Vsense{j}) is the current flowing from the mesh through the 0 V source to
ground: the column current I_j, positive for positive inputs. Cells are plain
resistors (Debian's ngspice 39 has no OSDI, so no Verilog-A; a bias-dependent
cell would be a B-source as in `shared/reference/spice/mtj_lib.sp`).

`run_mesh` solves many input vectors in one ngspice process: the netlist holds
the first vector, and its `.control` block runs `op`, prints the sensing
sources' currents with 16 significant digits (`set numdgt=15`), then `alter`s
every row source to the next vector and runs `op` again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from anncc.errors import AnnccError, ToolMissingError
from anncc.runtime.irdrop import MeshParams

__all__ = [
    "SpiceConvergenceError",
    "find_ngspice",
    "mesh_netlist",
    "parse_column_currents",
    "run_mesh",
    "write_mesh_netlist",
]

_MARK = "ANNCC_VECTOR"
_PRINT_GROUP = 16  # sensing sources per `print` line
# ngspice's ways of saying that an operating point was not found.
_FAILURE_PATTERNS = (
    "no convergence",
    "singular matrix",
    "simulation(s) aborted",
    "gmin stepping failed",
    "source stepping failed",
    "timestep too small",
)
_VALUE_LINE = re.compile(
    r"^\s*i\(vsense(\d+)\)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class SpiceConvergenceError(AnnccError):
    """ngspice could not find the operating point of a netlist."""


def find_ngspice(executable: str = "ngspice") -> str:
    """Path of the ngspice executable, or ToolMissingError saying how to install it."""
    path = shutil.which(executable)
    if path is None:
        raise ToolMissingError(
            f"{executable!r} was not found on PATH; the SPICE checks need ngspice",
            hint="install it with: apt-get install -y ngspice",
        )
    return path


def _num(x: float) -> str:
    """A float in a form ngspice reads back exactly: Python's shortest round-trip repr."""
    return repr(float(x))


def _check(G: ArrayLike, V: ArrayLike, params: MeshParams) -> tuple[NDArray, NDArray]:
    g = np.asarray(G, dtype=np.float64)
    if g.ndim != 2 or not np.all(np.isfinite(g)) or np.any(g < 0.0):
        raise AnnccError(f"conductances must be a finite, non-negative [N, M] array, got {g.shape}")
    v = np.asarray(V, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] != g.shape[0] or v.shape[1] < 1:
        raise AnnccError(f"inputs must be [N] or [N, B] with N = {g.shape[0]}, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise AnnccError("input voltages must be finite")
    if params.r_wire_ohm <= 0.0 or params.r_contact_ohm <= 0.0:
        raise AnnccError(
            "the SPICE mesh needs positive wire and contact resistances",
            where="MeshParams",
            hint="compare an ideal array with anncc.runtime.irdrop.ideal_currents instead",
        )
    return g, v


def _elements(g: NDArray, v0: NDArray, params: MeshParams) -> Iterable[str]:
    N, M = g.shape
    rw, rc = _num(params.r_wire_ohm), _num(params.r_contact_ohm)
    for i in range(N):
        yield f"Vin{i} in{i} 0 DC {_num(v0[i])}"
        yield f"Rcr{i} in{i} r{i}_0 {rc}"
        for j in range(M - 1):
            yield f"Rwr{i}_{j} r{i}_{j} r{i}_{j + 1} {rw}"
    for i in range(N):
        for j in range(M):
            if g[i, j] > 0.0:
                yield f"Rx{i}_{j} r{i}_{j} c{i}_{j} {_num(1.0 / g[i, j])}"
    for j in range(M):
        for i in range(N - 1):
            yield f"Rwc{i}_{j} c{i}_{j} c{i + 1}_{j} {rw}"
        yield f"Rcc{j} c{N - 1}_{j} vg{j} {rc}"
        yield f"Vsense{j} vg{j} 0 DC 0"


def _control(v: NDArray, n_cols: int) -> Iterable[str]:
    N, B = v.shape
    yield ".control"
    yield "set numdgt=15"
    for b in range(B):
        if b > 0:
            for i in range(N):
                yield f"alter vin{i} dc = {_num(v[i, b])}"
        yield "op"
        yield f"echo {_MARK} {b}"
        for s in range(0, n_cols, _PRINT_GROUP):
            names = " ".join(f"i(vsense{j})" for j in range(s, min(s + _PRINT_GROUP, n_cols)))
            yield f"print {names}"
    yield "quit 0"
    yield ".endc"


def mesh_netlist(
    G: ArrayLike, V: ArrayLike, params: MeshParams, *, title: str = "anncc crossbar mesh"
) -> str:
    """The ngspice netlist of the mesh, with a control block for every input vector.

    G: cell conductances [N, M] in siemens (cell resistors are 1/G).
    V: input voltages [N] or [N, B]; the netlist's DC values are the first vector.
    """
    g, v = _check(G, V, params)
    N, M = g.shape
    header = [
        f"* {title}: {N} rows x {M} columns",
        (
            f"* R_wire {_num(params.r_wire_ohm)} ohm per segment, "
            f"R_contact {_num(params.r_contact_ohm)} ohm; {v.shape[1]} input vector(s)"
        ),
        "* rows driven from the left (Vin), columns sensed at the bottom (Vsense = 0 V)",
    ]
    lines = [*header, *_elements(g, v[:, 0], params), *_control(v, M), ".end", ""]
    return "\n".join(lines)


def write_mesh_netlist(path: str | Path, G: ArrayLike, V: ArrayLike, params: MeshParams) -> Path:
    """Write `mesh_netlist` to `path` (atomically: temp file, then rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(mesh_netlist(G, V, params))
    tmp.replace(path)
    return path


def parse_column_currents(output: str, n_vectors: int, n_cols: int) -> NDArray[np.float64]:
    """Column currents [B, M] from the stdout of `run_mesh`'s control block.

    Raises SpiceConvergenceError when ngspice reports a failed operating point,
    and AnnccError when values are missing.
    """
    lowered = output.lower()
    for pattern in _FAILURE_PATTERNS:
        if pattern in lowered:
            raise SpiceConvergenceError(
                f"ngspice found no operating point ({pattern!r})",
                where="ngspice",
                hint=_tail(output),
            )
    currents = np.full((n_vectors, n_cols), np.nan)
    vector = -1
    for line in output.splitlines():
        if line.startswith(_MARK):
            vector = int(line.split()[1])
            continue
        match = _VALUE_LINE.match(line)
        if match and 0 <= vector < n_vectors:
            currents[vector, int(match.group(1))] = float(match.group(2))
    if np.isnan(currents).any():
        missing = int(np.isnan(currents).sum())
        raise AnnccError(
            f"ngspice output lacks {missing} of {currents.size} column currents",
            where="ngspice",
            hint=_tail(output),
        )
    return currents


def _tail(text: str, n_lines: int = 8) -> str:
    return "last output: " + " | ".join(text.strip().splitlines()[-n_lines:])


def run_mesh(
    G: ArrayLike,
    V: ArrayLike,
    params: MeshParams,
    *,
    ngspice: str = "ngspice",
    timeout_s: float | None = None,
    workdir: str | Path | None = None,
) -> NDArray[np.float64]:
    """Simulate the mesh in one `ngspice -b` process; column currents [B, M] ([M] for V [N]).

    workdir: keep `mesh.cir` and `ngspice.log` there (default: a temporary folder).
    """
    exe = find_ngspice(ngspice)
    g, v = _check(G, V, params)
    single = np.asarray(V).ndim == 1
    with tempfile.TemporaryDirectory(prefix="anncc-spice-") as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        netlist = write_mesh_netlist(folder / "mesh.cir", g, v, params)
        try:
            proc = subprocess.run(
                [exe, "-b", "-n", netlist.name],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise AnnccError(
                f"ngspice did not finish within {timeout_s} s", where=str(netlist)
            ) from e
        output = proc.stdout + "\n" + proc.stderr
        (folder / "ngspice.log").write_text(output)
        currents = parse_column_currents(output, v.shape[1], g.shape[1])
        if proc.returncode != 0:
            raise AnnccError(
                f"ngspice exited with status {proc.returncode}",
                where=str(netlist),
                hint=_tail(output),
            )
    return currents[0] if single else currents
