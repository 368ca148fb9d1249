"""Context, parsing, printing and verification of anncc modules."""

from __future__ import annotations

import dataclasses
import io

from anncc.errors import IRError
from anncc.ir._xdsl import (
    Builtin,
    Context,
    DiagnosticException,
    Func,
    ModuleOp,
    Operation,
    ParseError,
    Parser,
    Printer,
    Span,
    Test,
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


class LocatingParser(Parser):
    """xDSL's parser, remembering where in the source each operation starts.

    xDSL ops carry no source position, so a verifier error could not say where
    the bad op is; with `starts`, it names the op's `file:line:col`.
    `line_offset` shifts reported lines (a chunk of a `--split-input-file` input).
    """

    def __init__(self, ctx: Context, text: str | bytes, name: str,
                 starts: dict[Operation, Span] | None = None, line_offset: int = 0):
        super().__init__(ctx, text, name)
        self.starts: dict[Operation, Span] = {} if starts is None else starts
        self.line_offset = line_offset

    def parse_operation(self) -> Operation:
        start = self.here()
        op = super().parse_operation()
        self.starts[op] = start
        return op

    def here(self) -> Span:
        """The span of the current token (where parsing stopped, after an error)."""
        return dataclasses.replace(self._current_token.span, line_offset=self.line_offset)


def first_failing_op(module: ModuleOp) -> tuple[Operation, Exception] | None:
    """The first op, in source order, whose own verifier fails (nested ops apart)."""
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except Exception as e:  # noqa: BLE001 - a crashing verifier is a failing op too
            return op, e
    return None


def diagnostic_message(error: object) -> str:
    """The first line of an xDSL diagnostic, without its `Operation does not verify:` prefix."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else "invalid IR"
    return first.removeprefix("Operation does not verify: ")


def locate_failure(module: ModuleOp, starts: dict[Operation, Span]) -> tuple[str | None, str]:
    """(`file:line:col` of the first failing op, or None; the problem) for a module that fails."""
    found = first_failing_op(module)
    if found is None:
        return None, "invalid IR"
    op, error = found
    message = diagnostic_message(error)
    if not isinstance(error, DiagnosticException):  # the verifier crashed on this input
        message = f"{op.name}: verifier failed ({type(error).__name__}: {error})"
    start = starts.get(op)
    return (str(start.get_location()) if start is not None else None), message


def parse_module(text: str, name: str = "<input>", verify: bool = True) -> ModuleOp:
    """Parse (and verify) IR text; every failure is one IRError naming file, line and column.

    Text past `anncc.limits` (size, op count, a tensor type too large to hold) is
    refused before parsing.
    """
    from anncc.limits import check_ir_text

    check_ir_text(text, name)
    parser: LocatingParser | None = None
    try:
        parser = LocatingParser(make_context(), text, name)  # lexes the first token already
        module = parser.parse_module()
    except ParseError as e:
        raise IRError(e.msg, where=str(e.span.get_location())) from None
    except Exception as e:  # noqa: BLE001 - an attribute's verifier, or xDSL failing otherwise
        message = diagnostic_message(e)
        if not isinstance(e, DiagnosticException):
            message = f"malformed IR ({type(e).__name__}: {message})"
        where = str(parser.here().get_location()) if parser is not None else f"{name}:1:1"
        raise IRError(message, where=where) from None
    if verify:
        _verify(module, name, parser.starts)
    return module


def verify_module(module: ModuleOp, name: str = "<module>") -> None:
    """Verify every op; an IRError names the failing op and its problem."""
    _verify(module, name, {})


def _verify(module: ModuleOp, name: str, starts: dict[Operation, Span]) -> None:
    try:
        module.verify()
    except Exception as e:  # noqa: BLE001 - a crashing verifier still names the op
        where, message = locate_failure(module, starts)
        if where is None and message == "invalid IR":
            message = diagnostic_message(e)
        raise IRError(message, where=where or name) from None


def print_module(module: ModuleOp) -> str:
    buf = io.StringIO()
    Printer(stream=buf).print_op(module)
    return buf.getvalue() + "\n"
