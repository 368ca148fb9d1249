"""Per-array jobs: every physical array of a chip, its IR-drop effective weights, as jobs.

    rows = irdrop_of_arrays(model, seed=0, chunk=64, scheduler="tcp://host:8786")
    rows[i] == (tile, sum(G_eff) / sum(G) - 1)

Array `i` (the `i`-th `cell.mvm` of the cell level) is programmed for chip
`seed` (`anncc.runtime.analog.programmed_conductances`, the devices the runtime
reads) and its exact effective conductances are solved
(`anncc.runtime.irdrop.effective_weights`, the target's wire and contact
resistances). Each task takes `chunk` consecutive arrays; the model travels
once per worker as a `ModelBundle` (see `anncc.runtime.jobs`).
"""

from __future__ import annotations

from typing import Any

import torch

from anncc.runtime.montecarlo import ModelBundle

_ARRAYS: dict[str, list[Any]] = {}


def cell_arrays(model: Any, token: str | None = None) -> list[Any]:
    """The `cell.mvm` ops of `model`'s cell level (one per physical array), in IR order."""
    if token is not None and token in _ARRAYS:
        return _ARRAYS[token]
    from anncc.ir.cell import MvmOp

    ops = [op for op in model.ir("cell").walk() if isinstance(op, MvmOp)]
    if token is not None:
        _ARRAYS[token] = ops
    return ops


def effective_weight_job(bundle: ModelBundle, first: int, count: int, seed: int) -> list[list[Any]]:
    """Arrays [first, first+count) of chip `seed`: [tile, sum(G_eff)/sum(G) - 1] each."""
    from anncc.runtime.analog import array_target, operand_tensor, programmed_conductances
    from anncc.runtime.interpreter import ExecContext
    from anncc.runtime.irdrop import MeshParams, effective_weights

    model = bundle.model()
    target = model.target()
    ctx = ExecContext(store=model.store)
    out = []
    for op in cell_arrays(model, bundle.token)[first:first + count]:
        f = op.params()
        tgt = array_target(target, f.g_min_s, f.g_max_s)
        g = programmed_conductances(op, operand_tensor(op.levels, ctx), operand_tensor(op.faults, ctx),
                                    target, seed, {}).to(torch.float64).numpy()
        g_eff = effective_weights(g, MeshParams(float(tgt.r_wire_ohm), float(tgt.r_contact_ohm)))
        out.append([f.tile, float(g_eff.sum() / g.sum() - 1.0)])
    return out


def irdrop_of_arrays(model: Any, seed: int = 0, chunk: int = 64, arrays: int = 0, *,
                     bundle: ModelBundle | None = None, workers: int = 1, scheduler: Any = None,
                     progress: bool = False) -> list[tuple[str, float]]:
    """(tile, relative change of total column conductance under IR drop) of every array.

    `arrays > 0` takes only the first that many. Jobs of `chunk` arrays run on
    `anncc.runtime.jobs.run_jobs` (`workers`, `scheduler`).
    """
    from anncc.runtime.jobs import Task, run_jobs

    n = len(cell_arrays(model))
    n = min(n, arrays) if arrays > 0 else n
    bundle = bundle or ModelBundle.of(model)
    tasks = [Task(f"arrays {a}-{min(a + chunk, n) - 1}", {"first": a, "count": min(chunk, n - a),
                                                          "seed": seed})
             for a in range(0, n, chunk)]
    chunks = run_jobs(effective_weight_job, tasks, bundle, workers=workers, scheduler=scheduler,
                      progress=progress, desc="arrays")
    return [(tile, loss) for c in chunks for tile, loss in c]


__all__ = ["cell_arrays", "effective_weight_job", "irdrop_of_arrays"]
