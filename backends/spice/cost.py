"""How long ngspice takes for one array harness, and the size above which verify refuses.

Debian's ngspice 39 solves with Sparse 1.3 (no KLU: `.options klu` is accepted and
silently ignored; neither the binary nor libngspice has KLU symbols). Sparse orders
the matrix by Markowitz's criterion once per loaded circuit (the harness sweeps the
vectors, see `netlist`; `alter` + `op` would re-order on every `op`), and factors it
numerically at every Newton iteration, about two per vector even for a linear mesh.
On the array mesh (E ≈ 2·rows·cols equations, a 2-D grid) both grow faster than E²:

    seconds ≈ T_REORDER·(E/E64)^P_REORDER + T_FACTOR·(E/E64)^P_FACTOR · iterations

Our measurement (ngspice's `rusage`, `python bench/bench_spice_scaling.py`, the
digits MLP's fc1 array on rram, 8 vectors, on the 2-core development machine): at
64x64 (E64 = 8451) reorder 1.61 s and 17 factorizations in 1.36 s on an otherwise idle
machine; at 128x128 (E = 33283, fill-in 1.80 M non-zeros) 215 s of CPU with the
machine loaded about 7x, which is 2x the CPU of the same 64x64 run at that load;
scaled back, reorder 37 s and 4.0 s per factorization, hence the exponents 2.29 and
2.85. Extrapolated, one 256x256 harness needs about half an hour with 2 vectors and
over an hour with 8: an estimate, not a measurement (a run did not finish, see
docs/backends/spice.md). Bias-dependent MTJ cells take about twice the iterations.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_ROWS", "equations", "estimate_seconds", "too_big_message"]

#: Arrays with more physical rows than this are not simulated unless asked for (`--max-rows`).
DEFAULT_MAX_ROWS = 128

E64 = 8451
T_REORDER_S, P_REORDER = 1.606, 2.29
T_FACTOR_S, P_FACTOR = 1.363 / 17, 2.85
NEWTON_ITERS_PER_VECTOR = 2
NEWTON_ITERS_PER_VECTOR_BIAS = 4


def equations(rows: int, cols: int) -> int:
    """ngspice's equation count for a harness: row and column nodes, drivers, senses, branches."""
    return 2 * rows * cols + 2 * rows + 2 * cols + 3


def estimate_seconds(rows: int, cols: int, vectors: int, bias_dependent: bool = False) -> float:
    """Estimated ngspice CPU seconds for one harness of a rows x cols array (module docstring)."""
    x = equations(rows, cols) / E64
    per = NEWTON_ITERS_PER_VECTOR_BIAS if bias_dependent else NEWTON_ITERS_PER_VECTOR
    return T_REORDER_S * x**P_REORDER + T_FACTOR_S * x**P_FACTOR * (per * max(1, vectors) + 1)


def too_big_message(name: str, rows: int, cols: int, vectors: int, max_rows: int,
                    bias_dependent: bool = False) -> str:
    """One line saying why an array is not simulated and how to run it anyway."""
    s = estimate_seconds(rows, cols, vectors, bias_dependent)
    return (f"{name} is {rows}x{cols}: ngspice 39 (Sparse 1.3, no KLU) would need about {s:.0f} s of "
            f"CPU for {vectors} vector(s), growing faster than the square of the cells; arrays over "
            f"--max-rows {max_rows} are not simulated (--max-rows {rows} runs it)")
