"""The weight store a pass reads and writes, attached to the module it transforms.

xDSL passes receive only the context and the module, so the store travels with
the module in a weak map (the module owns no reference to it).
"""

from __future__ import annotations

import weakref

from anncc.errors import AnnccError
from anncc.ir._xdsl import ModuleOp
from anncc.ir.store import WeightStore

_STORES: weakref.WeakKeyDictionary[ModuleOp, WeightStore] = weakref.WeakKeyDictionary()


def attach_store(module: ModuleOp, store: WeightStore) -> None:
    _STORES[module] = store


def store_of(module: ModuleOp) -> WeightStore:
    store = _STORES.get(module)
    if store is None:
        raise AnnccError("this pass needs the module's weight store",
                         hint="anncc-opt: pass --weights FILE.npz; Python: passes._store.attach_store")
    return store
