"""Layer names from the model's module paths (`layer1.0.conv2`), unique and stable.

torch.export records, on every node, the stack of modules whose `forward` made
it (`node.meta["nn_module_stack"]`: path and class, outermost first). A node's
layer name is derived from the innermost module:

- a leaf module (no submodule of it appears in the graph) whose ops on activations
  are all the same op gets its bare path: `layer1.0.conv1`,
  `features.3.block.2.scale_activation` (a module called twice, like a shared
  ReLU, gets `layer1.0.relu` and `layer1.0.relu.1`);
- any other node gets `<path>.<op>`: the residual add in a block's forward is
  `layer1.0.add`, the attention products in an attention module `blocks.0.attn.matmul`;
- nodes of the top-level module's own forward get the op name (`add`, `flatten`).

The importer makes the names unique by appending `.1`, `.2` ... in graph
order, so the same model always gets the same names. Passes take a layer's
name from its result's name hint, so these names reach the xbar/cell tile
names (`layer1.0.conv1.r0c1`), the report, fault-map keys and traces.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from torch import fx

_FX_SUFFIX = re.compile(r"_\d+$")


def module_stack(node: fx.Node) -> list[tuple[str, str]]:
    """(path, class qualified name) of the modules around `node`, outermost first."""
    stack = node.meta.get("nn_module_stack") or {}
    out = []
    for value in stack.values():
        if isinstance(value, tuple | list) and len(value) == 2:
            path, cls = value
            out.append((str(path), cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))))
    return out


def op_kind(node: fx.Node) -> str:
    """The op part of an fx node's name: `conv2d_3` -> `conv2d`."""
    return _FX_SUFFIX.sub("", node.name) or node.name


class LayerNames:
    """The module-path name of every node of one exported graph (see the module docstring)."""

    def __init__(self, graph: fx.Graph, user_inputs: Collection[str], bookkeeping: Collection[Any]):
        self._paths: set[str] = set()
        per_path: dict[str, set[str]] = {}
        dependent: set[fx.Node] = set()
        for node in graph.nodes:
            if node.op == "placeholder" and node.name in user_inputs:
                dependent.add(node)
                continue
            if node.op != "call_function":
                continue
            path = self.module_of(node)[0]
            self._paths.add(path)
            if any(n in dependent for n in node.all_input_nodes):
                dependent.add(node)
                if node.target not in bookkeeping:
                    per_path.setdefault(path, set()).add(op_kind(node))
        parents = {p.rsplit(".", i)[0] for p in self._paths for i in range(1, p.count(".") + 1)}
        self._single = {p for p, kinds in per_path.items()
                        if p and len(kinds) == 1 and p not in parents}

    @staticmethod
    def module_of(node: fx.Node) -> tuple[str, str]:
        """The innermost module's (path, class name); ("", "") for the top level."""
        stack = module_stack(node)
        if not stack:
            return "", ""
        path, cls = stack[-1]
        return path, cls.rsplit(".", 1)[-1]

    def base(self, node: fx.Node) -> str:
        """The layer name of `node` before uniquing."""
        path = self.module_of(node)[0]
        if not path:
            return op_kind(node)
        if path in self._single:
            return path
        return f"{path}.{op_kind(node)}"
