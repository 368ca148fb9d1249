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
"""

from __future__ import annotations

from typing import Any

from anncc.ir._xdsl import (
    AttrSizedSegments,
    OptionalDef,
    OptPropertyDef,
    VariadicDef,
    VerificationContext,
    VerifyException,
    irdl_op_definition,
)


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

    def verify_(self: Any) -> None:
        try:
            ctx = VerificationContext()
            own = self._operands
            if len(own) != n_operands or len(self.results) != n_results or self.regions or self.successors:
                raise _Mismatch
            for constr, value in zip(operands, own):
                constr.verify((value.type,), ctx)
            for constr, value in zip(results, self.results):
                constr.verify((value.type,), ctx)
            # (the order of these checks does not matter: a failure is reported by xDSL's own)
            for given, defs in ((self.properties, props), (self.attributes, attrs)):
                for name, constr, optional in defs:
                    attr = given.get(name)
                    if attr is None:
                        if optional:
                            continue
                        raise _Mismatch
                    constr.verify(attr, ctx)
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
