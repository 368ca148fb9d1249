"""Per-layer weight bit widths chosen from measured sensitivity under a total-cell budget.

    choice = choose_bits(model, module, x_calib, w_bits=4, cell_budget=0.8, bits_per_cell=1)
    choice.per_layer          # {'conv1': 5, 'fc': 3, ...} -> quantize{w-bits-per-layer=...}

**Sensitivity** (measured, not modelled): for every analog layer and every
candidate width b, only that layer's weights are quantized to b bits (per
channel, the MSE clip of `quantize`, nearest rounding) and the float model's
output on the calibration inputs is compared with the unquantized output: the
mean squared error of the outputs, `sens[layer][b]`. This is the per-layer
analysis of HAWQ/“mixed precision by output perturbation” (Dong et al., "HAWQ:
Hessian aware quantization of neural networks with mixed-precision", ICCV 2019,
arXiv:1905.03696, uses the Hessian trace; we measure the perturbation directly).

**Cost**: a layer of `n` weights at b bits takes `2 · n_slices(b) · n` cells
(a differential pair of `n_slices = ⌈(b−1)/bits_per_cell⌉` cells per weight,
`anncc.ir.contract.n_slices_for`; the per-array reference columns are left out).

**Choice** (greedy, as a knapsack relaxation): start every layer at the widest
candidate; while the total exceeds the budget, lower by one step the layer
whose step costs the least added output error per cell saved. The budget is
`cell_budget · cells(all layers at w_bits)` when `cell_budget ≤ 1` (a
fraction), else an absolute number of cells. Sensitivities add only
approximately (the errors of different layers interact); the chosen
configuration's own output error is measured and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anncc.errors import AnnccError

#: Candidate weight widths (the contract's range).
CANDIDATES = (2, 3, 4, 5, 6, 7, 8)
#: The module attribute carrying the choice into the report.
ATTR = "anncc.bit_choice"


@dataclass
class BitChoice:
    """The chosen widths, the measured sensitivities and the cell counts."""

    per_layer: dict[str, int]
    sensitivity: dict[str, dict[int, float]]
    cells: dict[str, int]
    budget_cells: int
    uniform_cells: int
    output_mse: float
    uniform_output_mse: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    def spec(self) -> str:
        """The `w-bits-per-layer` text of the choice."""
        return ",".join(f"{k}={v}" for k, v in self.per_layer.items())

    def to_json(self) -> dict[str, Any]:
        return {"per_layer": self.per_layer, "cells": self.cells, "budget_cells": self.budget_cells,
                "uniform_cells": self.uniform_cells, "output_mse": self.output_mse,
                "uniform_output_mse": self.uniform_output_mse,
                "sensitivity": {k: {str(b): v for b, v in s.items()} for k, s in self.sensitivity.items()}}


def layer_cells(n_weights: int, bits: int, bits_per_cell: int) -> int:
    from anncc.ir.contract import n_slices_for

    return 2 * n_slices_for(bits, bits_per_cell) * n_weights


def _quantize_weight(w: Any, bits: int) -> Any:
    """Per-output-channel symmetric quantization with `quantize`'s MSE clip (dequantized)."""
    import torch

    from anncc.passes._calibration import quantize_with_scale, search_weight_clip

    m = w.detach().double().reshape(w.shape[0], -1).T.numpy()
    s = search_weight_clip(m, bits, True)
    q = quantize_with_scale(m, s, bits) * s
    return torch.from_numpy(q.T.reshape(tuple(w.shape))).to(w.dtype)


