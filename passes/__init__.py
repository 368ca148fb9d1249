"""anncc.passes: one pass per file, registered lazily by kebab-case name.

    from anncc.passes import all_passes, get_pass, parse_pipeline
    for p in parse_pipeline("quantize{w-bits=4},tile{rows=128 cols=128}"):
        p.apply(ctx, module)

`PASSES` maps each of anncc's own passes to a factory that imports its module
only when the pass is used, so listing passes (`anncc-opt --help`) stays cheap.
Users add passes without touching anncc: a package declares an entry point in
the group `anncc.passes` that loads to a `ModulePass` subclass, and the pass is
known by that class's `name` (docs/writing-a-pass.md). xDSL's own passes
(`canonicalize`, `cse`, `dce`, ...) can be used in every pipeline too.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from anncc.errors import AnnccError

if TYPE_CHECKING:
    from anncc.ir._xdsl import ModulePass

__all__ = [
    "ENTRY_POINT_GROUP",
    "PASSES",
    "PassFactory",
    "all_passes",
    "available_passes",
    "get_pass",
    "parse_pipeline",
    "user_passes",
]

PassFactory = Callable[[], "type[ModulePass]"]
ENTRY_POINT_GROUP = "anncc.passes"


def _lazy(module: str, class_name: str) -> PassFactory:
    """A factory that imports `anncc.passes.<module>` and returns its pass class."""

    def factory() -> type[ModulePass]:
        qualified = f"anncc.passes.{module}"
        try:
            mod = importlib.import_module(qualified)
        except ModuleNotFoundError as e:
            if e.name != qualified:  # a missing dependency inside the pass: a real bug
                raise
            raise AnnccError(f"pass module {qualified} is not available",
                             hint="this anncc build does not include it") from None
        return getattr(mod, class_name)

    factory.__qualname__ = factory.__name__ = f"load_{class_name}"
    return factory


#: anncc's own passes, in the order of the default pipeline (DESIGN.md section 6).
PASSES: dict[str, PassFactory] = {
    "fold-batchnorm": _lazy("fold_batchnorm", "FoldBatchnormPass"),
    "quantize": _lazy("quantize", "QuantizePass"),
    "tile": _lazy("tile", "TilePass"),
    "allocate-resistance": _lazy("allocate_resistance", "AllocateResistancePass"),
    "insert-redundancy": _lazy("insert_redundancy", "InsertRedundancyPass"),
    "estimate": _lazy("estimate", "EstimatePass"),
}


def _describe(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" from {dist.name}" if dist is not None else ""
    return f"entry point '{ep.name} = {ep.value}'{origin} (group {ENTRY_POINT_GROUP})"


def _broken(ep: EntryPoint, problem: str) -> PassFactory:
    """A factory that reports a user pass that cannot be used, when someone uses it.

    A broken plugin must not break every other pass (or the stock `xdsl-opt`,
    which sees anncc's passes), so the error waits until the pass is asked for.
    """

    def factory() -> type[ModulePass]:
        raise AnnccError(f"{_describe(ep)} {problem}")

    return factory


def _constant(cls: type[ModulePass]) -> PassFactory:
    def factory() -> type[ModulePass]:
        return cls

    return factory


def user_passes() -> dict[str, PassFactory]:
    """Passes that installed packages declare in the `anncc.passes` entry-point group.

    Each entry point must load to a `ModulePass` subclass; its key is the class's
    `name`. One that fails to load is kept under the entry point's own name with
    a factory that raises an AnnccError explaining why.
    """
    from anncc.ir._xdsl import ModulePass

    found: dict[str, PassFactory] = {}
    origin: dict[str, EntryPoint] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - any import failure of a plugin is reported
            found.setdefault(ep.name, _broken(ep, f"failed to load: {type(e).__name__}: {e}"))
            continue
        if not (isinstance(obj, type) and issubclass(obj, ModulePass)):
            found.setdefault(ep.name, _broken(ep, f"loads {obj!r}, not a ModulePass subclass"))
            continue
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            found.setdefault(ep.name, _broken(ep, f"loads {obj.__qualname__}, which has no `name`"))
            continue
        if name in origin:
            raise AnnccError(f"two user passes are named '{name}': {_describe(origin[name])} "
                             f"and {_describe(ep)}", hint="uninstall or rename one of them")
        origin[name] = ep
        found[name] = _constant(obj)
    return found


def all_passes() -> dict[str, PassFactory]:
    """anncc's passes and the installed user passes, by name."""
    merged = dict(PASSES)
    for name, factory in user_passes().items():
        if name in merged:
            raise AnnccError(f"a user pass is named '{name}', like anncc's own pass",
                             hint="rename the user pass; anncc's names are " + ", ".join(PASSES))
        merged[name] = factory
    return merged


def available_passes() -> dict[str, PassFactory]:
    """Everything a pipeline may name: xDSL's built-in passes, then anncc's and users'."""
    from anncc.ir._xdsl import xdsl_builtin_passes

    merged: dict[str, PassFactory] = dict(xdsl_builtin_passes())
    merged.update(all_passes())
    return merged


def _unknown(name: str, known: Mapping[str, PassFactory]) -> AnnccError:
    from anncc.ir._xdsl import xdsl_builtin_passes

    builtin = set(xdsl_builtin_passes())
    ours = sorted(k for k in known if k not in builtin) or sorted(known)
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = (f"did you mean {', '.join(close)}? " if close else "") + (
        "known passes: " + ", ".join(ours)
        + " (and xDSL's built-in passes such as canonicalize, cse, dce)")
    return AnnccError(f"unknown pass '{name}'", hint=hint)


def get_pass(name: str, available: Mapping[str, PassFactory] | None = None) -> type[ModulePass]:
    """The pass class called `name`; an AnnccError listing the known passes if there is none."""
    known = available_passes() if available is None else available
    if name not in known:
        raise _unknown(name, known)
    return known[name]()


def parse_pipeline(
    text: str, available: Mapping[str, PassFactory] | None = None
) -> list[ModulePass]:
    """Pass instances for a pipeline such as `quantize{w-bits=4},tile{rows=128 cols=128}`.

    The syntax is xDSL's (and MLIR's): passes separated by commas, options in
    braces separated by spaces, option names in kebab-case. Errors (syntax,
    unknown pass, unknown or ill-typed option) are AnnccErrors naming the pass.
    """
    from anncc.ir._xdsl import ArgSpecParseError, parse_pipeline_spec

    known = available_passes() if available is None else available
    try:
        specs = list(parse_pipeline_spec(text))
    except ArgSpecParseError as e:  # a BaseException in xDSL 0.74: catch it by name
        detail = str(e).removeprefix("Error parsing pass pipeline specification:").strip()
        raise AnnccError(f"malformed pass pipeline '{text}':\n{detail}") from None
    passes: list[ModulePass] = []
    for spec in specs:
        cls = get_pass(spec.name, known)
        try:
            passes.append(cls.from_pass_spec(spec))
        except (ValueError, TypeError) as e:
            raise AnnccError(f"pass '{spec.name}': {e}", hint=_options_hint(cls)) from None
    return passes


def _options_hint(cls: type[ModulePass]) -> str:
    import dataclasses

    fields = [f.name.replace("_", "-") for f in dataclasses.fields(cls) if f.init]
    return f"its options are {', '.join(fields)}" if fields else "it takes no options"
