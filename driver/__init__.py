"""anncc: the analog neural-network compiler.

    import anncc
    cm = anncc.compile(model, example_inputs, target="sot-mtj", w_bits=4, in_bits=8)
    cm.run(x, level="xbar")

Nothing is imported eagerly (PEP 562 module `__getattr__`): `import anncc`
stays cheap, and `ir/` importing the bottom modules `anncc.errors`,
`anncc.files` and `anncc.limits` loads no driver code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["compile", "finetune", "AnnccError", "__version__"]

if TYPE_CHECKING:
    from anncc.errors import AnnccError


def compile(*args: Any, **kwargs: Any):  # noqa: A001 - the public name DESIGN.md gives
    """Compile a model for a target; see `anncc.pipeline.compile_model`."""
    from anncc.pipeline import compile_model

    return compile_model(*args, **kwargs)


def finetune(*args: Any, **kwargs: Any):
    """Hardware-aware fine-tuning for a target; see `anncc.hwtrain.finetune` (returns a FinetuneResult)."""
    from anncc.hwtrain import finetune as _finetune

    return _finetune(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "AnnccError":
        from anncc.errors import AnnccError

        return AnnccError
    raise AttributeError(f"module 'anncc' has no attribute '{name}'")
