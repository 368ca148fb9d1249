"""The column-block solver (runtime/irdrop/blocks.py) is exact: it agrees with the sparse and
dense-nd solvers and solves a batch of arrays as each one alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anncc.runtime.irdrop import MeshParams, effective_weights
from anncc.runtime.irdrop.blocks import MAX_ROWS, effective_weights_batch

PARAMS = MeshParams(r_wire_ohm=2.5, r_contact_ohm=50.0)


def cells(shape, seed=0):
    g = np.random.default_rng(seed).uniform(1e-6, 2e-4, shape)
    g[..., 0, -1] = 0.0  # an open site
    return g


# both sweeps: rows carried along (M ≤ 2N) and inverses kept (M > 2N), either side of the switch
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (7, 1), (5, 9), (16, 40), (33, 20), (8, 16), (8, 17)])
def test_blocks_agree_with_the_sparse_solver(shape):
    g = cells(shape)
    want = effective_weights(g, PARAMS, backend="splu")
    got = effective_weights_batch(g[None], PARAMS.r_wire_ohm, PARAMS.r_contact_ohm)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
    assert np.all(got.sum(0) < g.sum(0) + 1e-15)  # IR drop only loses current


def test_blocks_agree_with_dense_nd_at_the_largest_block_size():
    g = cells((MAX_ROWS, MAX_ROWS), seed=3)
    want = effective_weights(g, PARAMS, backend="dense-nd")
    got = effective_weights_batch(g[None], PARAMS.r_wire_ohm, PARAMS.r_contact_ohm)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10 * np.abs(want).max())


def test_a_batch_is_each_array_alone_and_auto_uses_blocks_for_small_arrays():
    g = cells((5, 12, 18), seed=1)
    batch = effective_weights_batch(torch.from_numpy(g), 2.5, 50.0)
    for i in range(5):
        alone = effective_weights(g[i], PARAMS)  # "auto": column blocks below MAX_ROWS rows
        assert np.array_equal(batch[i].numpy(), alone)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        effective_weights_batch(np.ones((3, 3)), 2.5, 50.0)
    with pytest.raises(ValueError):
        effective_weights_batch(np.ones((1, 3, 3)), 0.0, 50.0)
