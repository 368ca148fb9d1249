"""anncc: the analog neural-network compiler.

    import anncc
    cm = anncc.compile(model, example_inputs, target="sot-mtj", w_bits=4, in_bits=8)
    cm.run(x, level="xbar")

Heavy modules (torch, xDSL) load on first use, so `import anncc` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["compile", "AnnccError", "__version__"]

from anncc.errors import AnnccError


def compile(*args: Any, **kwargs: Any):  # noqa: A001 - the public name DESIGN.md gives
    """Compile a model for a target; see `anncc.pipeline.compile_model`."""
    from anncc.pipeline import compile_model

    return compile_model(*args, **kwargs)
