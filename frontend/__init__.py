"""anncc.frontend: PyTorch models into the `ann` dialect.

    from anncc.frontend import import_model, load_model
    loaded = load_model("digits_cnn.pt2")                 # safe: no code runs
    module, store = import_model(loaded.program)          # verified ann module + weights

`import_model` goes through torch.export; `load_model` reads `.pt2` files,
state dicts with a model factory, and (only when trusted) pickled modules.
"""

from __future__ import annotations

from anncc.frontend.importer import example_inputs_of, import_model, supported_ops
from anncc.frontend.loader import LoadedModel, load_model, parse_input_shape

__all__ = [
    "LoadedModel",
    "example_inputs_of",
    "import_model",
    "load_model",
    "parse_input_shape",
    "supported_ops",
]
