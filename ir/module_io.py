"""Context, parsing, printing and verification of anncc modules."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import cast

from anncc.errors import IRError
from anncc.ir._xdsl import (
    Attribute,
    Builtin,
    Context,
    DiagnosticException,
    Func,
    IntegerAttr,
    MLIRTokenKind,
    ModuleOp,
    Operation,
    ParseError,
    Parser,
    Printer,
    Span,
    StringAttr,
    TensorType,
    Test,
    TypeAttribute,
    i64,
)
from anncc.ir.attrs import IdentityMemo


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
    """xDSL's parser, remembering where in the source each operation starts; the per-array ops
    it reads by hand when their text is exactly the text `FastPrinter` writes.

    xDSL ops carry no source position, so a verifier error could not say where
    the bad op is; with `starts`, it names the op's `file:line:col`.
    `line_offset` shifts reported lines (a chunk of a `--split-input-file` input).

    xDSL parses about 1,600 ops a second through its format interpreter, and a chip has one
    `cell.mvm`, `xbar.mvm` and `ann.weight` per array: loading the ResNet-18-style build took
    minutes. With `fast` (the default), an op `%r = <one of _FAST_PARSE>` whose whole text
    matches its `_FAST_PARSE` pattern (the printer's spacing, plain SSA names, no attribute
    dictionary) is built here: each field's text is parsed once per parser, by the xDSL routine
    the op's format uses (`_field_parsers`: the same text repeats across thousands of ops, and
    attributes are immutable, so equal texts share one attribute; a string without escapes and
    a tile in the printer's form, mostly distinct, are read directly), operands are looked up in
    xDSL's own SSA table, and the result is registered there as xDSL registers it. Anything
    else (a forward reference, a name defined twice, a type mismatch, a field that does not
    parse, a `loc(...)`, other spacing) leaves the parser untouched and goes to xDSL's path,
    so the result, the errors and their messages stay xDSL's. `fast_parsed` counts the ops
    built here; `tests/unit/test_fast_parse.py` checks both paths build the same modules.
    """

    def __init__(self, ctx: Context, text: str | bytes, name: str,
                 starts: dict[Operation, Span] | None = None, line_offset: int = 0,
                 fast: bool = True):
        super().__init__(ctx, text, name)
        self.starts: dict[Operation, Span] = {} if starts is None else starts
        self.line_offset = line_offset
        self.fast = fast
        self.fast_parsed = 0
        self._fields: dict[str, dict[str, Attribute | None]] = {kind: {} for kind in _FIELD_KINDS}
        self._op_classes: dict[str, type[Operation] | None] = {}

    def parse_operation(self) -> Operation:
        start = self.here()
        op = None
        if self.fast and self._current_token.kind is MLIRTokenKind.PERCENT_IDENT:
            op = self._parse_fast()
        if op is None:
            op = super().parse_operation()
        self.starts[op] = start
        return op

    def here(self) -> Span:
        """The span of the current token (where parsing stopped, after an error)."""
        return dataclasses.replace(self._current_token.span, line_offset=self.line_offset)

    def parse_optional_type(self) -> TypeAttribute | None:
        """xDSL's, but a tensor type's text is parsed once per parser (with `fast`): the
        variadic ops (`xbar.accumulate`, `xbar.concat`, `cell.vote`) list a type per operand,
        100,000 types in a ResNet-scale level, about 70 us each through xDSL."""
        token = self._current_token
        if not (self.fast and token.kind is MLIRTokenKind.BARE_IDENT and token.text == "tensor"):
            return super().parse_optional_type()
        content = self.lexer.input.content
        m = _TENSOR.match(content, token.span.start)
        if m is None:
            return super().parse_optional_type()
        cache = self._fields["type"]
        type_ = cache.get(m.group())
        if type_ is not None:
            self._resume_from(m.end())  # past the type, as xDSL leaves the parser after it
            return cast(TypeAttribute, type_)
        type_ = super().parse_optional_type()
        if isinstance(type_, TensorType) and content[m.end():self._current_token.span.start].strip() == "":
            cache[m.group()] = type_  # xDSL read exactly the matched text
        return type_

    def _parse_fast(self) -> Operation | None:
        """The per-array op at the current token, read by hand; None, with the parser where it
        was, when the text is anything but what the fast path knows (see the class doc)."""
        content = self.lexer.input.content
        start = self._current_token.span.start
        head = _HEAD.match(content, start)
        if head is None:
            return None
        name, op_name = head.groups()
        body, read = _FAST_PARSE[op_name]
        m = body.match(content, head.end())
        cls = self._op_class(op_name)
        if m is None or cls is None:
            return None
        values = self.ssa_values
        if name in values or name in self.forward_ssa_references:
            return None  # defined twice, or used before: xDSL's message, its forward-reference bookkeeping
        try:
            refs, types, props = read(self, m.groups())
        except _NotFast:
            return None
        operands = []
        for ref, type_ in zip(refs, types):
            defined = values.get(ref)
            if not defined or (defined[0].type is not type_ and defined[0].type != type_):
                return None  # a forward reference, or the type mismatch xDSL reports
            operands.append(defined[0])
        try:  # lex the token after the op, as xDSL does when it reads the op's last token
            self._resume_from(m.end())
            after = self._current_token
            if after.kind is MLIRTokenKind.BARE_IDENT and after.text == "loc":
                raise _NotFast  # the op's location: xDSL's path reads it
        except (ParseError, _NotFast):  # a lexer error there is xDSL's to report, from the op's start
            self._resume_from(start)
            return None
        op = cls.__new__(cls)  # what the format's `op_type.build` makes, without re-checking its arguments
        Operation.__init__(op, operands=operands, result_types=types[len(refs):], properties=props)
        self._register_ssa_definition(name, op.results, Span(start, head.end(1), self.lexer.input))
        self.fast_parsed += 1
        return op

    def field(self, kind: str, text: str) -> Attribute:
        """The attribute of the field text `text` of kind `kind` (`_field_parsers`), parsed once per
        parser; `_NotFast` when it does not parse alone to what the op's format accepts."""
        cache = self._fields[kind]
        try:
            attr = cache[text]
        except KeyError:
            attr = cache[text] = _field_parsers()[kind](self.ctx, text)
        if attr is None:
            raise _NotFast
        return attr

    def _op_class(self, op_name: str) -> type[Operation] | None:
        """The context's class of `op_name` when it is the class the fast path builds, else None."""
        try:
            return self._op_classes[op_name]
        except KeyError:
            cls = self.ctx.get_optional_op(op_name)
            expected = _fast_parse_classes()[op_name]
            self._op_classes[op_name] = found = cls if cls is expected else None
            return found


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
    by hand in their assembly format instead of through xDSL's format interpreter, what
    follows an array op's geometry once per combination of the instances it prints
    (`_print_array_op_tail`).
    `tests/unit/test_module_io.py` checks the text equals xDSL's `Printer` on every level
    of a compiled model and on array ops with extra attributes (which take xDSL's path).
    """

    def __init__(self) -> None:
        self._parts = _Parts()
        super().__init__(stream=self._parts)  # type: ignore[arg-type]
        self._by_value: dict = {}
        self._by_id: dict[tuple[int, bool], tuple] = {}
        self._tails = IdentityMemo()  # _print_array_op_tail

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


def _print_types(p: FastPrinter, op) -> None:
    p.print_string(" : ")
    p.print_function_type(op.operand_types, op.result_types)


def _print_array_op_tail(p: FastPrinter, op, groups: tuple[str, ...]) -> None:
    """What follows an `xbar.mvm`'s or `cell.mvm`'s geometry: ` layer … acc_bits N`, the
    `groups` (`cell.mvm`'s ` array <…> adc <…> analog <…>`) and ` : (types) -> type`.

    The arrays of a layer share these attribute and type instances, so the text is printed
    once per combination (`anncc.ir.attrs.IdentityMemo`)."""
    props = op.properties
    objects = (op.name, props["layer"], props["w_bits"], props["acc_bits"],
               *(props[g] for g in groups), *op.operand_types, *op.result_types)
    text = p._tails.get(objects)  # noqa: SLF001 - the printer's own cache
    if text is None:
        parts = p._parts.parts  # noqa: SLF001
        start, column = len(parts), p._current_column  # noqa: SLF001
        p.print_string(" layer ")
        p.print_attribute(op.layer)
        p.print_string(f" w_bits {op.w_bits.value.data} acc_bits {op.acc_bits.value.data}")
        for g in groups:
            p.print_string(f" {g} " + p.params_text(props[g]))
        _print_types(p, op)
        text = "".join(parts[start:])
        del parts[start:]
        p._current_column = column  # noqa: SLF001
        if "\n" not in text:  # (one line, as every type and group prints)
            p._tails.put(objects, (), text)  # noqa: SLF001
    p.print_string(text)


def _print_weight(p: FastPrinter, op) -> None:  # "$key `digest` $digest attr-dict `:` type($result)"
    p.print_string(" ")
    p.print_attribute(op.key)
    p.print_string(" digest ")
    p.print_attribute(op.digest)
    p.print_string(" : ")
    p.print_attribute(op.results[0].type)


def _print_xbar_mvm(p: FastPrinter, op) -> None:  # operands, anncc.ir.xbar.TILE_FORMAT, types
    _print_operands(p, op)
    p.print_string(" tile ")
    p.print_attribute(op.tile)
    p.print_string(" " + p.params_text(op.geometry))
    _print_array_op_tail(p, op, ())


def _print_cell_mvm(p: FastPrinter, op) -> None:
    _print_operands(p, op)
    p.print_string(" tile ")
    p.print_attribute(op.tile)
    p.print_string(" " + p.params_text(op.geometry))
    _print_array_op_tail(p, op, ("array", "adc", "analog"))


#: The ops a chip has one of per array, printed by hand in their assembly format (an op with
#: extra attributes, or another number of properties, goes through xDSL's format printer):
#: op name -> (printer of what follows the name, the number of properties the format prints).
_FAST_OPS = {"ann.weight": (_print_weight, 2), "xbar.mvm": (_print_xbar_mvm, 5),
             "cell.mvm": (_print_cell_mvm, 8)}


# --------------------------------------------------------------------------- the per-array ops, parsed


class _NotFast(Exception):
    """The op's text is not one the fast path reads: xDSL's parser reads it."""


# The lexer's tokens, as `FastPrinter` writes them: an SSA name (xDSL's `suffix-id`), a string
# literal (xDSL's pattern, possessive as `_xdsl` makes it; no surrogates, which its decoding
# would refuse), an integer, and an attribute's parameters or a tensor type without nesting,
# string or alias (`#`, `!`), whose text then means the same wherever it stands.
_NAME = r"%([0-9]+|[a-zA-Z$._-][a-zA-Z0-9$._-]*)"
_STR = r'("(?:[^"\\\n\v\f\ud800-\udfff]++|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*+")'
_INT = r"(-?[0-9]+)"
_PARAMS = r'(<[^<>"#!{}()\n]*>)'
_TYPE = r'(tensor<[^<>"#!{}()\n]*>)'
_TENSOR = re.compile(_TYPE[1:-1])
_HEAD = re.compile(_NAME + r" = (ann\.weight|xbar\.mvm|cell\.mvm) ")
_TILE = f" tile {_STR} {_PARAMS} layer {_STR} w_bits {_INT} acc_bits {_INT}"  # xbar.TILE_FORMAT


def _function_type(n: int) -> str:
    return r" : \(" + ", ".join([_TYPE] * n) + r"\) -> " + _TYPE


def _parse_alone(read):
    """A field parser: `read` run on a parser of the field's text alone, the attribute when
    it reads the whole text and is of the class the op's format accepts, else None."""

    def parse(ctx: Context, text: str) -> Attribute | None:
        try:
            parser = Parser(ctx, text)
            attr = read(parser)
            return attr if parser._current_token.kind is MLIRTokenKind.EOF else None
        except Exception:  # noqa: BLE001 - the op then goes to xDSL's path, which reports it
            return None

    return parse


def _of(cls: type, attr: Attribute) -> Attribute | None:
    return attr if isinstance(attr, cls) else None


def _parameters(cls):
    """What the format reads for `$x` of an attribute class it knows: its parameters."""
    return _parse_alone(lambda p: cls.new(cls.parse_parameters(p)))


def _string(ctx: Context, text: str) -> Attribute | None:
    """`$key`, `$tile`, `$layer`: the format reads any attribute; a string here (a literal with
    escapes as xDSL decodes it; one without is its own text, as the lexer takes it)."""
    if "\\" not in text:
        return StringAttr(text[1:-1])
    return _escaped_string(ctx, text)


_escaped_string = _parse_alone(lambda p: _of(StringAttr, p.parse_attribute()))

# A tile as the printer writes it; the rows from 1 (`0x7` would lex as a hexadecimal number)
_TILE_TEXT = re.compile(r"<([1-9][0-9]*)x(0|[1-9][0-9]*) at (0|[1-9][0-9]*), (0|[1-9][0-9]*)>")


def _tile(ctx: Context, text: str) -> Attribute | None:
    """`$geometry`: the tiles of a chip are mostly distinct (21,818 texts among the 101,008
    arrays of the ResNet-18-style build), and a parser of its own takes 40 us for one (6 us
    here); the printer's text is read here, as `TileAttr.parse_parameters` reads it."""
    from anncc.ir.xbar import TileAttr

    m = _TILE_TEXT.fullmatch(text)
    if m is None:
        return _parameters(TileAttr)(ctx, text)
    rows, cols, r0, c0 = m.groups()
    return TileAttr(int(rows), int(cols), int(r0), int(c0))


_FIELD_KINDS = ("str", "i64", "type", "tile", "array", "adc", "analog")


@functools.cache
def _field_parsers() -> dict[str, Callable[[Context, str], Attribute | None]]:
    """kind -> the parser of a field of that kind (`LocatingParser.field`), as the ops' formats
    read it (the dialect modules import this one: built on first use)."""
    from anncc.ir.cell import AdcAttr, AnalogAttr, ArrayGeometryAttr

    return {"str": _string,
            "i64": _parse_alone(lambda p: IntegerAttr.parse_with_type(p, i64)),  # IntegerAttr[I64]
            "type": _parse_alone(lambda p: _of(TensorType, p.parse_type())),
            "tile": _tile, "array": _parameters(ArrayGeometryAttr),
            "adc": _parameters(AdcAttr), "analog": _parameters(AnalogAttr)}


@functools.cache
def _fast_parse_classes() -> dict[str, type[Operation]]:
    from anncc.ir.ann import WeightOp
    from anncc.ir.cell import MvmOp as CellMvmOp
    from anncc.ir.xbar import MvmOp as XbarMvmOp

    return {"ann.weight": WeightOp, "xbar.mvm": XbarMvmOp, "cell.mvm": CellMvmOp}


_Read = tuple[tuple[str, ...], list[Attribute], dict[str, Attribute]]


def _read_tile_fields(p: LocatingParser, g: tuple[str, ...]) -> dict[str, Attribute]:
    tile, geometry, layer, w_bits, acc_bits = g
    return {"tile": p.field("str", tile), "geometry": p.field("tile", geometry),
            "layer": p.field("str", layer), "w_bits": p.field("i64", w_bits),
            "acc_bits": p.field("i64", acc_bits)}


def _read_weight(p: LocatingParser, g: tuple[str, ...]) -> _Read:
    key, digest, result = g
    return (), [p.field("type", result)], {"key": p.field("str", key), "digest": p.field("str", digest)}


def _read_xbar_mvm(p: LocatingParser, g: tuple[str, ...]) -> _Read:
    return g[:2], [p.field("type", t) for t in g[7:]], _read_tile_fields(p, g[2:7])


def _read_cell_mvm(p: LocatingParser, g: tuple[str, ...]) -> _Read:
    props = _read_tile_fields(p, g[6:11])
    props["array"] = p.field("array", g[11])
    props["adc"] = p.field("adc", g[12])
    props["analog"] = p.field("analog", g[13])
    return g[:6], [p.field("type", t) for t in g[14:]], props


#: The mirror of `_FAST_OPS`: op name -> (the pattern of what follows `%r = <name> ` in exactly
#: the text `FastPrinter` writes, the reader of its groups: (operand names, operand types and
#: the result type, properties in the format's order, as xDSL's format parser gives them)).
_FAST_PARSE: dict[str, tuple[re.Pattern[str], Callable[[LocatingParser, tuple[str, ...]], _Read]]] = {
    "ann.weight": (re.compile(f"{_STR} digest {_STR} : {_TYPE}"), _read_weight),
    "xbar.mvm": (re.compile(f"{_NAME}, {_NAME}{_TILE}{_function_type(2)}"), _read_xbar_mvm),
    "cell.mvm": (re.compile(", ".join([_NAME] * 6) + _TILE + f" array {_PARAMS} adc {_PARAMS}"
                            f" analog {_PARAMS}" + _function_type(6)), _read_cell_mvm),
}


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
