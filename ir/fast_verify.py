"""`fast_verify`: xDSL's IRDL verification of an op, without its variadic machinery, for fixed-arity ops.

`module.verify()` runs, for every op, IRDL's generic check (`OpDef.verify`: the
operand, result, region and successor counts against variadic segment rules,
each value's type against its constraint, the properties and attributes, the
traits) and then the op's own `verify_`. For an op with a fixed number of
operands and results, no regions and no successors, most of that time goes to
working out the variadic segments (measured on the ResNet-18-style model at the
compiler's array sizes, 101,008 arrays: 55 % of the 11 s `verify` stage was
`OpDef.verify`). A chip has one `cell.mvm`, one `ann.weight` and one `xbar.mvm`
per array, so that is the op class that matters.

`irdl_op_fast`, used in place of `irdl_op_definition`, gives such a class a
`verify_` that makes the same checks with the same constraint objects
(`constr.verify` on each operand's and result's type, one `VerificationContext`
for the op, the same property and attribute rules), then every trait and the
class's own `verify_`, as xDSL does. Anything the constraint checks find wrong is
reported by running xDSL's `OpDef.verify`, so the message (and which problem is
named first) is xDSL's own. A class with variadic or optional operands or results,
regions, successors, or segment-size options keeps xDSL's `verify_`.
`tests/unit/test_fast_verify.py` checks both verifiers accept and refuse the same
ops.

Checks that passed are remembered (`anncc.ir.attrs.IdentityMemo`) for the
attribute objects they read: the compiler shares one instance per type and
attribute value, so the 10^5 arrays of a chip present a few dozen distinct
combinations, and a constraint without variables (`CONSTRAINTS_PASSED`), or the
checks a verifier makes of the attributes a layer's arrays share
(`anncc.ir.xbar.verify_tile_once`), runs once per combination (measured on the
ResNet-18-style chip of 349,152 arrays: the `verify` stage 22.4 s before, 12.7 s
after, docs/frontend.md). A module parsed from text has its own instances per op;
there the memo misses and every check runs, as before.
"""

from __future__ import annotations

from typing import Any

from anncc.ir._xdsl import (
    AttrSizedSegments,
    BaseAttr,
    OptionalDef,
    OptPropertyDef,
    VariadicDef,
    VerificationContext,
    VerifyException,
    irdl_op_definition,
)
from anncc.ir.attrs import IdentityMemo

#: Constraint checks (constraint, attribute) that passed (True); the array ops' own memo is
#: `anncc.ir.xbar.TILES_PASSED`.
CONSTRAINTS_PASSED = IdentityMemo()


def _remembered(constr: Any) -> bool:
    """True for a constraint worth remembering: without variables (its check depends on the
    attribute alone), and more than a base-class test (an `isinstance` is cheaper than the
    memo, and the attributes unique to each op, such as a tile's name, would only churn it)."""
    variables = getattr(constr, "variables", None)
    return variables is not None and not variables() and not isinstance(constr, BaseAttr)


class _Mismatch(Exception):
    """Raised inside the fast check; the op is then verified again by xDSL for its message."""


def qualifies(cls: Any) -> bool:
    """True when `cls` is an IRDL op class the fast check covers (fixed operands and results)."""
    op_def = cls.get_irdl_definition()
    defs = [d for _, d in op_def.operands] + [d for _, d in op_def.results]
    return (not any(isinstance(d, VariadicDef) for d in defs) and not op_def.regions
            and not op_def.successors
            and not any(isinstance(o, AttrSizedSegments) for o in op_def.options))


def irdl_op_fast(cls: Any) -> Any:
    """`irdl_op_definition`, and then the fast `verify_` when the class qualifies (see module doc)."""
    custom = getattr(cls, "verify_", None)  # what IRDL runs after OpDef.verify, read before it replaces it
    cls = irdl_op_definition(cls)
    if not qualifies(cls):
        return cls
    op_def = cls.get_irdl_definition()
    operands = tuple(d.constr for _, d in op_def.operands)
    results = tuple(d.constr for _, d in op_def.results)
    props = tuple((name, d.constr, isinstance(d, OptPropertyDef)) for name, d in op_def.properties.items())
    prop_names = frozenset(op_def.properties)
    attrs = tuple((name, d.constr, isinstance(d, OptionalDef)) for name, d in op_def.attributes.items())
    traits = tuple(op_def.traits)
    n_operands, n_results = len(operands), len(results)
    # without constraint variables anywhere, checks are remembered per attribute (CONSTRAINTS_PASSED)
    pure = not any(getattr(c, "variables", set)() for c in (*operands, *results, *(d[1] for d in props),
                                                          *(d[1] for d in attrs)))
    remember = {id(c): pure and _remembered(c) for c in (*operands, *results, *(d[1] for d in props),
                                                         *(d[1] for d in attrs))}
    memo = CONSTRAINTS_PASSED

    def check(constr: Any, attr: Any, ctx: VerificationContext, as_range: bool) -> None:
        remembered = remember[id(constr)]
        if remembered and memo.get((constr, attr)):
            return
        constr.verify((attr,) if as_range else attr, ctx)
        if remembered:
            memo.put((constr, attr), (), True)

    def verify_(self: Any) -> None:
        try:
            ctx = VerificationContext()
            own = self._operands
            if len(own) != n_operands or len(self.results) != n_results or self.regions or self.successors:
                raise _Mismatch
            for constr, value in zip(operands, own):
                check(constr, value.type, ctx, True)
            for constr, value in zip(results, self.results):
                check(constr, value.type, ctx, True)
            # (the order of these checks does not matter: a failure is reported by xDSL's own)
            for given, defs in ((self.properties, props), (self.attributes, attrs)):
                for name, constr, optional in defs:
                    attr = given.get(name)
                    if attr is None:
                        if optional:
                            continue
                        raise _Mismatch
                    check(constr, attr, ctx, False)
            if len(self.properties) > len(prop_names) or not prop_names.issuperset(self.properties):
                raise _Mismatch
        except (_Mismatch, VerifyException):
            op_def.verify(self)  # raises xDSL's own message
            raise VerifyException(f"{self.name}: does not verify") from None
        for trait in traits:
            trait.verify(self)
        if custom is not None:
            custom(self)

    cls.verify_ = verify_
    return cls
