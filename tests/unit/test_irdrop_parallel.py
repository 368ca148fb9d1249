"""Effective weights of many arrays on worker processes: the in-place solve, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from anncc.runtime.irdrop import MeshParams, effective_weights, parallel


def _arrays(n: int, shape: tuple[int, int]) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.uniform(1e-6, 1e-4, shape) for _ in range(n)]


def test_worker_processes_give_the_in_place_numbers(monkeypatch):
    monkeypatch.setenv(parallel.SOLVER_PROCESSES_ENV, "2")
    monkeypatch.setattr(parallel, "_MIN_SITES_FOR_POOL", 0)  # small arrays, pool anyway
    cells = _arrays(3, (72, 80))  # above the column-block solver's 64 rows: dense-nd
    params = [MeshParams(2.0, 50.0), MeshParams(1.0, 30.0), MeshParams(2.0, 50.0)]
    try:
        got = parallel.effective_weights_many(cells, params)
        pool = parallel._POOL
        assert pool is not None  # it really ran on the pool
        again = parallel.effective_weights_many(cells[:2], params[:2])  # a smaller batch: same pool
        assert parallel._POOL is pool
        assert all(np.array_equal(a, b) for a, b in zip(again, got, strict=False))
    finally:
        parallel.shutdown_pool()
    for g, p, out in zip(cells, params, got, strict=True):
        assert np.array_equal(out, effective_weights(g, p))


def test_one_process_or_little_work_solves_in_place(monkeypatch):
    monkeypatch.setenv(parallel.SOLVER_PROCESSES_ENV, "1")
    cells = _arrays(2, (16, 16))
    p = MeshParams(1.0, 50.0)
    got = parallel.effective_weights_many(cells, [p, p])
    assert parallel._POOL is None
    assert all(np.array_equal(o, effective_weights(g, p)) for g, o in zip(cells, got, strict=True))
    monkeypatch.setenv(parallel.SOLVER_PROCESSES_ENV, "2")
    parallel.effective_weights_many(cells, [p, p])  # 512 cells: not worth a pool
    assert parallel._POOL is None
    with pytest.raises(ValueError, match="2 arrays but 1"):
        parallel.effective_weights_many(cells, [p])


def test_column_block_chunks_on_workers_give_the_in_place_numbers(monkeypatch):
    """A layer group of small arrays cut into chunks on the pool: the in-place batch, bit for bit."""
    import torch

    from anncc.runtime.irdrop.blocks import effective_weights_batch

    monkeypatch.setenv(parallel.SOLVER_PROCESSES_ENV, "2")
    g = torch.from_numpy(np.stack(_arrays(9, (12, 20))))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: the same kernels, the same bits
    try:
        reference = effective_weights_batch(g, 2.0, 50.0)
    finally:
        torch.set_num_threads(threads)
    little = parallel.effective_weights_blocks(g, 2.0, 50.0)  # far below the work worth a pool
    assert parallel._POOL is None
    monkeypatch.setattr(parallel, "_MIN_BLOCK_WORK_FOR_POOL", 0)
    try:
        got = parallel.effective_weights_blocks(g, 2.0, 50.0)
        assert parallel._POOL is not None  # it really ran on the pool, in chunks of 2
    finally:
        parallel.shutdown_pool()
    assert torch.equal(got, reference)
    assert torch.allclose(little, reference, rtol=1e-12, atol=0)
    monkeypatch.setenv(parallel.SOLVER_PROCESSES_ENV, "1")  # a job pool's worker: in place
    assert torch.allclose(parallel.effective_weights_blocks(g, 2.0, 50.0), reference, rtol=1e-12, atol=0)
    assert parallel._POOL is None


def test_a_stream_yields_every_chunk_in_order_and_makes_cells_when_needed(monkeypatch):
    """`effective_weights_stream`: chunks in order covering every array once, each the in-place
    solve of its arrays; on the pool the cells of a chunk are made no more than the look-ahead
    before it is taken, and a pool that dies mid-stream leaves the rest solved in place."""
    import torch

    from anncc.runtime.irdrop.blocks import effective_weights_batch

    g = torch.from_numpy(np.stack(_arrays(11, (6, 9))))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = effective_weights_batch(g, 2.0, 50.0)
    finally:
        torch.set_num_threads(threads)
    made: list[tuple[int, int]] = []

    def cells(i, j):
        made.append((i, j))
        return g[i:j]

    def run():
        got, spans = [], []
        for i, j, part in parallel.effective_weights_stream(cells, 11, 6, 9, 2.0, 50.0):
            spans.append((i, j))
            got.append(part)
            assert len(made) <= len(spans) + parallel._STREAM_AHEAD_PER_PROCESS * 2
        return spans, torch.cat(got)

    monkeypatch.setenv(parallel.SOLVER_PROCESSES_ENV, "2")
    monkeypatch.setattr(parallel, "_MIN_BLOCK_WORK_FOR_POOL", 0)
    monkeypatch.setattr(parallel, "_STREAM_AHEAD_PER_PROCESS", 1)
    try:
        spans, got = run()
        assert parallel._POOL is not None and len(spans) >= 4  # chunks of 2 on the pool
        assert spans == made and spans[0][0] == 0 and spans[-1][1] == 11
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert torch.equal(got, reference)

        class Dead:
            def submit(self, *a, **k):
                from concurrent.futures.process import BrokenProcessPool

                raise BrokenProcessPool("gone")

        made.clear()
        monkeypatch.setattr(parallel, "_pool", lambda n: Dead())
        spans, got = run()
        assert spans[-1][1] == 11 and torch.equal(got, reference)
    finally:
        parallel.shutdown_pool()
