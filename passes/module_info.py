"""What a pass may know about the module it transforms besides the IR: its weight store and target.

The public API for passes (anncc's own and users'):

    from anncc.passes.module_info import store_of, target_of
    store = store_of(module)          # the WeightStore (anncc-opt: --weights FILE.npz)
    t = target_of(module)             # the validated Target (`anncc.target` attribute)
    t = target_of(module, "rram")     # a pass's `target` option wins over the attribute

`attach_store(module, store)` and `set_target(module, name, overrides)` set them
(the driver and anncc-opt do; a test or a script may). The implementation lives
in `passes/_store.py` and `passes/_target.py`, which keep working for existing
imports.
"""

from __future__ import annotations

from anncc.passes._store import attach_store, store_of
from anncc.passes._target import DEFAULT_TARGET, OVERRIDES_ATTR, TARGET_ATTR, set_target, target_of

__all__ = ["DEFAULT_TARGET", "OVERRIDES_ATTR", "TARGET_ATTR", "attach_store", "set_target", "store_of",
           "target_of"]
