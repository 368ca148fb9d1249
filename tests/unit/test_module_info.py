"""`anncc.passes.module_info` is the public way for a pass to reach the store and the target."""

from __future__ import annotations

import numpy as np

from anncc.ir import parse_module
from anncc.ir.store import WeightStore
from anncc.passes import module_info


def test_store_and_target_round_trip_through_the_public_api():
    module = parse_module("func.func @f() {\n  func.return\n}\n")
    store = WeightStore()
    module_info.attach_store(module, store)
    assert module_info.store_of(module) is store
    module_info.set_target(module, "rram", {"adc_bits": 6})
    t = module_info.target_of(module)
    assert (t.name, t.adc_bits) == ("rram", 6)
    assert module_info.target_of(module, "pcm").name == "pcm"
    digest = store.add("k", np.arange(3))
    assert module_info.store_of(module).get("k", digest).tolist() == [0, 1, 2]
