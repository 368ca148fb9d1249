"""`prefix-tiles`: an example user pass for anncc (docs/writing-a-pass.md).

Prefixes the name of every crossbar tile (`xbar.mvm` and `cell.mvm`, property
`tile`) and records how many tiles the module has in the module attribute
`prefix_tiles.count`. Useful when several compiled models share one chip and
their arrays must have distinct names in the netlists and the report.

Options: `prefix` (default `"chip0."`).

    anncc-opt tiled.mlir -p 'prefix-tiles{prefix="npu1."}'
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, i64
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from anncc.ir.cell import MvmOp as CellMvmOp
from anncc.ir.xbar import MvmOp as XbarMvmOp

COUNT_ATTR = "prefix_tiles.count"


@dataclass
class PrefixTileName(RewritePattern):
    """Rename one tile: `fc1.r0c0` becomes `<prefix>fc1.r0c0`."""

    prefix: str
    seen: list[str]

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: XbarMvmOp | CellMvmOp, rewriter: PatternRewriter) -> None:
        renamed = self.prefix + op.tile.data
        op.properties["tile"] = StringAttr(renamed)
        rewriter.notify_op_modified(op)
        self.seen.append(renamed)


@dataclass(frozen=True)
class PrefixTilesPass(ModulePass):
    """Prefix every tile name with `prefix`; count the tiles in `prefix_tiles.count`."""

    name = "prefix-tiles"

    prefix: str = "chip0."

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        seen: list[str] = []
        # Visit each op once: a renamed tile still matches the pattern, so a
        # walker that re-applied patterns to modified ops would never stop.
        walker = PatternRewriteWalker(PrefixTileName(self.prefix, seen), apply_recursively=False)
        walker.rewrite_module(op)
        op.attributes[COUNT_ATTR] = IntegerAttr(len(seen), i64)
