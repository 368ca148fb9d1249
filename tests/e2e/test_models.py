"""A transformer encoder block through every level: linears over tokens, digital attention.

The attention matmuls, softmax and layer norms stay digital (float between
dequantize and quantize); every linear is tiled onto `rram` arrays. The integer
and ideal-cell levels must track the float model.
"""

from __future__ import annotations

import torch

import anncc
from anncc.examples import models
from anncc.ir.ann import MatmulOp


def test_transformer_block_lowers_to_cells_and_tracks_float():
    ex = models.transformer_block()
    x = ex.example_inputs[0]
    batch = torch.cat([x, 0.5 * x + 0.1, -x])
    cm = anncc.compile(ex.model, x, target="rram", calib=batch)
    assert any(isinstance(o, MatmulOp) for o in cm.ir("cell").walk())  # attention stays digital
    assert sum(o.name == "cell.mvm" for o in cm.ir("cell").walk()) > 0
    ref = ex.model(batch).detach()
    for level, tol in (("ann", 1e-5), ("xbar", 0.1), ("cell", 0.1)):
        err = float((cm.run(batch, level=level) - ref).norm() / ref.norm())
        assert err < tol, (level, err)
