"""Attribute helpers shared by the `ann`, `xbar` and `cell` dialects.

- `PROPS_IN_ATTR_DICT`, `UNARY_FORMAT`, `NARY_FORMAT`: the common IRDL options
  and assembly formats;
- `ints`, `ints_of`, `f64_attr`, `i64_attr`: building and reading attributes
  (shared instances: attributes are immutable and slow to build);
- `parse_record`, `print_record`, `float_text`: the keyed `<key = value, ...>`
  form of typed attribute groups (`#cell.adc<bits = 8, shift = 0, dac_bits = 1>`);
  floats print as the shortest text that parses back to the same double, always
  with a `.` as the MLIR lexer wants.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Sequence
from typing import Any

from anncc.ir._xdsl import (
    Attribute,
    AttrParser,
    DenseArrayBase,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    ParsePropInAttrDict,
    Printer,
    StringAttr,
    f64,
    i64,
)

PROPS_IN_ATTR_DICT = (ParsePropInAttrDict(),)
UNARY_FORMAT = "$input attr-dict `:` type($input) `->` type($result)"
NARY_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


def ints(values) -> DenseArrayBase:
    """An `array<i64: ...>` property."""
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def ints_of(attr: DenseArrayBase) -> list[int]:
    return [int(v) for v in attr.get_values()]


@functools.lru_cache(maxsize=4096)
def _f64_attr(value: float, sign: float) -> FloatAttr:  # sign: -0.0 == 0.0 as a key, not as an attribute
    return FloatAttr(value, f64)


@functools.lru_cache(maxsize=4096)
def _i64_attr(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


def f64_attr(value: float) -> FloatAttr:
    """An f64 attribute; shared instances (attributes are immutable, building one is slow).

    The cache key holds the sign: -0.0 equals 0.0 in Python, but xDSL's attributes compare
    the bits and print `-0.0`, so one must not stand for the other.
    """
    value = float(value)
    return _f64_attr(value, math.copysign(1.0, value))


def i64_attr(value: int) -> IntegerAttr:
    """An i64 attribute; shared instances (attributes are immutable, building one is slow)."""
    return _i64_attr(int(value))


@functools.lru_cache(maxsize=4096)
def shared_string_attr(text: str) -> StringAttr:
    """A string attribute shared by the ops that repeat it (a layer's name on each of its tiles)."""
    return StringAttr(text)


class IdentityMemo:
    """Values worked out from immutable objects (attributes, types), found again by identity.

    The compiler makes one instance per attribute or type value (`i64_attr`,
    `shared_string_attr`, `anncc.ir.shapes.tensor`, the `cell` dialect's groups), so
    the ops of a layer's arrays present the same objects again and again, and what is
    derived from them (a verifier's verdict, printed text, an array's cost) can be
    looked up by `id` without hashing attribute trees. `get(objects, values)` is the
    value kept for these very objects and plain hashable `values`, else None; `put`
    keeps one. The memo holds the objects beside each value, so an id in a key cannot
    be reused by another object while the key is kept; at `limit` keys it starts again
    empty (a miss only costs working the value out again). Objects made per op (a
    parsed module has its own instances) only miss.
    """

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        self._kept: dict[tuple, tuple[tuple, Any]] = {}

    def get(self, objects: tuple, values: tuple[Hashable, ...] = ()) -> Any:
        hit = self._kept.get((*map(id, objects), *values))
        return None if hit is None else hit[1]

    def put(self, objects: tuple, values: tuple[Hashable, ...], value: Any) -> Any:
        """Keep `value` for `objects` and `values`; return it."""
        if len(self._kept) >= self.limit:
            self._kept.clear()
        self._kept[(*map(id, objects), *values)] = (objects, value)
        return value

    def clear(self) -> None:
        self._kept.clear()


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
