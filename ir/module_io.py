"""Context, parsing, printing and verification of anncc modules."""

from __future__ import annotations

import io

from anncc.errors import IRError
from anncc.ir._xdsl import (
    Builtin,
    Context,
    DiagnosticException,
    Func,
    ModuleOp,
    ParseError,
    Parser,
    Printer,
    Test,
    VerifyException,
)


def dialect_factories() -> dict:
    """Lazy factories of anncc's dialects, by name (for xDSL contexts and anncc-opt)."""

    def _ann():
        from anncc.ir.ann import ANN

        return ANN

    def _xbar():
        from anncc.ir.xbar import XBAR

        return XBAR

    def _cell():
        from anncc.ir.cell import CELL

        return CELL

    return {"ann": _ann, "xbar": _xbar, "cell": _cell}


def make_context() -> Context:
    """A context with builtin, func, test and the three anncc dialects."""
    ctx = Context()
    for d in (Builtin, Func, Test):
        ctx.load_dialect(d)
    for name, factory in dialect_factories().items():
        ctx.register_dialect(name, factory)
    return ctx


def parse_module(text: str, name: str = "<input>", verify: bool = True) -> ModuleOp:
    """Parse (and verify) IR text; errors become one IRError naming file, line and column."""
    try:
        module = Parser(make_context(), text, name).parse_module()
    except ParseError as e:
        raise IRError(_first_line(str(e))) from None
    if verify:
        verify_module(module, name)
    return module


def verify_module(module: ModuleOp, name: str = "<module>") -> None:
    """Verify every op; an IRError names the failing op and its problem."""
    try:
        module.verify()
    except (VerifyException, DiagnosticException) as e:
        raise IRError(_first_line(str(e)), where=name) from None


def print_module(module: ModuleOp) -> str:
    buf = io.StringIO()
    Printer(stream=buf).print_op(module)
    return buf.getvalue() + "\n"


def _first_line(msg: str) -> str:
    lines = [ln for ln in msg.strip().splitlines() if ln.strip()]
    # xDSL's ParseError prints "<file>:L:C" then the source line and a caret line
    if len(lines) >= 4 and lines[2].strip().startswith("^"):
        return f"{lines[0].strip()}: {lines[3].strip()}"
    return " ".join(ln.strip() for ln in lines[:3]) if lines else "invalid IR"
