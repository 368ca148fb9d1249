"""anncc.ir: the three dialects (`ann`, `xbar`, `cell`), the weight store, parsing and printing.

    from anncc.ir import parse_module, print_module
    module = parse_module(text)            # verifies; IRError with line:column on bad text
    text = print_module(module)            # print -> parse -> print is identical
"""

from __future__ import annotations

from anncc.ir.module_io import make_context, parse_module, print_module, verify_module
from anncc.ir.store import WeightStore, digest_of

__all__ = ["WeightStore", "digest_of", "make_context", "parse_module", "print_module", "verify_module"]
