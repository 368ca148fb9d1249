"""Context, parsing, printing and verification of anncc modules."""

from __future__ import annotations

import dataclasses
import re

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


class _Parts:
    """A write-only text stream that keeps what is written as a list of strings."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.write = self.parts.append

    def getvalue(self) -> str:
        return "".join(self.parts)


# Attribute classes cached by value: equal values of these print the same text (integers, strings,
# shapes). Every other attribute is cached by identity, which needs no such argument (the
# `#cell.analog` group all arrays of a layer share is one object).
_BY_VALUE = frozenset({"TensorType", "IntegerType", "IndexType", "StringAttr", "IntegerAttr",
                       "IntAttr", "DenseIntOrFPElementsAttr", "BytesAttr", "TileAttr",
                       "ArrayGeometryAttr", "AdcAttr", "NoneAttr", "UnitAttr"})
# Attributes whose printing registers state in the printer (dialect resources): never cached.
_NEVER = frozenset({"DenseResourceAttr"})


class FastPrinter(Printer):
    """xDSL's `Printer`, the same text byte for byte, at a fraction of the time on big modules.

    A chip's cell level has one `cell.mvm` and one `ann.weight` per array (100,000 and more
    at the compiler's array sizes), and xDSL prints every attribute and type of every op again,
    character by character for string literals, through one `print()` call per fragment: saving
    the ResNet-18-style build's three levels took 84 s. Here fragments go to a list joined once,
    an attribute's text is kept after its first print (by value for the classes in `_BY_VALUE`,
    by identity for the rest, e.g. the `#cell.analog` group every array of a layer shares),
    a string literal is escaped in one pass, and the per-array ops (`_FAST_OPS`) are written
    by hand in their assembly format instead of through xDSL's format interpreter.
    `tests/unit/test_module_io.py` checks the text equals xDSL's `Printer` on every level
    of a compiled model and on array ops with extra attributes (which take xDSL's path).
    """

    def __init__(self) -> None:
        self._parts = _Parts()
        super().__init__(stream=self._parts)  # type: ignore[arg-type]
        self._by_value: dict = {}
        self._by_id: dict[tuple[int, bool], tuple] = {}

    def text(self) -> str:
        return self._parts.getvalue()

    def print_string(self, text: str, *, indent: int | None = None) -> None:
        if "\n" not in text:
            self._current_column += len(text)
            self._parts.write(text)
            return
        super().print_string(text, indent=indent)

    def print_bytes_literal(self, bytestring: bytes) -> None:
        self.print_string(_bytes_literal(bytestring))

    def print_attribute(self, attribute) -> None:
        if type(attribute).__name__ in _NEVER:
            super().print_attribute(attribute)
            return
        self.print_string(self._cached(attribute, False))

    def params_text(self, attribute) -> str:
        """The text of `attribute.print_parameters` (how an op's format prints an attribute of a
        known type: `<16x7 at 0, 0>` for a `#xbar.tile`), cached as `print_attribute`'s is."""
        return self._cached(attribute, True)

    def _cached(self, attribute, params: bool) -> str:
        ident = (id(attribute), params)  # the same object again (shared types and groups): no hash
        hit = self._by_id.get(ident)
        if hit is not None and hit[0] is attribute:
            return hit[1]
        by_value = type(attribute).__name__ in _BY_VALUE
        if by_value:
            text = self._by_value.get((attribute, params))
            if text is not None:
                self._by_id[ident] = (attribute, text)
                return text
        parts = self._parts.parts
        start, column = len(parts), self._current_column
        if params:
            attribute.print_parameters(self)
        else:
            Printer.print_attribute(self, attribute)
        text = "".join(parts[start:])
        del parts[start:]
        self._current_column = column
        if "\n" not in text:  # multi-line text depends on the indentation: never cached
            if by_value:
                self._by_value[(attribute, params)] = text
            self._by_id[ident] = (attribute, text)  # the reference keeps the id unique
        return text

    def print_op(self, op) -> None:
        fast = _FAST_OPS.get(op.name)
        if (fast is None or op.attributes or len(op.properties) != fast[1] or op.regions
                or self.print_generic_format or self.print_debuginfo
                or op in self.diagnostic.op_messages):
            super().print_op(op)
            return
        self._print_results(op)
        self.print_string(op.name)
        fast[0](self, op)


def _print_operands(p: FastPrinter, op) -> None:
    for i, v in enumerate(op.operands):
        p.print_string(", " if i else " ")
        p.print_ssa_value(v)


def _print_tile_fields(p: FastPrinter, op) -> None:  # anncc.ir.xbar.TILE_FORMAT
    p.print_string(" tile ")
    p.print_attribute(op.tile)
    p.print_string(" " + p.params_text(op.geometry) + " layer ")
    p.print_attribute(op.layer)
    p.print_string(f" w_bits {op.w_bits.value.data} acc_bits {op.acc_bits.value.data}")


def _print_types(p: FastPrinter, op) -> None:
    p.print_string(" : ")
    p.print_function_type(op.operand_types, op.result_types)


def _print_weight(p: FastPrinter, op) -> None:  # "$key `digest` $digest attr-dict `:` type($result)"
    p.print_string(" ")
    p.print_attribute(op.key)
    p.print_string(" digest ")
    p.print_attribute(op.digest)
    p.print_string(" : ")
    p.print_attribute(op.results[0].type)


def _print_xbar_mvm(p: FastPrinter, op) -> None:
    _print_operands(p, op)
    _print_tile_fields(p, op)
    _print_types(p, op)


def _print_cell_mvm(p: FastPrinter, op) -> None:
    _print_operands(p, op)
    _print_tile_fields(p, op)
    p.print_string(" array " + p.params_text(op.array) + " adc " + p.params_text(op.adc)
                   + " analog " + p.params_text(op.analog))
    _print_types(p, op)


#: The ops a chip has one of per array, printed by hand in their assembly format (an op with
#: extra attributes, or another number of properties, goes through xDSL's format printer):
#: op name -> (printer of what follows the name, the number of properties the format prints).
_FAST_OPS = {"ann.weight": (_print_weight, 2), "xbar.mvm": (_print_xbar_mvm, 5),
             "cell.mvm": (_print_cell_mvm, 8)}


_ESCAPES = {b: f"\\{b:02X}" for b in (*range(0x20), 0x22, *range(0x7F, 0x100))}
_ESCAPES[0x5C] = "\\\\"
_PLAIN = re.compile(rb'[\x20-\x21\x23-\x5b\x5d-\x7e]*')


def _bytes_literal(data: bytes) -> str:
    """`"..."` as xDSL prints bytes: `\\` for a backslash, `\\XX` outside printable ASCII and for `"`."""
    if _PLAIN.fullmatch(data):
        return '"' + data.decode("ascii") + '"'
    return '"' + "".join(_ESCAPES.get(b) or chr(b) for b in data) + '"'


def print_module(module: ModuleOp) -> str:
    """The module's text, as xDSL's `Printer` writes it (through `FastPrinter`), with a final newline."""
    return print_with_names(module)[0]


def print_with_names(module: ModuleOp) -> tuple[str, dict]:
    """The module's text (with a final newline) and the name every SSA value got in it (`%fc0_q`)."""
    printer = FastPrinter()
    printer.print_op(module)
    return printer.text() + "\n", {v: f"%{n}" for v, n in printer._ssa_values.items()}
