"""The parser's fast path for the per-array ops (ir/module_io.py, `LocatingParser._parse_fast`).

`ann.weight`, `xbar.mvm` and `cell.mvm` written exactly as `FastPrinter` writes
them are read by hand; everything else goes to xDSL's parser. These tests check
that both build the same module (the same op classes, properties in the same
order, types, SSA structure and names, printed text), that the fast path is
really taken on every level of a compiled model, and that text it does not take
(forward references, extra attributes, escapes, odd floats, `loc(...)`, broken
op lines) gives what xDSL gives: the same module, or the same IRError at the
same place.
"""

from __future__ import annotations

import functools
import io
import re

import pytest
from cell_ir import mlp_model

from anncc.errors import IRError
from anncc.ir import module_io
from anncc.ir._xdsl import Parser, Printer, StringAttr
from anncc.ir.module_io import _FAST_OPS, LocatingParser, make_context, parse_module, print_module


@pytest.fixture(scope="module")
def tmr():
    pipeline = ('quantize{weight-clip="minmax" act-range="minmax" bias-correct=false},tile,'
                'allocate-resistance,insert-redundancy{fault-rate=0.1 scheme="tmr" layers="fc0"}')
    return mlp_model([12, 30, 5], target="rram", n_calib=40, seed=2, pipeline=pipeline)[0]


@pytest.fixture(scope="module")
def cell_text(tmr) -> str:
    return print_module(tmr.ir("cell"))


# A hand-written xbar module: one weight and one tile of it.
XBAR = ("func.func @f(%x: tensor<2x3xui8>) -> tensor<2x4xsi32> {\n"
        '  %w = ann.weight "w" digest "d" : tensor<3x4xsi8>\n'
        '  %p = xbar.mvm %x, %w tile "t" <3x4 at 0, 0> layer "l" w_bits 4 acc_bits 14'
        " : (tensor<2x3xui8>, tensor<3x4xsi8>) -> tensor<2x4xsi32>\n"
        "  func.return %p : tensor<2x4xsi32>\n"
        "}\n")


def _generic(module) -> str:
    printer = Printer(stream=io.StringIO(), print_generic_format=True)
    printer.print_op(module)
    return printer.stream.getvalue()


def _assert_same(fast, slow) -> None:
    """The two modules hold the same ops, op by op, and print the same text."""
    ops, want = list(fast.walk()), list(slow.walk())
    assert len(ops) == len(want)
    index_fast: dict = {}
    index_slow: dict = {}
    for a, b in zip(ops, want):
        assert type(a) is type(b)
        assert list(a.properties.items()) == list(b.properties.items())  # values, and their order
        assert a.attributes == b.attributes
        assert [r.type for r in a.results] == [r.type for r in b.results]
        assert [r.name_hint for r in a.results] == [r.name_hint for r in b.results]
        for index, op in ((index_fast, a), (index_slow, b)):
            for region in op.regions:
                for block in region.blocks:
                    for arg in block.args:
                        index[arg] = len(index)
            for r in op.results:
                index[r] = len(index)
        # the same values used, by their place in the module
        assert [index_fast.get(v, ("undefined", v.type)) for v in a.operands] == \
            [index_slow.get(v, ("undefined", v.type)) for v in b.operands]
    assert print_module(fast) == print_module(slow)
    assert _generic(fast) == _generic(slow)


def _fast_parse(text: str) -> tuple[object, LocatingParser]:
    parser = LocatingParser(make_context(), text, "<fast>")
    return parser.parse_module(), parser


def _per_array_ops(module) -> int:
    return sum(op.name in _FAST_OPS for op in module.walk())


def _outcome(text: str, fast: bool) -> tuple[str, object]:
    """What `parse_module` makes of `text`: ("ok", module) or ("error", its IRError's text)."""
    with pytest.MonkeyPatch.context() as mp:
        if not fast:
            mp.setattr(module_io, "LocatingParser", functools.partial(LocatingParser, fast=False))
        try:
            return "ok", parse_module(text, "in.mlir", verify=True)
        except IRError as e:
            return "error", str(e)


def _same_outcome(text: str) -> tuple[str, object]:
    """`parse_module` with and without the fast path: the same module, or the same error."""
    got, want = _outcome(text, True), _outcome(text, False)
    assert got[0] == want[0], (got, want)
    if got[0] == "ok":
        _assert_same(got[1], want[1])
    else:
        assert got[1] == want[1]
    return got


# --------------------------------------------------------------------------- compiled modules


@pytest.mark.parametrize("level", ["ann", "xbar", "cell"])
def test_every_level_parses_as_xdsl_parses_it(tmr, level):
    text = print_module(tmr.ir(level))
    fast, parser = _fast_parse(text)
    slow = Parser(make_context(), text).parse_module()
    _assert_same(fast, slow)
    assert print_module(fast) == text
    n = _per_array_ops(fast)
    assert n > 0 and parser.fast_parsed == n  # every per-array op took the fast path
    if level == "cell":
        assert "cell.vote" in text  # TMR: values used by ops the fast path does not read


