"""How long ngspice takes for one array harness, and the size above which verify refuses.

Debian's ngspice 39 solves with Sparse 1.3 (no KLU: `.options klu` is accepted and
silently ignored; the binary and libngspice have no KLU symbols). Sparse orders the
matrix by Markowitz's criterion, and on the array mesh (2·rows·cols nodes, a 2-D
grid) the ordering costs grows with the square of the equation count E, while each
numeric factorization grows about as E^1.5. The harness orders once per loaded
circuit (the DC sweep over the vectors, see `netlist`), and ngspice takes about
two Newton iterations, each a factorization, per vector even for a linear mesh.

    seconds ≈ REORDER_S_PER_E2 · E² + FACTOR_S_PER_E15 · E^1.5 · (2·vectors + 1)

The two constants are our measurement (`python bench/bench_spice_scaling.py`,
ngspice's `rusage` on a 64x64 rram harness with 8 vectors on the 2-core
development machine, while otherwise idle): reorder 1.61 s and 17 factorizations
in 1.36 s at E = 8451. The same model predicts the 128x128 harness measured by the
bench (see docs/backends/spice.md for the table). Bias-dependent MTJ cells take
more Newton iterations per vector (`NEWTON_ITERS_PER_VECTOR_BIAS`).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_ROWS", "equations", "estimate_seconds", "too_big_message"]

#: Arrays with more physical rows than this are not simulated unless asked for (`--max-rows`).
DEFAULT_MAX_ROWS = 128

REORDER_S_PER_E2 = 1.606 / 8451**2
FACTOR_S_PER_E15 = (1.363 / 17) / 8451**1.5
NEWTON_ITERS_PER_VECTOR = 2
NEWTON_ITERS_PER_VECTOR_BIAS = 4


def equations(rows: int, cols: int) -> int:
    """ngspice's equation count for a harness: row and column nodes, drivers, senses, branches."""
    return 2 * rows * cols + 2 * rows + 2 * cols + 3


def estimate_seconds(rows: int, cols: int, vectors: int, bias_dependent: bool = False) -> float:
    """Estimated ngspice CPU seconds for one harness of a rows x cols array (module docstring)."""
    e = float(equations(rows, cols))
    per = NEWTON_ITERS_PER_VECTOR_BIAS if bias_dependent else NEWTON_ITERS_PER_VECTOR
    return REORDER_S_PER_E2 * e * e + FACTOR_S_PER_E15 * e**1.5 * (per * max(1, vectors) + 1)


def too_big_message(name: str, rows: int, cols: int, vectors: int, max_rows: int,
                    bias_dependent: bool = False) -> str:
    """One line saying why an array is not simulated and how to run it anyway."""
    s = estimate_seconds(rows, cols, vectors, bias_dependent)
    return (f"{name} is {rows}x{cols}: ngspice 39 (Sparse 1.3, no KLU) would need about {s:.0f} s of "
            f"CPU for {vectors} vector(s), growing with the square of the cells; arrays over "
            f"--max-rows {max_rows} are not simulated (--max-rows {rows} runs it)")
