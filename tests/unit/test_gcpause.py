"""`anncc.gcpause.paused_gc`: the collector is off inside, and back as it was outside."""

from __future__ import annotations

import gc

import pytest

from anncc.gcpause import paused_gc


@pytest.fixture(autouse=True)
def _collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_on_after():
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner exit must not turn it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_exception_restores_the_collector():
    with pytest.raises(ValueError):
        with paused_gc():
            raise ValueError("boom")
    assert gc.isenabled()


def test_a_caller_that_turned_it_off_keeps_it_off():
    gc.disable()
    with paused_gc():
        pass
    assert not gc.isenabled()


def test_as_a_decorator_each_call_pauses():
    seen = []

    @paused_gc()
    def f():
        seen.append(gc.isenabled())

    f()
    f()
    assert seen == [False, False] and gc.isenabled()


def test_compile_runs_with_the_collector_paused(monkeypatch):
    from cell_ir import mlp_model

    import anncc.passes.tile as tile

    states = []
    real = tile.TilePass.apply

    def spy(self, ctx, module):
        states.append(gc.isenabled())
        return real(self, ctx, module)

    monkeypatch.setattr(tile.TilePass, "apply", spy)
    mlp_model([8, 6, 4], n_calib=40)
    assert states == [False] and gc.isenabled()


def test_objects_made_during_the_pause_join_the_oldest_generation_unscanned():
    with paused_gc():
        made = [[i] for i in range(50_000)]  # containers the collector tracks
        assert gc.get_count()[0] >= 40_000
    assert gc.get_count()[0] < 1_000  # no young collection pending over them
    assert gc.get_freeze_count() == 0
    del made


def test_what_a_caller_froze_stays_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            _ = [[i] for i in range(1000)]
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
