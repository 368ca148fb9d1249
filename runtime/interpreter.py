"""Executable semantics of every dialect: one kernel per op, looked up by op name.

Kernels live beside the level they execute (`ann_kernels.py` float, `xbar_kernels.py`
integer, `cell_kernels.py` device physics) and register with `@kernel("ann.relu")`.
A kernel takes the op, its operand values (torch tensors, in operand order) and the
`ExecContext`, and returns the result value (or a tuple for several results).

    from anncc.runtime.interpreter import run_module, ExecContext
    outputs, trace = run_module(module, store, [x], ExecContext(), trace=True)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from anncc.errors import AnnccError
from anncc.ir._xdsl import FuncOp, ModuleOp, Operation, ReturnOp
from anncc.ir.store import WeightStore

#: `ExecContext.cache` key of the buffers the layer-group reads of one run share
#: (`anncc.runtime.layer_read.ReadScratch`); `run_module` drops it when the run ends.
SCRATCH_KEY = "layer-read-scratch"

Kernel = Callable[[Operation, list[Any], "ExecContext"], Any]
KERNELS: dict[str, Kernel] = {}
_KERNEL_MODULES = (
    "anncc.runtime.ann_kernels",
    "anncc.runtime.xbar_kernels",
    "anncc.runtime.cell_kernels",
)


def kernel(op_name: str) -> Callable[[Kernel], Kernel]:
    """Register `fn` as the executable semantics of `op_name`."""

    def register(fn: Kernel) -> Kernel:
        KERNELS[op_name] = fn
        return fn

    return register


def _load_kernels() -> None:
    for mod in _KERNEL_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


@dataclass
class ExecContext:
    """What a run needs besides the IR: the store and the simulation options.

    `analog` switches the cell level from ideal devices (the RTL's golden model)
    to device physics; `seed` makes every random draw reproducible; `options`
    carries per-effect switches for the analog models (see runtime/analog.py).
    """

    store: WeightStore = field(default_factory=WeightStore)
    analog: bool = False
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    dtype: torch.dtype = torch.float32
    cache: dict[Any, Any] = field(default_factory=dict)

    def weight(self, op: Operation) -> torch.Tensor:
        """The tensor an `ann.weight` op names, checked against its digest, cached."""
        key = ("weight", op.key.data, op.digest.data)
        if key not in self.cache:
            arr = self.store.get(op.key.data, op.digest.data)
            self.cache[key] = torch.from_numpy(arr.copy())
        return self.cache[key]

    def generator(self, *salt: int | str) -> torch.Generator:
        """A torch generator seeded from the run seed and a salt (an array id, a trial)."""
        import zlib

        h = zlib.crc32(repr((self.seed, *salt)).encode())
        return torch.Generator().manual_seed(h)


def entry_function(module: ModuleOp) -> FuncOp:
    funcs = [op for op in module.ops if isinstance(op, FuncOp)]
    if not funcs:
        raise AnnccError("module has no func.func to run")
    for f in funcs:
        if f.sym_name.data == "forward":
            return f
    return funcs[0]


def run_module(
    module: ModuleOp,
    store: WeightStore,
    inputs: list[torch.Tensor],
    ctx: ExecContext | None = None,
    trace: bool = False,
    values: dict[Any, Any] | None = None,
    kernels: Mapping[str, Kernel] | None = None,
    fused_values: bool = False,
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Interpret the entry function on `inputs`.

    With `trace`, every named op result is recorded by its name hint; with a
    `values` dict, every SSA value's tensor is left in it (calibration uses this).
    `kernels` override `KERNELS` by op name (training's differentiable twins).
    Otherwise each layer's arrays run as one fused step (`anncc.runtime.layer_exec`;
    the option `fuse_layers=False` runs them op by op): the same integers.
    `fused_values` keeps the fused steps with a `values` dict, which then holds each
    fused pattern's output but not the values inside it (its mvms' and accumulates'
    results, the constants only its mvms read): the golden recorder reads its few
    sampled arrays again on their own.
    """
    _load_kernels()
    ctx = ctx or ExecContext(store=store)
    ctx.store = store
    fn = entry_function(module)
    args = fn.body.block.args
    if len(inputs) != len(args):
        raise AnnccError(f"'{fn.sym_name.data}' takes {len(args)} inputs, got {len(inputs)}")
    env: dict[Any, Any] = values if values is not None else {}
    env.update(zip(args, inputs))
    recorded: dict[str, torch.Tensor] = {}
    steps: Any = fn.body.block.ops
    if (not trace and (values is None or fused_values) and not kernels
            and ctx.options.get("fuse_layers", True)):
        from anncc.runtime.layer_exec import Fusion, fused_plan, run_fusion

        steps = fused_plan(fn.body.block).steps
    try:
        for op in steps:
            if not isinstance(op, Operation):  # a fused layer (anncc.runtime.layer_exec)
                assert isinstance(op, Fusion)
                env[op.out.results[0]] = run_fusion(op, env, ctx, KERNELS)
                continue
            if isinstance(op, ReturnOp):
                return [env[v] for v in op.operands], recorded
            k = (kernels.get(op.name) if kernels else None) or KERNELS.get(op.name)
            if k is None:
                raise AnnccError(f"no executable semantics for '{op.name}'")
            out = k(op, [env[v] for v in op.operands], ctx)
            outs = out if isinstance(out, tuple) else (out,)
            for res, val in zip(op.results, outs):
                env[res] = val
                if trace and res.name_hint and not res.name_hint.startswith("_"):
                    recorded[res.name_hint] = val
    finally:
        ctx.cache.pop(SCRATCH_KEY, None)  # the group reads' buffers live for one run
    raise AnnccError("entry function has no func.return")
