"""IR drop in a crossbar array: the array as a linear resistive mesh.

Topology (the SPICE netlist of `anncc.backends.spice.mesh` is the same circuit,
element for element). An array of N rows (word lines) and M columns (bit lines)
has one row node r(i,j) and one column node c(i,j) at every cell site (i,j)::

    V_0 --Rc-- r(0,0) --Rw-- r(0,1) --Rw-- ... --Rw-- r(0,M-1)      row 0, driven from the left
                 |G00           |G01                     |
               c(0,0)         c(0,1)                  c(0,M-1)
                 Rw             Rw                       Rw
    V_1 --Rc-- r(1,0) --Rw-- r(1,1) --Rw-- ...
                 |G10           |G11
               c(1,0)         c(1,1)
                 Rw             Rw
                ...            ...
               c(N-1,0)       c(N-1,1)    ...         c(N-1,M-1)
                 Rc             Rc                       Rc
                 =              =                        =        virtual ground, 0 V
                I_0            I_1                     I_{M-1}    column currents

- Row i is driven by an ideal source V_i through the driver/contact resistance
  R_contact into r(i,0); a row-wire segment R_wire joins r(i,j) and r(i,j+1).
- The cell (i,j) is the conductance G[i,j] between r(i,j) and c(i,j).
- Column j runs from the top (row 0) to the bottom (row N-1): a column-wire
  segment R_wire joins c(i,j) and c(i+1,j); c(N-1,j) reaches the sense
  amplifier's virtual ground (0 V) through R_contact. The column current I_j is
  the current into that virtual ground. The worst-placed cell is (0, M-1): the
  farthest from both its driver and its sense amplifier.
- A reference column of level-0 cells (DESIGN.md §4) is just another column of
  G: the caller appends it, and its current comes back as one more column.

Nodal analysis with Norton sources (each V_i behind R_contact becomes a current
V_i/R_contact into r(i,0) in parallel with a conductance 1/R_contact to ground)
gives A x = b with A symmetric positive definite whenever R_contact > 0 (every
node reaches ground through wires, cells and contacts). Unknowns are numbered
with the row nodes first, row-major (r(i,j) -> i*M + j, so each row wire is a
contiguous tridiagonal block), then the column nodes, column-major
(c(i,j) -> N*M + j*N + i, so each column wire is one too).

The mesh is linear, so column currents are I = V @ G_eff with an IR-drop-aware
effective conductance matrix G_eff (`effective_weights`); with no parasitics,
G_eff = G and I = V @ G (the ideal crossbar, I_j = sum_i V_i G[i,j]).

Solvers:
- `DirectMeshSolver` / `solve_direct`: exact direct solves. From 64×64 cells up
  the default backend is "dense-nd": the mesh is reduced onto its N + M terminals
  (row inputs, column outputs) by a geometric nested dissection whose separator
  blocks are dense (batched numpy and LAPACK, no interior kept), then one dense
  Cholesky of that (N+M)×(N+M) matrix; its dissection plan is cached per shape.
  On 706×706 (1.8e10 flops) it takes 1.5–2.3 s of CPU on one core and 0.15 GB
  at peak, where SuperLU takes 4–5 s and 1.2 GB on the same machine (2-core
  x86-64; `bench/bench_irdrop.py --compare-splu`).
  Smaller arrays, and interior node voltages, use a sparse factorization (CHOLMOD
  through scikit-sparse when it is importable, else SuperLU `splu` in symmetric
  mode, no pivoting), with the sparsity pattern, its value-refill index arrays and
  its fill-reducing ordering cached per array shape; its default ordering is a
  geometric nested dissection of the mesh. All agree to ~1e-12 relative.
- `effective_weights`: G_eff for the whole array from the Schur complement onto
  the N + M terminals (dense-nd's, or the trailing block of one SuperLU
  factorization with the terminals ordered last); for dense-nd it costs the same
  as one exact solve.
- `blocks.effective_weights_batch`: G_eff of many arrays of up to 64 rows at once, exact,
  by column blocks (each column wire eliminated, then block-tridiagonal elimination over
  the columns with N×N blocks, in batched torch); "auto" `effective_weights` uses it for
  those arrays, and the runtime's layer groups for all their arrays in one call.
- `solve_cg`: preconditioned conjugate gradients with a line preconditioner
  (each row wire and each column wire a tridiagonal block, LAPACK `pttrf`/`pttrs`),
  many right-hand sides at once; `cg_error_vs_direct` reports its error. It
  converges in 5–30 iterations from 32×32 to 706×706 (rtol 1e-12).
`bench/bench_irdrop.py` times them against ngspice 39 side by side.
- `alpha_beta` (of `anncc.ir.contract.irdrop_alpha_beta`), `warn_if_irdrop_significant`: the
  first-order figures of merit α = R_wire·Ḡ·N², β = R_contact·Ḡ·N and
  α/2 + 2β (DESIGN.md §7).

How large the effect is (measured with this module, `mean_irdrop_error`, seed 0:
R_wire 2.5 Ω, R_contact 50 Ω — Yi Li et al., Nature Electronics 2022, 706×706
array — cells uniform in 5–10 kΩ; mean over columns of |I_j − I_ideal_j| / I_ideal_j
against the ideal I = V·G):

| array | all rows at 0.1 V | 16 random binary inputs | α/2 + 2β |
|---|---|---|---|
| 8×8   | 11.0 % | 11.0 % | 12.3 % |
| 64×64 | 63.9 % | 63.8 % | 160 %  |

This topology reproduces DESIGN.md §7's 11 % and 64 %. The first-order estimate
α/2 + 2β is close while it is small and overestimates once it is large: the
loss saturates below 100 % because a lower current also means a lower drop.

The package is split by job: `mesh` (parameters, node numbering, the sparse
pattern: the circuit the SPICE backend also writes), `direct` (sparse direct
solves, effective weights), `dense_nd` (dense nested dissection onto the
terminals), `blocks` (column blocks, many small arrays at once), `parallel`
(many large arrays on worker processes), `cg` (iterative solves) and `figures`
(first-order α, β). Every
public name is importable from `anncc.runtime.irdrop` as before.
"""

from __future__ import annotations

from anncc.runtime.irdrop.cg import CGErrorReport, CGResult, cg_error_vs_direct, solve_cg

# The mesh description's helpers stay importable from the package (the SPICE backend and the
# tests number nodes and build patterns with them).
from anncc.runtime.irdrop.dense_nd import _nd_children, _nd_plan  # noqa: F401
from anncc.runtime.irdrop.direct import DirectMeshSolver, effective_weights, mean_irdrop_error, solve_direct
from anncc.runtime.irdrop.figures import IRDropFigures, IRDropWarning, alpha_beta, warn_if_irdrop_significant
from anncc.runtime.irdrop.mesh import (  # noqa: F401
    MeshParams,
    _as_conductances,
    _as_inputs,
    _currents_from_nodes,
    _mesh_pattern,
    _MeshPattern,
    _node_numbers,
    _norton_rhs,
    _terminal_nodes,
    cholmod_available,
    ideal_currents,
)

__all__ = [
    "CGErrorReport",
    "CGResult",
    "DirectMeshSolver",
    "IRDropFigures",
    "IRDropWarning",
    "MeshParams",
    "alpha_beta",
    "cg_error_vs_direct",
    "cholmod_available",
    "effective_weights",
    "ideal_currents",
    "mean_irdrop_error",
    "solve_cg",
    "solve_direct",
    "warn_if_irdrop_significant",
]
