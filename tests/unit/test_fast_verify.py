"""`irdl_op_fast` (ir/fast_verify.py): the same verdicts and messages as xDSL's IRDL verifier.

Every op of a compiled model (all three levels, with TMR votes) passes both;
ops broken in each way the fast path checks (operand count and type, result
type, a missing, extra or ill-typed property) fail both, with xDSL's message.
Checks remembered for shared attribute instances (`IdentityMemo`) still refuse
an array op broken in its own attributes, with the whole check's message.
"""

from __future__ import annotations

import pytest
from cell_ir import mlp_model
from xdsl.dialects.test import TestOp

from anncc.ir._xdsl import IntAttr, StringAttr, VerifyException, i32
from anncc.ir.ann import ANN, WeightOp
from anncc.ir.attrs import IdentityMemo
from anncc.ir.cell import CELL, AdcAttr, ArrayGeometryAttr
from anncc.ir.cell import MvmOp as CellMvm
from anncc.ir.fast_verify import qualifies
from anncc.ir.xbar import TILES_PASSED, XBAR, TileAttr
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


# --------------------------------------------------------------------------- remembered checks


def test_an_identity_memo_keys_by_the_objects_themselves():
    memo = IdentityMemo(limit=2)
    a, b = StringAttr("x"), StringAttr("x")  # equal values, two objects
    assert memo.get((a,), (3,)) is None
    assert memo.put((a,), (3,), "a3") == "a3" and memo.get((a,), (3,)) == "a3"
    assert memo.get((a,), (4,)) is None and memo.get((b,), (3,)) is None
    memo.put((b,), (3,), "b3")
    memo.put((a,), (4,), "a4")  # the limit: starts again with this key only
    assert memo.get((a,), (3,)) is None and memo.get((a,), (4,)) == "a4"


def _full_verdict(op) -> str | None:
    try:
        op._verify_all()  # noqa: SLF001 - the whole check, nothing remembered
    except VerifyException as e:
        return str(e)
    return None


def _array(tmr, cls):
    ops = [o for o in tmr.ir("cell" if cls is CellMvm else "xbar").clone().walk() if isinstance(o, cls)]
    for o in ops:  # every check passes once on these attribute instances: they are remembered
        o.verify_()
    return ops[0]


@pytest.mark.parametrize("cls,how", [(CellMvm, "offsets"), (CellMvm, "adc bits"),
                                     (CellMvm, "spare rows"), (XbarMvm, "offsets")])
def test_remembered_array_checks_still_refuse_a_broken_op_with_the_same_message(tmr, cls, how):
    op = _array(tmr, cls)
    g = op.properties["geometry"]
    if how == "offsets":  # the one check that depends on the op alone
        op.properties["geometry"] = TileAttr(g.rows.data, g.cols.data, 10**6, 0)
    elif how == "adc bits":
        op.properties["adc"] = AdcAttr(IntAttr(0), IntAttr(0), IntAttr(1))
    elif how == "spare rows":
        a = op.properties["array"]
        op.properties["array"] = ArrayGeometryAttr(*a.parameters[:5], IntAttr(10**3), a.spare_cols)
    want = _full_verdict(op)
    assert want is not None
    assert _fast_verdict(op) == want


def test_the_arrays_of_a_layer_run_the_whole_check_once(tmr, monkeypatch):
    runs = []
    whole = CellMvm._verify_all  # noqa: SLF001
    monkeypatch.setattr(CellMvm, "_verify_all", lambda self: runs.append(self) or whole(self))
    TILES_PASSED.clear()
    ops = [o for o in tmr.ir("cell").walk() if isinstance(o, CellMvm)]
    for o in ops:
        o.verify_()
    shapes = {(o.layer.data, o.rows, o.cols) for o in ops}
    assert 1 <= len(runs) <= len(shapes) < len(ops)

