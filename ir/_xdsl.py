"""The one module of anncc that imports xDSL (pinned to 0.74.0).

Every other module imports xDSL names from here, so an xDSL upgrade touches one
file. Only names the project uses are re-exported.
"""

from __future__ import annotations

import re

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    I64,
    ArrayAttr,
    Builtin,
    DenseArrayBase,
    FloatAttr,
    FunctionType,
    IntAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i1,
    i8,
    i32,
    i64,
)
from xdsl.dialects.func import Func, FuncOp, ReturnOp
from xdsl.dialects.test import Test
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.irdl.constraints import BaseAttr, VerificationContext
from xdsl.irdl.operations import AttrSizedSegments, OptionalDef, OptPropertyDef, VariadicDef
from xdsl.parser import AttrParser, Parser
from xdsl.passes import ModulePass, PassPipeline
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.printer import Printer
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import ConstantLike, Pure
from xdsl.transforms import get_all_passes as xdsl_builtin_passes
from xdsl.transforms.dead_code_elimination import dce
from xdsl.universe import Universe
from xdsl.utils.arg_spec import ArgSpec
from xdsl.utils.arg_spec import parse_pipeline as parse_pipeline_spec
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    DiagnosticException,
    ParseError,
    PassFailedException,
    VerifyException,
)
from xdsl.utils.lexer import Span
from xdsl.utils.mlir_lexer import MLIRLexer, MLIRTokenKind
from xdsl.xdsl_opt_main import xDSLOptMain

# xDSL 0.74's string-literal pattern nests `+` inside `*`, so a string left open
# on a long line backtracks exponentially: 24 characters take 2 s, a typical
# `xbar.mvm` line would take hours. The same language matched possessively
# (Python >= 3.11) is linear; a missing quote is then an ordinary parse error.
MLIRLexer._unescaped_characters_regex = re.compile(
    r'"(?:[^"\\\n\v\f]++|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*+"'
)

__all__ = [
    "ArgSpec", "ArgSpecParseError", "MLIRTokenKind", "PassFailedException", "Span", "Universe",
    "dce", "parse_pipeline_spec", "xDSLOptMain", "xdsl_builtin_passes",
    "DYNAMIC_INDEX", "I64", "ArrayAttr", "Attribute", "AttrParser", "Block", "Builder", "Builtin",
    "ConstantLike", "Context", "DenseArrayBase", "Dialect", "DiagnosticException",
    "FloatAttr", "Func", "FuncOp", "FunctionType", "GreedyRewritePatternApplier",
    "IRDLOperation", "InsertPoint", "IntAttr", "IntegerAttr", "IntegerType", "ModulePass",
    "ModuleOp", "Operation", "ParametrizedAttribute", "ParseError", "ParsePropInAttrDict",
    "Parser", "PassPipeline", "PatternRewriteWalker", "PatternRewriter", "Printer", "Pure",
    "Region", "ReturnOp", "RewritePattern", "Rewriter", "SSAValue", "StringAttr",
    "TensorType", "Test", "TypeAttribute", "UnitAttr", "VerifyException", "f32", "f64", "i1",
    "i8", "i32", "i64", "irdl_attr_definition", "irdl_op_definition", "op_type_rewrite_pattern",
    "operand_def", "opt_prop_def", "prop_def", "result_def", "traits_def", "var_operand_def",
    "AttrSizedSegments", "BaseAttr", "OptionalDef", "OptPropertyDef", "VariadicDef", "VerificationContext",
]