def test_each_op_starts_where_xdsl_parsing_says(cell_text):
    fast, parser = _fast_parse(cell_text)
    plain = LocatingParser(make_context(), cell_text, "<fast>", fast=False)
    slow = plain.parse_module()
    assert parser.fast_parsed > 0 and plain.fast_parsed == 0
    where = [str(parser.starts[op].get_location()) for op in fast.walk() if op in parser.starts]
    want = [str(plain.starts[op].get_location()) for op in slow.walk() if op in plain.starts]
    assert where == want and len(where) == len(list(fast.walk()))
    line = cell_text.splitlines()
    for op in fast.walk():
        if op.name == "cell.mvm":
            text = line[parser.starts[op].get_location().line - 1]
            assert text.lstrip().startswith(f"%{op.results[0].name_hint} = cell.mvm")


def test_parse_module_takes_the_fast_path(cell_text, monkeypatch):
    made: list[LocatingParser] = []

    class Spy(LocatingParser):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(module_io, "LocatingParser", Spy)
    module = parse_module(cell_text)
    assert made[0].fast_parsed == _per_array_ops(module) > 0


def test_ops_with_extra_attributes_go_through_xdsl(tmr):
    module = tmr.ir("cell").clone()
    ops = [o for o in module.walk() if o.name in ("cell.mvm", "ann.weight")]
    ops[0].attributes["note"] = StringAttr("hand-edited")
    ops[-1].attributes["note"] = StringAttr("x")
    text = print_module(module)
    fast, parser = _fast_parse(text)
    _assert_same(fast, Parser(make_context(), text).parse_module())
    assert parser.fast_parsed == _per_array_ops(fast) - 2
    _same_outcome(text)


# --------------------------------------------------------------------------- text left to xDSL


def test_forward_references_are_resolved_as_xdsl_resolves_them():
    # the tile uses the weight before it is defined: both ops go to xDSL (its forward references)
    lines = XBAR.splitlines()
    text = "\n".join([lines[0], lines[2], lines[1], *lines[3:]])
    fast, parser = _fast_parse(text)
    slow = Parser(make_context(), text).parse_module()
    _assert_same(fast, slow)
    assert parser.fast_parsed == 0
    mvm = next(o for o in fast.walk() if o.name == "xbar.mvm")
    assert mvm.operands[1].owner.name == "ann.weight"  # the reference was replaced by the value
    # a forward reference used with another type than its definition: xDSL's error
    _same_outcome(text.replace("tensor<3x4xsi8>\n", "tensor<3x5xsi8>\n"))


def test_a_location_after_the_op_is_read_by_xdsl():
    text = XBAR.replace("-> tensor<2x4xsi32>\n", "-> tensor<2x4xsi32> loc(unknown)\n")
    kind, module = _same_outcome(text)
    assert kind == "ok"
    assert _fast_parse(text)[1].fast_parsed == 1  # the weight; the tile went to xDSL


@pytest.mark.parametrize("literal", [
    r'"a\22b"', r'"back\\slash"', r'"\0A\09"', r'"\n\t"', r'"\41\42"', '"é"', '""', r'"\C3\A9"',
    r'"\FF"', r'"\q"', r'"\"', '"a\tb"',
])
@pytest.mark.parametrize("field", ["layer", "key"])
def test_odd_strings_read_as_xdsl_reads_them(literal, field):
    old = 'layer "l"' if field == "layer" else 'ann.weight "w"'
    new = f"layer {literal}" if field == "layer" else f"ann.weight {literal}"
    text = XBAR.replace(old, new)
    kind, _ = _same_outcome(text)
    if literal in (r'"a\22b"', r'"back\\slash"', r'"\0A\09"', r'"\n\t"', '"é"', '""'):
        assert kind == ("error" if (field, literal) == ("key", '""') else "ok")  # an empty key fails verify
        assert _fast_parse(text)[1].fast_parsed == 2  # escapes too are read by the fast path


@pytest.mark.parametrize("value", [
    "-0.0", "0.0", "1.0e-06", "1.0E-06", "1.0e+06", "1.00000e-06", "0.000001", "1e-06", "+1.0e-06",
    "-1.0e-06", "1.0e-400", "nan", "0x3EB0C6F7A0B5ED8D",
])
def test_odd_floats_in_a_group_read_as_xdsl_reads_them(cell_text, value):
    line = next(ln for ln in cell_text.splitlines() if "cell.mvm" in ln)
    edited = re.sub(r"g_min = [^,]*,", f"g_min = {value},", line, count=1)
    assert f"g_min = {value}," in edited
    kind, module = _same_outcome(cell_text.replace(line, edited, 1))
    if value == "-0.0":  # the sign survives (attrs.f64_attr keeps -0.0 and 0.0 apart)
        assert kind == "ok" and "g_min = -0.0," in print_module(module)


def test_negative_and_positive_zero_in_one_module_keep_their_signs(cell_text):
    lines = [ln for ln in cell_text.splitlines() if "cell.mvm" in ln][:2]
    text = cell_text
    for line, zero in zip(lines, ("0.0", "-0.0")):
        text = text.replace(line, re.sub(r"g_min = [^,]*,", f"g_min = {zero},", line, count=1), 1)
    module, parser = _fast_parse(text)
    assert print_module(module) == text
    assert parser.fast_parsed == _per_array_ops(module)


