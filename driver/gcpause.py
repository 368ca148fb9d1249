"""`paused_gc`: Python's cyclic garbage collector held off while a compile, a build or a load runs.

A compiled chip is millions of long-lived Python objects (xDSL ops, their uses,
attributes, results: a `cell.mvm` and an `ann.weight` per array, 100,000 arrays
and more at the compiler's sizes). Every time a pass allocates enough new objects,
CPython's collector runs, and its full collections walk the whole IR again, though
none of it is garbage. Measured on the ResNet-18-style model at the compiler's
array sizes (rram, 101,008 arrays, 2 cores, `python bench/bench_compile.py
--models resnet18 --target rram --no-emit`, with and without the pause):
compile 42.8 s with the collector running, 31.4 s paused, the same peak memory
(1.50 GB) because passes make little cyclic garbage (the ops a pass replaces,
freed by the next collection once the pause ends).

The pause nests, and restores the collector's previous state on the way out,
exceptions included; a caller that had turned the collector off keeps it off.
On the way out the objects made during the pause join the oldest generation
without being scanned (`gc.freeze()` then `gc.unfreeze()`, done only when
nothing else is frozen): cyclic garbage among them waits for the next full
collection, as long-lived objects do.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off cyclic garbage collection inside the block (also usable as a decorator)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                # the objects made during the pause go to the oldest generation as they are (a
                # list splice, no scan); else the first allocation after enable() would trigger a
                # young collection that walks every one of them (1.5 s after a 100,000-array compile)
                gc.freeze()
                gc.unfreeze()
            gc.enable()
