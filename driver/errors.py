"""The errors a user can cause, each with one clear message.

The command-line drivers catch `AnnccError` and print its message (never a
traceback) and exit non-zero. `where` names the place: a model node and source
line, an IR location, a target field, a file.

Layering: this module, `anncc.files` (atomic writes, confined paths) and
`anncc.limits` (what an input may cost) are the bottom of anncc. They import
only the standard library, and the package `__init__` (`driver/__init__.py`)
imports nothing eagerly (PEP 562 `__getattr__`), so `ir/`, `targets/` and every
other level may import them without loading any driver code (the pipeline,
the command lines, torch or xDSL). A test checks that.
"""

from __future__ import annotations


class AnnccError(Exception):
    """A failure caused by the user's input; `str()` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class StoreError(AnnccError):
    """A weight-store key is missing, or its content does not match its digest."""


class ModelLoadError(AnnccError):
    """A model file could not be loaded (corrupt, unsafe, unsupported format)."""


class UnsupportedOpsError(AnnccError):
    """The model uses operations anncc cannot import; lists all of them at once."""


class TargetError(AnnccError):
    """A target field is unknown or out of its allowed range."""


class IRError(AnnccError):
    """Malformed or invalid IR text."""


class ToolMissingError(AnnccError):
    """An external tool (ngspice, iverilog, yosys) is not installed."""


class InputError(AnnccError):
    """A file or option the user gave is malformed, unsafe or too large (`anncc.inputs`)."""


class LimitError(InputError):
    """An input asks for more memory, IR or archive size than `anncc.limits` allows."""