def test_shared_float_attributes_keep_the_sign_of_zero():
    # -0.0 == 0.0 as a cache key; as xDSL attributes they differ (and print differently)
    from anncc.ir.attrs import f64_attr
    from anncc.ir.cell import _analog_attr

    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        assert str(f64_attr(first).value.data) == str(first)
        assert str(f64_attr(second).value.data) == str(second)
        assert f64_attr(first) != f64_attr(second)
        assert str(_analog_attr(0.2, first, 1e-4).g_min_s.value.data) == str(first)
        assert str(_analog_attr(0.2, second, 1e-4).g_min_s.value.data) == str(second)


# --------------------------------------------------------------------------- broken op lines


XBAR_EDITS = [
    (" w_bits 4", ""),  # a missing field
    ("tensor<3x4xsi8>)", "tensor<3x4xfoo>)"),  # a bad type
    ("%x, %w tile", "%x, %nope tile"),  # an undefined value
    ("(tensor<2x3xui8>,", "(tensor<2x3xsi8>,"),  # an operand used with another type than its own
    ("%p = xbar.mvm", "%w = xbar.mvm"),  # a value defined twice
    ("acc_bits 14", "acc_bits 99999999999999999999999"),  # out of the i64 range
    ("acc_bits 14", "acc_bits 0x1F"),
    ("acc_bits 14", "acc_bits 2"),  # parses; the verifier names the op's line
    ("-> tensor<2x4xsi32>\n", "-> i32\n"),  # not a tensor
    ("<3x4 at 0, 0>", "<3x4 at 0>"),
    ("<3x4 at 0, 0>", "<0x4 at 0, 0>"),
    ("<3x4 at 0, 0>", "<3x4 at -1, 0>"),
    ("<3x4 at 0, 0>", "<03x4 at 00, 0>"),  # not the printer's text: xDSL reads it
    ("<3x4 at 0, 0>", "<3 x 4 at 0,0>"),
    ("<3x4 at 0, 0>", "<3x4 at 0, 0x0>"),
    ("<3x4 at 0, 0>", "<3x0 at 0, 0>"),
    ("(tensor<2x3xui8>,", "(tensor< 2x3xui8 >,"),
    ("-> tensor<2x4xsi32>\n", "-> tensor<2x4xsi32> // a comment\n"),
    ("-> tensor<2x4xsi32>\n", "-> tensor<2x4xsi32, 1 : i64>\n"),
    ("-> tensor<2x4xsi32>\n", "-> tensor<2x4xsi32>>\n"),
    ('tile "t"', "tile 5"),  # not a string
    ('layer "l"', 'layer "l'),  # an unterminated string
    ('digest "d"', "digest"),
    (": tensor<3x4xsi8>\n", ": tensor<3x4xsi8> {\n"),
    (": tensor<3x4xsi8>\n", ": tensor<3x4xsi8> {note = 1}\n"),
    ("%p = xbar.mvm %x", "%p = xbar.mvm %x#1"),
    ("%p = xbar.mvm", "%p:2 = xbar.mvm"),
    ("%x, %w", "%x,%w"),  # other spacing: xDSL's path, which accepts it
    (": tensor<3x4xsi8>\n", ': tensor<3x4xsi8>\n  "open\n'),  # the lexer fails on the token after the op
]


@pytest.mark.parametrize("old,new", XBAR_EDITS)
def test_a_broken_xbar_line_fails_as_before(old, new):
    assert old in XBAR
    _same_outcome(XBAR.replace(old, new, 1))


CELL_EDITS = [
    (r" adc <[^>]*>", ""),  # a missing group
    (r"bits_per_cell = \d+", "bits_per_cell = x"),
    (r"slices = \d+, ", ""),
    (r"dac_bits = \d+", "dac_bits = 1.5"),
    (r"tensor<\d+x\d+xui8>, tensor<", "tensor<16xfoo>, tensor<"),
    (r" acc_bits \d+", " acc_bits 1"),  # the verifier fails on this op
    (r"w_bits \d+", "w_bits 99"),  # the verifier fails on this op
    (r"cell\.mvm %[\w.]+", "cell.mvm %undefined"),
    (r"\) -> tensor<[^>]*>$", ") -> tensor<?x2xsi32>, tensor<?x2xsi32>"),
    (r"\) -> (tensor<[^>]*>)$", r") -> (\1)"),  # parenthesised results: xDSL's path, same op
]


@pytest.mark.parametrize("pattern,repl", CELL_EDITS)
def test_a_broken_cell_line_fails_as_before(cell_text, pattern, repl):
    lines = cell_text.splitlines()
    i = next(i for i, ln in enumerate(lines) if "cell.mvm" in ln)
    edited = re.sub(pattern, repl, lines[i], count=1)
    assert edited != lines[i]
    lines[i] = edited
    _same_outcome("\n".join(lines) + "\n")