def choose_bits(model: Any, layers: list[tuple[str, str]], x_calib: Any, w_bits: int,
                cell_budget: float, bits_per_cell: int, candidates: tuple[int, ...] = CANDIDATES,
                max_samples: int = 256) -> BitChoice:
    """Measure each layer's sensitivity and choose widths under the budget (module docstring).

    `layers`: (anncc layer name, torch parameter name of its weight) in network order.
    """
    import torch

    from anncc.hwtrain import export_module

    if not cell_budget > 0:
        raise AnnccError(f"w-bits-auto: the cell budget must be positive, got {cell_budget}")
    x = torch.as_tensor(np.asarray(x_calib, dtype=np.float32))[:max_samples]
    gm = export_module(model, x[:1])
    params = dict(gm.named_parameters())
    missing = [p for _, p in layers if p not in params]
    if missing:
        raise AnnccError(f"w-bits-auto: cannot find the weight(s) {', '.join(missing)} in the model")
    with torch.no_grad():
        ref = gm(x)

        def out_mse(widths: dict[str, int]) -> float:
            saved = {}
            for name, pname in layers:
                if name in widths:
                    p = params[pname]
                    saved[pname] = p.detach().clone()
                    p.copy_(_quantize_weight(p, widths[name]))
            try:
                return float(((gm(x) - ref) ** 2).mean())
            finally:
                for pname, v in saved.items():
                    params[pname].copy_(v)

        sens = {name: {b: out_mse({name: b}) for b in candidates} for name, _ in layers}
        size = {name: int(params[p].numel()) for name, p in layers}
        uniform = sum(layer_cells(size[n], w_bits, bits_per_cell) for n in size)
        budget = int(cell_budget * uniform) if cell_budget <= 1 else int(cell_budget)
        bits = {name: max(candidates) for name, _ in layers}

        def total() -> int:
            return sum(layer_cells(size[n], bits[n], bits_per_cell) for n in bits)

        while total() > budget:
            best, best_ratio = None, float("inf")
            for n in bits:
                lower = [b for b in candidates if b < bits[n]]
                if not lower:
                    continue
                b = max(lower)
                saved = layer_cells(size[n], bits[n], bits_per_cell) - layer_cells(size[n], b, bits_per_cell)
                if saved <= 0:  # same number of slices: free to lower only if it does not hurt
                    bits[n] = b
                    best = "again"
                    break
                ratio = (sens[n][b] - sens[n][bits[n]]) / saved
                if ratio < best_ratio:
                    best, best_ratio = n, ratio
            if best is None:
                raise AnnccError(f"w-bits-auto: a budget of {budget} cells is below the smallest "
                                 f"configuration ({total()} cells at {min(candidates)} bits everywhere)")
            if best != "again":
                bits[best] = max(b for b in candidates if b < bits[best])
        # widths that save no cells go back up (a slice holds them anyway)
        for n in bits:
            while bits[n] < max(candidates) and layer_cells(size[n], bits[n] + 1, bits_per_cell) == \
                    layer_cells(size[n], bits[n], bits_per_cell):
                bits[n] += 1
        chosen = out_mse(bits)
        uniform_mse = out_mse({n: w_bits for n in bits})
    cells = {n: layer_cells(size[n], bits[n], bits_per_cell) for n in bits}
    return BitChoice(bits, sens, cells, budget, uniform, chosen, uniform_mse)


def record(module: Any, choice: BitChoice) -> None:
    """Put the choice on the module (`anncc.bit_choice`, read by the report)."""
    from anncc.ir._xdsl import StringAttr

    module.attributes[ATTR] = StringAttr(json.dumps(choice.to_json(), sort_keys=True))


def layer_weights(module: Any) -> list[tuple[str, str]]:
    """(anncc layer name, weight store key = torch parameter name) of each analog layer of an `ann` module."""
    from anncc.passes.quantize import analog_layers

    out = []
    for _, name, op in analog_layers(module):
        owner = op.weight.owner
        out.append((name, owner.key.data if hasattr(owner, "key") else name))
    return out


def apply_auto_bits(model: Any, module: Any, opts: Any, example: Any) -> BitChoice:
    """Choose per-layer widths for `opts` (`w_bits_auto`), set `opts.w_bits_per_layer`, record the choice."""
    from anncc.pipeline import _to_numpy, resolve_target

    if opts.w_bits_per_layer:
        raise AnnccError("w-bits-auto and w-bits-per-layer exclude each other")
    calib = opts.calib if opts.calib is not None else example
    if isinstance(calib, (tuple, list)):
        calib = calib[0]
    choice = choose_bits(model, layer_weights(module), _to_numpy(calib), opts.w_bits, opts.cell_budget,
                         resolve_target(opts).bits_per_cell)
    opts.w_bits_per_layer = choice.spec()
    record(module, choice)
    return choice
