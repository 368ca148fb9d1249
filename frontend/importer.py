"""Import a PyTorch model into the `ann` dialect through torch.export.

The structure follows torch-mlir's fx_importer: the ExportedProgram's inputs
are sorted into user inputs, parameters, buffers and constants; then the graph's
nodes are walked in order and each ATen op is dispatched through a table
(`aten_ops.ATEN_TABLE`) to a builder that emits ann ops. Parameters and buffers
become `Constant`s, turned into `ann.weight` ops (the tensors go to the
`WeightStore`) only where an ann op consumes them; ops whose inputs are all
constants are evaluated at import time (a decomposed `linear` transposes its
weight, a model may scale a buffer), so they never reach the IR.

The IR is batch-agnostic. Users export with a batch of 1, but the function's
argument and result types have a dynamic batch (`?`), and every activation
keeps the batch on axis 0: builders refuse ops that would move, merge or
broadcast over it (with a batch of 1 such ops look harmless in the graph, so
anncc insists).

Unsupported nodes do not stop the walk: all of them are collected and reported
at once, each with its node name and the model's source line, in one
`UnsupportedOpsError`.

    from anncc.frontend import import_model
    module, store = import_model(model, (torch.rand(1, 1, 8, 8),))
"""

from __future__ import annotations

import operator
import os
import re
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx
from torch._ops import OpOverload
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind, TensorArgument

from anncc.errors import ModelLoadError, UnsupportedOpsError
from anncc.frontend.aten_ops import ATEN_TABLE
from anncc.frontend.diagnostics import UnsupportedOp, hint_for, unsupported_message
from anncc.frontend.naming import LayerNames, op_kind
from anncc.frontend.values import POISON, Constant, Permuted, Unavailable, Unsupported
from anncc.ir._xdsl import FuncOp, FunctionType, ModuleOp, Operation, ReturnOp, SSAValue, f32
from anncc.ir.ann import ReshapeOp, WeightOp
from anncc.ir.module_io import verify_module
from anncc.ir.shapes import tensor
from anncc.ir.store import WeightStore

ModelLike = torch.nn.Module | ExportedProgram

