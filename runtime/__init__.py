"""anncc.runtime: executable semantics of every level, device physics, Monte Carlo.

    model = anncc.runtime.load("build/runtime")
    model.run(x, level="cell", analog=True, seed=0)
"""

from __future__ import annotations

from anncc.runtime.model import Model, load

__all__ = ["Model", "load"]
