"""Technology behaviour is asked of the target object, never chosen by its name (issue 8).

A subclass of a registered target under a new name must get exactly its
parent's behaviour: tunable g_max in allocate-resistance, the conductance range
of an array in the runtime, default drift times in `anncc eval`, E96 level errors.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Literal

import pytest
import torch
from pydantic import Field

import anncc
from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.runtime.analog import array_target
from anncc.runtime.montecarlo import eval_conditions
from anncc.targets import get_target
from anncc.targets._registry import TARGETS, register_target
from anncc.targets.cmos import CmosTarget
from anncc.targets.mtj import SotMtjTarget
from anncc.targets.pcm import PcmTarget


@pytest.fixture(scope="module")
def renamed():
    """`my-pcm`, `my-mtj`, `my-cmos`: the stock classes under new names, registered for the test."""

    class MyPcm(PcmTarget):
        name: Literal["my-pcm"] = Field("my-pcm", description="The registry name.")

    class MyMtj(SotMtjTarget):
        name: Literal["my-mtj"] = Field("my-mtj", description="The registry name.")

    class MyCmos(CmosTarget):
        name: Literal["my-cmos"] = Field("my-cmos", description="The registry name.")

    for cls in (MyPcm, MyMtj, MyCmos):
        register_target(cls)
    yield {"pcm": "my-pcm", "sot-mtj": "my-mtj", "cmos": "my-cmos"}
    for name in ("my-pcm", "my-mtj", "my-cmos"):
        TARGETS.pop(name, None)


def _arrays(target: str) -> list[dict]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 8)).eval()
    x = torch.rand(8, 64)
    cm = anncc.compile(model, x[:1], target=target, calib=x)
    ops = [o.params() for o in cm.ir("cell").walk() if isinstance(o, CellMvmOp)]
    e96 = cm.ir("cell").attributes.get("anncc.e96_error")
    return [{"g": (p.g_min_s, p.g_max_s), "e96": json.loads(e96.data) if e96 else None} for p in ops]


@pytest.mark.parametrize("stock", ["pcm", "sot-mtj", "cmos"])
def test_a_renamed_subclass_compiles_to_the_same_arrays(renamed, stock):
    assert _arrays(renamed[stock]) == _arrays(stock)


def test_capabilities_are_inherited_not_named(renamed):
    for stock, new in renamed.items():
        a, b = get_target(stock), get_target(new)
        assert (a.TUNABLE_G_MAX, a.DEFAULT_DRIFT_TIMES_S, a.BIAS_DEPENDENT, a.OPAMP_SUMMER) == (
            b.TUNABLE_G_MAX, b.DEFAULT_DRIFT_TIMES_S, b.BIAS_DEPENDENT, b.OPAMP_SUMMER)
        # the runtime derives one array's target through the target itself
        g_lo, g_hi = a.g_min_s, a.g_min_s + 0.8 * (a.g_max_s - a.g_min_s)
        ta, tb = array_target(a, g_lo, g_hi), array_target(b, g_lo, g_hi)
        assert ta.model_dump(exclude={"name"}) == tb.model_dump(exclude={"name"})
        assert tb.g_max_s == pytest.approx(g_hi)
    args = SimpleNamespace(level="cell", ideal=False, ir_drop=False, drift="", no_compensation=False)
    rows = [r[0] for r in eval_conditions(get_target("my-pcm"), args)]
    assert sum("drift" in r for r in rows) == 6  # 3 default times, compensated and not
    assert get_target("my-pcm").TUNABLE_G_MAX and not get_target("my-mtj").TUNABLE_G_MAX