_NAME_CHARS = re.compile(r"[^\w$.-]")
_SUFFIX = re.compile(r"_(\d+)$")
# one frame of a stack trace: `File "path", line N, in fn`, then (unless the source
# is unavailable, as for `<stdin>`) the code line
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in [^\n]*(?:\n(?!\s*File ")\s*([^\n]*))?')
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep

# Python-level nodes of an exported graph: shape arithmetic on the batch size
_PYTHON_OPS = {operator.add, operator.sub, operator.mul, operator.floordiv, operator.truediv,
               operator.mod, operator.neg, operator.pow}
_IGNORED = {torch.ops.aten._assert_scalar.default, torch.ops.aten._assert_tensor_metadata.default,
            torch.ops.aten.sym_constrain_range_for_size.default}

_BOOKKEEPING = _PYTHON_OPS | _IGNORED | {operator.getitem}

# ops that only change how a tensor is viewed: folded on a parameter, they keep its name
_aten = torch.ops.aten
_VIEW_OPS = {_aten.expand.default, _aten.view.default, _aten.reshape.default, _aten.unsqueeze.default,
             _aten.squeeze.dim, _aten.squeeze.default, _aten.clone.default, _aten.contiguous.default,
             _aten.detach.default, _aten._to_copy.default, _aten.alias.default, _aten.flatten.using_ints,
             _aten.permute.default, _aten.transpose.int}



# ops that compute the same values on a permuted tensor as on its source, permuted: the number
# of trailing axes they work along (which the permutation must leave in place), 0 for elementwise
_ELEMENTWISE = (_aten.relu.default, _aten.relu6.default, _aten.gelu.default, _aten.sigmoid.default,
                _aten.tanh.default, _aten.hardswish.default, _aten.hardsigmoid.default, _aten.silu.default,
                _aten.mish.default, _aten.leaky_relu.default, _aten.hardtanh.default, _aten.clamp.default,
                _aten.dropout.default, _aten.add.Tensor, _aten.add.Scalar, _aten.sub.Tensor,
                _aten.sub.Scalar, _aten.mul.Tensor, _aten.mul.Scalar, _aten.div.Tensor, _aten.div.Scalar,
                _aten.neg.default)
LAYOUT_TRANSPARENT: dict[Any, int] = {op: 0 for op in _ELEMENTWISE} | {
    _aten.linear.default: 1, _aten.layer_norm.default: 1, _aten.native_layer_norm.default: 1}


# --------------------------------------------------------------------------- public entry


def import_model(
    model_or_program: ModelLike | str | os.PathLike[str],
    example_inputs: Sequence[torch.Tensor] | torch.Tensor | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[ModuleOp, WeightStore]:
    """Import a model into a verified `ann` module with a `@forward` function, and its weights.

    `model_or_program` is an `nn.Module` (exported here with `example_inputs`, in
    eval mode), an `ExportedProgram` (from `torch.export.export` or a `.pt2`), or
    the path of a `.pt2` file (loaded safely by `load_model`). The batch size of
    the example inputs does not matter: the IR's batch is dynamic. The returned
    module is attached to the store for passes (`anncc.passes._store.store_of`).
    `timings`, when given, receives the seconds spent in `load`, `export`,
    `decompose` and `import` (building and verifying the ann module).
    """
    times = timings if timings is not None else {}
    t = time.perf_counter()
    if isinstance(model_or_program, str | os.PathLike):
        from anncc.frontend.loader import load_model

        model_or_program = load_model(model_or_program).program
        t = _lap(times, "load", t)
    program = as_exported_program(model_or_program, example_inputs)
    t = _lap(times, "export", t)
    program = prepare_program(program)
    t = _lap(times, "decompose", t)
    importer = ProgramImporter(program)
    module = importer.import_module()
    verify_module(module, "imported model")
    from anncc.passes._store import attach_store

    attach_store(module, importer.store)
    _lap(times, "import", t)
    return module, importer.store


def _lap(times: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    times[stage] = times.get(stage, 0.0) + now - since
    return now


def example_inputs_of(
    model_or_program: ModelLike | str | os.PathLike[str],
) -> tuple[torch.Tensor, ...] | None:
    """The example inputs a model carries (an ExportedProgram's, a `.pt2` file's), else None."""
    if isinstance(model_or_program, str | os.PathLike):
        from anncc.frontend.loader import load_model

        return load_model(model_or_program).example_inputs
    if isinstance(model_or_program, ExportedProgram):
        example = model_or_program.example_inputs
        if example and not example[1] and all(isinstance(t, torch.Tensor) for t in example[0]):
            return tuple(example[0])
    return None


def supported_ops() -> list[str]:
    """The ATen ops with a builder, by name (`aten.conv2d.default`, ...)."""
    return sorted(str(op) for op in ATEN_TABLE)


def as_exported_program(
    model_or_program: ModelLike, example_inputs: Sequence[torch.Tensor] | torch.Tensor | None
) -> ExportedProgram:
    """The model as an ExportedProgram; an `nn.Module` is exported in eval mode."""
    if isinstance(model_or_program, ExportedProgram):
        return model_or_program
    if not isinstance(model_or_program, torch.nn.Module):
        raise ModelLoadError(f"expected an nn.Module or ExportedProgram, got "
                             f"{type(model_or_program).__name__}")
    if example_inputs is None:
        raise ModelLoadError("exporting an nn.Module needs example inputs",
                             hint="pass example_inputs, e.g. (torch.rand(1, 1, 8, 8),)")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    inputs = tuple(example_inputs)
    model = model_or_program
    was_training = model.training
    model.eval()  # anncc compiles inference: batch norm uses running statistics, no dropout
    from anncc.frontend.rewrite import batch_first_attention

    try:
        with batch_first_attention(model):
            return torch.export.export(model, inputs)
    except Exception as e:  # noqa: BLE001 - torch.export raises many types; keep the first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelLoadError(f"torch.export could not trace the model: {first}",
                             hint="anncc imports models that torch.export.export accepts") from None
    finally:
        model.train(was_training)


def prepare_program(program: ExportedProgram) -> ExportedProgram:
    """Decompose only when needed: for ops without a builder, and to remove in-place ops.

    The export IR keeps high-level ops (linear, conv2d, batch_norm) that map one
    to one onto ann ops; decomposing them all would cost time and readability.
    When the graph holds an op without a builder, or an in-place op (the export
    IR is not functional), the program is decomposed with torch's default
    table minus every op that has a builder, which also functionalizes it.
    Ops on constants alone need no builder: the importer evaluates them.
    """
    users = {spec.arg.name for spec in program.graph_signature.input_specs
             if spec.kind == InputKind.USER_INPUT}
    dependent: set[fx.Node] = set()
    needed = False
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in users or any(
                n in dependent for n in node.all_input_nodes):
            dependent.add(node)
        needed = needed or _needs_decomposition(node, node in dependent)
    if not needed:
        return program
    table = torch.export.default_decompositions()
    for op in ATEN_TABLE:
        table.pop(op, None)
    try:
        with warnings.catch_warnings():  # torch's own deprecation notices, not the user's
            warnings.simplefilter("ignore", FutureWarning)
            return program.run_decompositions(table)
    except Exception:  # noqa: BLE001 - the ops it could not decompose are reported below
        return program


def _needs_decomposition(node: fx.Node, input_dependent: bool) -> bool:
    if node.op != "call_function" or not isinstance(node.target, OpOverload):
        return False
    if node.target._schema.is_mutable:
        return True
    return input_dependent and node.target not in ATEN_TABLE and node.target not in _IGNORED


# --------------------------------------------------------------------------- arguments


class Args:
    """A node's arguments bound to its ATen schema by name, defaults filled in.

    fx nodes are replaced by what they imported to (an SSA value, a Constant, a
    Python value), so builders read `a["stride"]` or `a.act("input")`.
    """

    def __init__(self, node: fx.Node, env: dict[fx.Node, Any]):
        self.node = node
        self.values: dict[str, Any] = {}
        for i, arg in enumerate(node.target._schema.arguments):  # type: ignore[union-attr]
            if i < len(node.args):
                raw = node.args[i]
            elif arg.name in node.kwargs:
                raw = node.kwargs[arg.name]
            else:
                raw = arg.default_value if arg.has_default_value() else None
            self.values[arg.name] = fx.node.map_aggregate(
                raw, lambda v: env[v] if isinstance(v, fx.Node) else v)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def act(self, name: str) -> SSAValue:
        """An activation argument (one that depends on the model's input)."""
        v = self.values[name]
        if isinstance(v, Permuted):
            raise Unsupported(v.moved())
        if not isinstance(v, SSAValue):
            raise Unsupported(f"argument '{name}' must depend on the model input, "
                              f"got {type(v).__name__}")
        return v

    def const(self, name: str, what: str) -> Constant:
        """A tensor argument that must be known at compile time (a parameter or buffer)."""
        v = self.values[name]
        if not isinstance(v, Constant):
            raise Unsupported(f"{what} must be a parameter or buffer, not computed from the input")
        return v

    def opt_const(self, name: str, what: str) -> Constant | None:
        return None if self.values[name] is None else self.const(name, what)

    def ints(self, name: str, n: int) -> list[int]:
        """An int or int-list argument expanded to `n` entries (`stride=2` -> `[2, 2]`)."""
        v = self.values[name]
        vals = [int(v)] if isinstance(v, int) else [int(x) for x in v]
        return vals * n if len(vals) == 1 else vals


# --------------------------------------------------------------------------- the importer


class ProgramImporter:
    """Walks one ExportedProgram's graph and builds the `@forward` function of an ann module."""

    def __init__(self, program: ExportedProgram):
        self.program = program
        self.store = WeightStore()
        self.env: dict[fx.Node, Any] = {}
        self.unsupported: list[UnsupportedOp] = []
        self.func: FuncOp | None = None
        self._weights: dict[Constant, SSAValue] = {}  # by identity; holds the Constants alive
        self._reserved_keys: set[str] = set()
        self._names: set[str] = set()
        self.user_inputs: list[fx.Node] = []
        self._sort_inputs()
        self.layer_names = LayerNames(program.graph, {n.name for n in self.user_inputs},
                                      _BOOKKEEPING)

    # -- inputs ---------------------------------------------------------------
    def _sort_inputs(self) -> None:
        """Bind placeholders: user inputs become arguments, the rest Constants."""
        nodes = {n.name: n for n in self.program.graph.nodes if n.op == "placeholder"}
        state, constants = self.program.state_dict, self.program.constants
        for spec in self.program.graph_signature.input_specs:
            if not isinstance(spec.arg, TensorArgument):
                raise UnsupportedOpsError(f"model input '{spec.arg}' is not a tensor",
                                          hint="anncc imports models whose inputs are tensors")
            node = nodes[spec.arg.name]
            if spec.kind == InputKind.USER_INPUT:
                self.user_inputs.append(node)
                continue
            if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER) and spec.target in state:
                value = state[spec.target]
            elif spec.target in constants:
                value = constants[spec.target]
            else:
                raise UnsupportedOpsError(f"input '{spec.arg.name}' of kind {spec.kind.name} "
                                          "is not a tensor anncc can store")
            if not isinstance(value, torch.Tensor):
                raise UnsupportedOpsError(
                    f"'{spec.target}' is a {type(value).__name__}, not a tensor")
            self.env[node] = Constant(value.detach(), spec.target, from_state=True)
            self._reserved_keys.add(spec.target)

    def _input_type(self, node: fx.Node):
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor) or val.dim() == 0 or not val.dtype.is_floating_point:
            raise UnsupportedOpsError(
                f"model input '{node.name}' must be a float tensor with a batch axis, got "
                f"{getattr(val, 'dtype', type(val).__name__)} {list(getattr(val, 'shape', []))}")
        try:
            return self._tensor_type(val, node)
        except Unsupported as e:
            raise UnsupportedOpsError(f"model input '{node.name}': {e.reason}") from None

    # -- the walk ---------------------------------------------------------------
    def import_module(self) -> ModuleOp:
        """Build, and return unverified, the module; raise UnsupportedOpsError listing all gaps."""
        arg_types = [self._input_type(n) for n in self.user_inputs]
        self.func = FuncOp("forward", (arg_types, []))
        for node, arg in zip(self.user_inputs, self.func.body.block.args):
            arg.name_hint = self._unique_name(legal_name(node.name))
            self.env[node] = arg
        results: list[SSAValue] = []
        for node in self.program.graph.nodes:
            if node.op == "call_function":
                self.env[node] = self._import_call(node)
            elif node.op == "get_attr":
                self._report(node, "control flow and submodules (get_attr) are not supported")
                self.env[node] = POISON
            elif node.op == "output":
                results = self._outputs(node)
        if self.unsupported:
            raise UnsupportedOpsError(
                unsupported_message(self.unsupported),
                hint="anncc.frontend.supported_ops() lists the ops anncc imports")
        self.func.body.block.add_op(ReturnOp(*results))
        self.func.function_type = FunctionType.from_lists(arg_types, [r.type for r in results])
        return ModuleOp([self.func])

    def _import_call(self, node: fx.Node) -> Any:
        inputs = [self.env[n] for n in node.all_input_nodes]
        builder = ATEN_TABLE.get(node.target)  # type: ignore[arg-type]
        if any(v is POISON for v in inputs):
            if builder is None and node.target not in _BOOKKEEPING:
                self._report(node, "no ann mapping")
                return self._stand_in(node)
            return POISON
        try:
            if node.target is operator.getitem:
                return self._getitem(node)
            if node.target in _PYTHON_OPS or node.target in _IGNORED:
                return self._python_op(node)
            if isinstance(node.target, OpOverload) and not _has_activation(inputs):
                if torch.Tag.nondeterministic_seeded not in node.target.tags:
                    return self._fold(node)
                if builder is None:  # dropout has a builder; rand, bernoulli... must not freeze
                    raise Unsupported("a random op: import would freeze one draw of it")
            if builder is None:
                raise Unsupported("no ann mapping")
            if any(isinstance(v, Permuted) for v in inputs) and node.target in LAYOUT_TRANSPARENT:
                return self._on_source_layout(node, builder)
            return builder(self, node, Args(node, self.env))
        except Unsupported as e:
            self._report(node, e.reason)
            return self._stand_in(node)

    def _on_source_layout(self, node: fx.Node, builder: Any) -> Any:
        """Run a layout-transparent op on the sources of its lazily permuted inputs.

        A sequence-first model computes on `x.transpose(0, 1)` (`[L, N, E]`): an elementwise
        op, or one over the trailing axes (linear, layer norm) that the permutation leaves in
        place, gives the same values on `x` itself, permuted the same way. So the op is built
        on the source (constants permuted back to its layout) and its result stays `Permuted`.
        """
        a = Args(node, self.env)
        perms = {v.perm for v in a.values.values() if isinstance(v, Permuted)}
        if len(perms) != 1:
            raise Unsupported("operands permuted differently")
        perm = next(iter(perms))
        r = len(perm)
        fixed = LAYOUT_TRANSPARENT[node.target]  # trailing axes the op works along
        if "normalized_shape" in a.values:
            fixed = len(a["normalized_shape"])
        if fixed and list(perm[r - fixed:]) != list(range(r - fixed, r)):
            raise Unsupported(f"permutation {list(perm)} moves an axis this op works along")
        inverse = [perm.index(i) for i in range(r)]
        for name, v in a.values.items():
            if isinstance(v, Permuted):
                a.values[name] = v.source
            elif isinstance(v, SSAValue):
                raise Unsupported("an activation combined with a permuted one")
            elif isinstance(v, Constant) and not fixed and v.tensor.dim() > 0:
                t = v.tensor.reshape([1] * (r - v.tensor.dim()) + list(v.shape))
                a.values[name] = self.constant(t.permute(inverse).contiguous(), v.key + ".permuted")
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise Unsupported("result is not a tensor")
        node.meta["val"] = val.permute(inverse)
        try:
            out = builder(self, node, a)
        finally:
            node.meta["val"] = val
        if not isinstance(out, SSAValue):
            raise Unsupported("a permuted operand of an op with several results")
        return Permuted(out, perm)

    def _stand_in(self, node: fx.Node) -> Any:
        """A placeholder activation for an unsupported node, so that the nodes after it are
        still checked (every unsupported op is found in one pass); POISON when it has no type.
        The IR is never returned once something is unsupported."""
        if not self.user_inputs or node.op != "call_function":
            return POISON
        try:
            t = self.type_of(node)
        except (Unsupported, TypeError, KeyError):
            return POISON
        assert self.func is not None
        if not self.func.body.block.args:
            return POISON
        op = ReshapeOp(self.func.body.block.args[0], t)  # never verified: a stand-in only
        self.func.body.block.add_op(op)
        return op.results[0]

    def _getitem(self, node: fx.Node) -> Any:
        seq, index = node.args
        value = self.env[seq][index]  # type: ignore[index]
        if isinstance(value, Unavailable):
            raise Unsupported(f"uses the {value.what}, which anncc does not compute")
        return value

    def _python_op(self, node: fx.Node) -> Any:
        if node.target in _IGNORED:
            return None
        args = fx.node.map_arg(node.args, lambda n: self.env[n])
        return node.target(*args)  # type: ignore[operator]

    def _fold(self, node: fx.Node) -> Any:
        """Evaluate an op whose inputs are all known at compile time."""
        def unwrap(v: Any) -> Any:
            return v.tensor if isinstance(v, Constant) else v

        args = fx.node.map_arg(node.args, lambda n: unwrap(self.env[n]))
        kwargs = fx.node.map_arg(node.kwargs, lambda n: unwrap(self.env[n]))
        try:
            with torch.no_grad():
                out = node.target(*args, **kwargs)  # type: ignore[operator]
        except Exception as e:  # noqa: BLE001 - any ATen error means: cannot fold this node
            raise Unsupported(f"could not evaluate on constants: {e}") from None
        return self._wrap_folded(node, out)

    def _wrap_folded(self, node: fx.Node, out: Any) -> Any:
        if isinstance(out, torch.Tensor):
            src = node.args[0] if node.args else None
            base = self.env.get(src) if isinstance(src, fx.Node) else None
            if isinstance(base, Constant) and node.target in _VIEW_OPS:  # `class_token.expand`
                origin = base.origin or base.key
                c = Constant(out, f"{origin}.{op_kind(node)}", origin=origin)
            else:
                c = Constant(out, node.name)
            if (isinstance(src, fx.Node) and isinstance(self.env.get(src), Constant)
                    and _is_transpose(node) and out.dim() == 2):
                c.transpose_of = self.env[src]
            return c
        if isinstance(out, tuple | list):
            return tuple(self._wrap_folded(node, o) for o in out)
        return out

    def _outputs(self, node: fx.Node) -> list[SSAValue]:
        specs = self.program.graph_signature.output_specs
        outs = node.args[0] if isinstance(node.args[0], tuple | list) else (node.args[0],)
        results = []
        for spec, out in zip(specs, outs):
            if spec.kind != OutputKind.USER_OUTPUT:
                self._report(node, f"the model mutates '{spec.target}' "
                                   "(call model.eval() before exporting)")
                continue
            value = self.env.get(out) if isinstance(out, fx.Node) else out
            if value is POISON:
                continue
            if isinstance(value, Permuted):
                self._report(node, f"output '{out}': {value.moved()}")
                continue
            if not isinstance(value, SSAValue):
                self._report(node, f"output '{out}' does not depend on the model input")
                continue
            results.append(value)
        return results

    def _report(self, node: fx.Node, reason: str) -> None:
        target = node.target
        if not isinstance(target, str | OpOverload):
            target = getattr(target, "__name__", repr(target))
        path, cls = self.layer_names.module_of(node)
        name = node.name
        origin = _decomposed_from(node)
        if origin is not None:  # report the op the user wrote, once, not its decomposition
            name, original = origin
            if any(u.node == name and u.op == original for u in self.unsupported):
                return
            reason = f"{reason} (in its decomposition: {target})"
            target = original
        self.unsupported.append(UnsupportedOp(
            op=str(target), node=name, module_path=path, module_class=cls,
            source=source_line(node), reason=reason,
            hint=hint_for(str(target), reason, cls)))

    # -- building (used by the builders in aten_ops) -----------------------------
    def emit(self, op: Operation, node: fx.Node | None = None, name: str | None = None) -> SSAValue:
        """Append `op` to the function; name its result after the fx node's module path
        (`layer1.0.conv1`; see `naming.LayerNames`), or `name` when given."""
        assert self.func is not None
        self.func.body.block.add_op(op)
        result = op.results[0]
        hint = name or (self.base_name(node) if node is not None else None)
        if hint:
            result.name_hint = self._unique_name(legal_name(hint))
        return result

    def base_name(self, node: fx.Node) -> str:
        """The layer name a node's ops are named after (before uniquing): its module path."""
        return self.layer_names.base(node)

    def _unique_name(self, hint: str) -> str:
        """`hint`, or `hint.N`: layer names must differ (passes name tiles after them)."""
        name, n = hint, 1
        while name in self._names:
            name, n = f"{hint}.{n}", n + 1
        self._names.add(name)
        return name

    def type_of(self, node: fx.Node, index: int | None = None):
        """The ann type of a node's result: its example shape with a dynamic batch."""
        val = node.meta.get("val")
        if index is not None:
            val = val[index]  # type: ignore[index]
        if not isinstance(val, torch.Tensor):
            raise Unsupported("result is not a tensor")
        if not val.dtype.is_floating_point:
            raise Unsupported(f"result has dtype {val.dtype}; anncc computes float tensors")
        return self._tensor_type(val, node)

    def _tensor_type(self, val: torch.Tensor, node: fx.Node):
        rest = list(val.shape[1:])
        if not all(isinstance(d, int) for d in rest):
            raise Unsupported(f"dynamic dimension other than the batch: {list(val.shape)}")
        return tensor([None, *rest], f32)

    def example_shape(self, node: fx.Node, index: int | None = None) -> list[int]:
        """A node's result shape at export time (the batch as exported, usually 1)."""
        val = node.meta["val"] if index is None else node.meta["val"][index]
        return [d if isinstance(d, int) else int(d.node.hint) for d in val.shape]

    def weight(self, c: Constant) -> SSAValue:
        """The `ann.weight` op for a constant (created on first use, then reused)."""
        if c in self._weights:
            return self._weights[c]
        if not c.tensor.dtype.is_floating_point:
            raise Unsupported(f"constant '{c.key}' has dtype {c.tensor.dtype}; "
                              "anncc needs float weights")
        arr = c.tensor.detach().to(torch.float32).contiguous().numpy().copy()
        key = c.key if c.from_state else self._unique_key(c.key)
        digest = self.store.add(key, arr)
        value = self.emit(WeightOp(key, digest, tensor(arr.shape, f32)), name=key)
        self._weights[c] = value
        return value

    def constant(self, t: torch.Tensor, key: str) -> Constant:
        """A new compile-time tensor (a zero bias, a reciprocal, a transposed weight)."""
        return Constant(t.detach().to(torch.float32), key)

    def _unique_key(self, base: str) -> str:
        key, n = base, 1
        while key in self.store or key in self._reserved_keys:
            key, n = f"{base}.{n}", n + 1
        self._reserved_keys.add(key)
        return key


# --------------------------------------------------------------------------- helpers


def _decomposed_from(node: fx.Node) -> tuple[str, str] | None:
    """(node name, op) of the op that `node` was decomposed from, when it was decomposed."""
    sources = node.meta.get("from_node") or []
    if not sources:
        return None
    first = sources[0]
    name, target = getattr(first, "name", None), str(getattr(first, "target", ""))
    if not name or target == str(node.target) or not target.startswith("aten."):
        return None
    return str(name), target


def _has_activation(values: list[Any]) -> bool:
    found = False

    def visit(v: Any) -> Any:
        nonlocal found
        found = found or isinstance(v, SSAValue | Permuted)
        return v

    fx.node.map_aggregate(values, visit)
    return found


def _is_transpose(node: fx.Node) -> bool:
    aten = torch.ops.aten
    if node.target in (aten.t.default, aten.numpy_T.default):
        return True
    if node.target == aten.transpose.int:
        return sorted(int(d) % 2 for d in node.args[1:3]) == [0, 1]
    if node.target == aten.permute.default:
        return [int(d) % 2 for d in node.args[1]] == [1, 0]
    return False


def legal_name(text: str) -> str:
    """An SSA name hint from an fx node name or a store key (`layer1.0.conv1.weight`).

    xDSL drops a trailing `_<digits>` from every name hint (the printer adds its
    own), which would make fx's `conv2d` and `conv2d_1` the same layer name for
    passes and traces; so that suffix becomes `.1`, which xDSL keeps.
    """
    name = _SUFFIX.sub(r".\1", _NAME_CHARS.sub("_", text))
    return name if name[:1].isalpha() or name[:1] in "$." else "v" + name


def source_line(node: fx.Node) -> str | None:
    """`file:line: code` of the model's own frame in a node's stack trace (not torch's)."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    if not frames:
        return None
    user = [f for f in frames if not f[0].startswith(_TORCH_DIR)] or frames
    path, line, code = user[-1]
    return f"{path}:{line}: {code.strip()}" if code.strip() else f"{path}:{line}"

