"""What the importer tells a user about ops it cannot import: all of them, grouped, with hints.

Every unsupported node becomes an `UnsupportedOp` (op, node, module path and
class, source line, reason, hint). `unsupported_message` groups them by op and
reason, with a count, every place it occurs (the module path a user knows, e.g.
`features.3.block.2.scale_activation (Hardsigmoid)`) and the hint, when one exists.
"""

from __future__ import annotations

from dataclasses import dataclass

# hints by ATen op (the text before the overload is matched too: `aten.erf`)
OP_HINTS: dict[str, str] = {
    "aten._native_batch_norm_legit": "batch norm in training mode: call model.eval() before exporting",
    "aten._native_batch_norm_legit_functional":
        "batch norm in training mode: call model.eval() before exporting",
    "aten.upsample_bicubic2d": "use F.interpolate(mode='nearest' or 'bilinear'), which anncc maps",
    "aten.pow": "a hand-written normalization (x - mean) / sqrt(var + eps): use nn.LayerNorm "
                "(over channels: permute to channels-last around it, as torchvision's LayerNorm2d)",
    "aten.sqrt": "a hand-written normalization: use nn.LayerNorm (see aten.pow)",
    "aten.rsqrt": "a hand-written normalization: use nn.LayerNorm (see aten.pow)",
    "aten.var_mean": "a hand-written normalization: use nn.LayerNorm or nn.BatchNorm2d",
    "aten.index": "advanced indexing: use slicing (x[:, 0]) or torch.split",
    "aten.gather": "data-dependent indexing has no ann mapping",
    "aten.sort": "data-dependent ordering has no ann mapping",
    "aten.topk": "data-dependent ordering has no ann mapping",
    "aten.embedding": "an embedding lookup of integer inputs: feed the embedded vectors as the input",
    "aten.conv_transpose2d": "transposed convolution: use nn.Upsample(mode='nearest') + nn.Conv2d",
    "aten.max_pool3d": "anncc pools 1-d and 2-d inputs",
    "aten.adaptive_max_pool2d": "use nn.AdaptiveAvgPool2d or nn.MaxPool2d with a fixed kernel",
    "aten.native_multi_head_attention":
        "export the nn.Module with anncc (import_model(model, inputs)): anncc replaces "
        "nn.MultiheadAttention by batch-first attention it maps",
}

# hints by the class of the module that made the op
MODULE_HINTS: dict[str, str] = {
    "MultiheadAttention": "pass the nn.Module (not an ExportedProgram) to import_model/compile: "
                          "anncc rewrites nn.MultiheadAttention into batch-first attention before export",
    "Dropout": "call model.eval() before exporting",
}


@dataclass(frozen=True)
class UnsupportedOp:
    """One node the importer could not map: where it is and why."""

    op: str
    node: str
    module_path: str
    module_class: str
    source: str | None
    reason: str
    hint: str | None = None

    def place(self) -> str:
        """`layer1.0.act (Hardsigmoid)`, or `(top level)`, and the node name."""
        where = self.module_path or "(top level)"
        cls = f" ({self.module_class})" if self.module_class else ""
        return f"{where}{cls}, node {self.node}"


def hint_for(op: str, reason: str, module_class: str) -> str | None:
    """A workaround for this op in this module, or None."""
    for key in (op, op.rsplit(".", 1)[0]):
        if key in OP_HINTS:
            return OP_HINTS[key]
    if module_class in MODULE_HINTS:
        return MODULE_HINTS[module_class]
    return None


def unsupported_message(ops: list[UnsupportedOp], max_places: int = 12) -> str:
    """All unsupported ops, grouped by (op, reason), in the order they first occur."""
    groups: dict[tuple[str, str], list[UnsupportedOp]] = {}
    for u in ops:
        groups.setdefault((u.op, u.reason), []).append(u)
    n = len(ops)
    lines = [f"{n} unsupported operation{'s' if n != 1 else ''} "
             f"({len(groups)} kind{'s' if len(groups) != 1 else ''}) in the model:"]
    for (op, reason), us in groups.items():
        lines.append(f"  {op} x{len(us)}: {reason}")
        for u in us[:max_places]:
            at = f" at {u.source}" if u.source else ""
            lines.append(f"    - {u.place()}{at}")
        if len(us) > max_places:
            lines.append(f"    - ... and {len(us) - max_places} more")
        hints = sorted({u.hint for u in us if u.hint})
        for h in hints:
            lines.append(f"    hint: {h}")
    return "\n".join(lines)
