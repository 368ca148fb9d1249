"""`FastPrinter` (ir/module_io.py): the text xDSL's `Printer` writes, byte for byte.

The build, the golden vectors' SSA names and `anncc-opt` all print modules; the
fast printer caches attribute text, so these tests check that what it caches
cannot print differently from xDSL: every level of a compiled model (with TMR
votes), and the cases where equal attributes print differently (0.0 and -0.0)
or a string needs escaping.
"""

from __future__ import annotations

import io

import pytest
from cell_ir import mlp_model

from anncc.ir import parse_module
from anncc.ir._xdsl import Printer
from anncc.ir.module_io import FastPrinter, _bytes_literal, print_module, print_with_names


def _xdsl_text(module) -> tuple[str, dict]:
    printer = Printer(stream=io.StringIO())
    printer.print_op(module)
    return printer.stream.getvalue() + "\n", {v: f"%{n}" for v, n in printer._ssa_values.items()}


@pytest.fixture(scope="module")
def tmr():
    pipeline = ('quantize{weight-clip="minmax" act-range="minmax" bias-correct=false},tile,'
                'allocate-resistance,insert-redundancy{fault-rate=0.1 scheme="tmr" layers="fc0"}')
    return mlp_model([12, 30, 5], target="rram", n_calib=40, seed=2, pipeline=pipeline)[0]


@pytest.mark.parametrize("level", ["ann", "xbar", "cell"])
def test_every_level_prints_as_xdsl_prints_it(tmr, level):
    module = tmr.ir(level)
    want, want_names = _xdsl_text(module)
    got, names = print_with_names(module)
    assert got == want
    assert names == want_names
    assert print_module(module) == want
    if level == "cell":
        assert "cell.vote" in got and "cell.mvm" in got  # the ops whose attributes repeat


def test_equal_attributes_that_print_differently_are_not_confused():
    # 0.0 == -0.0 for Python floats: a cache keyed on such a value would print one as the other
    text = """
    func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
      %a = ann.relu %x {alpha = 0.0 : f64, beta = -0.0 : f64, gamma = 0.0 : f64,
                        s = "a\\22b\\\\c\\0Aé"} : tensor<2xf32> -> tensor<2xf32>
      %b = ann.relu %a {alpha = -0.0 : f64, beta = 0.0 : f64} : tensor<2xf32> -> tensor<2xf32>
      func.return %b : tensor<2xf32>
    }
    """
    module = parse_module(text, verify=False)
    want, _ = _xdsl_text(module)
    assert print_module(module) == want
    assert "alpha = -0.0" in want and "beta = -0.0" in want


@pytest.mark.parametrize("data", [b"", b"fc.r0c0", b'a"b', b"a\\b", b"\x00\x1f\x7f\xff", "Ω".encode()])
def test_string_literals_escape_as_xdsl_does(data):
    printer = Printer(stream=io.StringIO())
    printer.print_bytes_literal(data)
    assert _bytes_literal(data) == printer.stream.getvalue()


def test_a_printer_prints_one_module():
    printer = FastPrinter()
    printer.print_op(parse_module("func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                                  "  func.return %x : tensor<2xf32>\n}"))
    assert printer.text().startswith("builtin.module {")


def test_an_array_op_with_extra_attributes_prints_as_xdsl_prints_it(tmr):
    from anncc.ir._xdsl import StringAttr

    module = tmr.ir("cell").clone()
    ops = [o for o in module.walk() if o.name in ("cell.mvm", "ann.weight")]
    ops[0].attributes["note"] = StringAttr("hand-edited")
    ops[-1].attributes["note"] = StringAttr("x")
    want, _ = _xdsl_text(module)
    assert 'note = "hand-edited"' in want
    assert print_module(module) == want
