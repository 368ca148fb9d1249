"""`irdl_op_fast` (ir/fast_verify.py): the same verdicts and messages as xDSL's IRDL verifier.

Every op of a compiled model (all three levels, with TMR votes) passes both;
ops broken in each way the fast path checks (operand count and type, result
type, a missing, extra or ill-typed property) fail both, with xDSL's message.
"""

from __future__ import annotations

import pytest
from cell_ir import mlp_model
from xdsl.dialects.test import TestOp

from anncc.ir._xdsl import StringAttr, VerifyException, i32
from anncc.ir.ann import ANN, WeightOp
from anncc.ir.cell import CELL
from anncc.ir.cell import MvmOp as CellMvm
from anncc.ir.fast_verify import qualifies
from anncc.ir.xbar import XBAR
from anncc.ir.xbar import MvmOp as XbarMvm


@pytest.fixture(scope="module")
def tmr():
    pipeline = ('quantize{weight-clip="minmax" act-range="minmax" bias-correct=false},tile,'
                'allocate-resistance,insert-redundancy{fault-rate=0.1 scheme="tmr" layers="fc0"}')
    return mlp_model([12, 30, 5], target="rram", n_calib=40, seed=2, pipeline=pipeline)[0]


def _xdsl_verdict(op) -> str | None:
    """What xDSL's own IRDL check plus the op's verify says: None, or the message."""
    try:
        type(op).get_irdl_definition().verify(op)
    except VerifyException as e:
        return str(e)
    return None


def _fast_verdict(op) -> str | None:
    try:
        op.verify_()
    except VerifyException as e:
        return str(e)
    return None


def test_the_array_ops_take_the_fast_path():
    for cls in (CellMvm, XbarMvm, WeightOp):
        assert qualifies(cls), cls.name
    variadic = [op for d in (ANN, XBAR, CELL) for op in d.operations if not qualifies(op)]
    assert any(op.name == "cell.vote" for op in variadic)  # variadic inputs: xDSL's path


@pytest.mark.parametrize("level", ["ann", "xbar", "cell"])
def test_every_op_of_a_compiled_model_passes_both(tmr, level):
    n = 0
    for op in tmr.ir(level).walk():
        if type(op).__module__.startswith("anncc.ir"):
            assert _xdsl_verdict(op) is None and _fast_verdict(op) is None, op.name
            n += 1
    assert n > 5


def _broken(tmr, how: str):
    op = next(o for o in tmr.ir("cell").clone().walk() if isinstance(o, CellMvm))
    if how == "operand count":
        op.operands = list(op.operands)[:-1]
    elif how == "operand type":
        op.operands = [TestOp(result_types=[i32]).results[0], *list(op.operands)[1:]]
    elif how == "missing property":
        del op.properties["tile"]
    elif how == "extra property":
        op.properties["bogus"] = StringAttr("x")
    elif how == "property type":
        op.properties["w_bits"] = StringAttr("4")
    elif how == "result type":
        op.results[0]._type = i32  # noqa: SLF001 - a broken op on purpose
    return op


@pytest.mark.parametrize("how", ["operand count", "operand type", "missing property",
                                 "extra property", "property type", "result type"])
def test_a_broken_op_fails_both_with_xdsls_message(tmr, how):
    op = _broken(tmr, how)
    want = _xdsl_verdict(op)
    assert want is not None
    assert _fast_verdict(op) == want
