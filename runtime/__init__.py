"""anncc.runtime: executable semantics of every level, device physics, Monte Carlo.

    model = anncc.runtime.load("build/")
    model.run(x, level="cell", analog=True, seed=0)

`load` and `Model` import torch on first use, so importing the package (for the
IR-drop solver, say) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Model", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from anncc.runtime import model

        return getattr(model, name)
    raise AttributeError(name)
