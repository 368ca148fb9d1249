"""Typed attribute groups printed as `<key = value, ...>` (shared by the `xbar` and `cell` dialects).

An attribute group (`#cell.adc<bits = 8, shift = 0, dac = 1>`) is a
`ParametrizedAttribute` whose parameters are `IntAttr`s and `FloatAttr`s; this
module parses and prints the keyed form once for all of them. Floats print as
the shortest text that parses back to the same double (always with a `.`, as
the MLIR lexer wants).
"""

from __future__ import annotations

from collections.abc import Sequence

from anncc.ir._xdsl import Attribute, AttrParser, FloatAttr, IntAttr, Printer
from anncc.ir.ann import f64_attr


def float_text(v: float) -> str:
    """`repr(v)` with a decimal point: `1e-10` -> `1.0e-10` (round-trips exactly)."""
    s = repr(float(v))
    if "." not in s and "e" in s:
        s = s.replace("e", ".0e", 1)
    elif "." not in s and "n" not in s:  # inf/nan are rejected by verifiers
        s += ".0"
    return s


def parse_record(parser: AttrParser, what: str, keys: Sequence[tuple[str, type]]) -> list[Attribute]:
    """Parse `key = value, ...` (inside the caller's angle brackets) in exactly the order of `keys`."""
    out: list[Attribute] = []
    for i, (key, kind) in enumerate(keys):
        if i:
            parser.parse_punctuation(",", f" in {what}")
        parser.parse_keyword(key, f" in {what}")
        parser.parse_punctuation("=", f" after '{key}' in {what}")
        if kind is float:
            out.append(f64_attr(float(parser.parse_number())))
        else:
            out.append(IntAttr(parser.parse_integer()))
    return out


def print_record(printer: Printer, keys: Sequence[tuple[str, type]], values: Sequence[Attribute],
                 prefix: str = "") -> None:
    parts = []
    for (key, kind), v in zip(keys, values):
        if kind is float:
            assert isinstance(v, FloatAttr)
            parts.append(f"{key} = {float_text(v.value.data)}")
        else:
            assert isinstance(v, IntAttr)
            parts.append(f"{key} = {v.data}")
    printer.print_string("<" + prefix + ", ".join(parts) + ">")
