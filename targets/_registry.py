"""The target registry, and loading a target with overrides from a file or keywords.

    from anncc.targets import get_target, load_target
    t = get_target("sot-mtj")                                  # the defaults
    t = load_target("rram", "my_rram.yaml", adc_bits=6)       # file, then keywords

Every mistake a user can make here becomes one `TargetError` that names the target,
the field and its allowed range, e.g.
"target 'sot-mtj' field 'r_p_ohm': must be > 0 and <= 1e+09 (got -5)".
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from anncc.errors import AnnccError, TargetError
from anncc.targets._base import Target, fmt_number

TARGETS: dict[str, type[Target]] = {}

T = TypeVar("T", bound=type[Target])

_BOUND_OPS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def register_target(cls: T) -> T:
    """Register a Target subclass under the default of its `name` field (a class decorator)."""
    name = cls.model_fields["name"].default
    if not isinstance(name, str):
        raise TypeError(f"{cls.__name__} must give its 'name' field a string default")
    TARGETS[name] = cls
    return cls


def list_targets() -> list[str]:
    """The registered target names, sorted."""
    return sorted(TARGETS)


def target_class(name: str) -> type[Target]:
    """The Target subclass registered as `name`; TargetError lists the known ones."""
    cls = TARGETS.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, TARGETS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise TargetError(f"unknown target '{name}' ({hint}known: {', '.join(list_targets())})")
    return cls


def get_target(name: str) -> Target:
    """The target `name` with all its defaults."""
    return target_class(name)()


def resolve_target(target: str | Target) -> Target:
    """A Target instance from a name or an instance (what `compile(target=...)` accepts)."""
    return target if isinstance(target, Target) else get_target(target)


def load_target(
    name: str | None = None,
    overrides_file: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Target:
    """The target `name` with overrides: defaults, then the file's fields, then `overrides`.

    The file is YAML (`.yaml`, `.yml`, `.json`) or TOML (`.toml`): a mapping of
    field names to values, optionally nested under one `target` key. It may name
    the target (`name: rram`), which then must agree with `name`; with `name`
    None the file must name it.
    """
    data: dict[str, Any] = {}
    where = None
    if overrides_file is not None:
        where = str(overrides_file)
        data = read_overrides_file(overrides_file)
    file_name = data.pop("name", None)
    if name is None:
        if file_name is None:
            raise TargetError(
                "no target named: pass a target name or set 'name' in the file", where
            )
        name = str(file_name)
    elif file_name is not None and file_name != name:
        raise TargetError(
            f"the file is for target '{file_name}' but target '{name}' was asked for", where
        )
    cls = target_class(name)
    data.update(overrides)
    return validate_target(cls, data, where=where)


def read_overrides_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping of field overrides in a YAML, JSON or TOML file; TargetError if unreadable.

    The file is untrusted input: it must be a regular file within
    `anncc.limits.max_small_file_bytes()`, UTF-8 text without NUL bytes, and hold
    a mapping (optionally under one `target` key) whose `name`, if any, is a string.
    """
    from anncc.files import read_text_file

    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_dir():
        raise TargetError("the target file is a directory, expected a YAML, JSON or TOML file", str(p))
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise TargetError(
            f"unsupported target file type '{suffix or p.name}' (use .yaml, .yml, .json or .toml)",
            str(p),
        )
    if not p.exists():
        raise TargetError("target file not found", str(p))
    try:
        text = read_text_file(p, "target")
    except AnnccError as e:
        raise TargetError(e.message, e.where, e.hint) from None
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError, ValueError) as e:
        raise TargetError(f"cannot parse target file: {_first_line(e)}", str(p)) from None
    except RecursionError:
        raise TargetError("cannot parse target file: it nests too deeply", str(p)) from None
    if data is None:
        return {}
    if set(data) == {"target"} if isinstance(data, dict) else False:
        if not isinstance(data["target"], dict):
            raise TargetError("a target file must hold a mapping of field names to values "
                              f"(got {type(data['target']).__name__} under 'target')", str(p))
        data = data["target"]
    if not isinstance(data, dict):
        raise TargetError(
            f"a target file must hold a mapping of field names to values (got {type(data).__name__})",
            str(p),
        )
    if "name" in data and not isinstance(data["name"], str):
        raise TargetError(f"field 'name': expected a target name such as 'rram' (got "
                          f"{_short(data['name'])})", str(p))
    return {str(k): v for k, v in data.items()}


def _short(value: Any, limit: int = 60) -> str:
    text = fmt_number(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_target(cls: type[Target], data: dict[str, Any], where: str | None = None) -> Target:
    """`cls` validated from `data`; a ValidationError becomes one clear TargetError."""
    name = cls.model_fields["name"].default
    for field in data:
        if field in cls.DERIVED_FIELDS:
            raise TargetError(
                f"target '{name}' field '{field}' is derived ({cls.DERIVED_FIELDS[field]})", where
            )
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise TargetError("; ".join(_messages(cls, name, e, data)), where) from None


def _messages(
    cls: type[Target], name: str, exc: ValidationError, data: dict[str, Any]
) -> list[str]:
    out = []
    for err in exc.errors():
        kind, loc = err["type"], err["loc"]
        ctx = err.get("ctx") or {}
        if kind == "anncc_field":
            out.append(f"target '{name}' field '{ctx['field']}': {ctx['message']}")
            continue
        field = str(loc[0]) if loc else "?"
        if kind == "extra_forbidden":
            out.append(_unknown_field_message(cls, name, field))
            continue
        label = field + "".join(f"[{p}]" for p in loc[1:])
        got = _short(err.get("input"))
        if (
            kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
            and len(loc) == 1
        ):
            text = f"must be {_range_text(cls, field)}"
        elif kind == "missing" and len(loc) > 1:
            label, got = field, _short(data.get(field)) if isinstance(data, dict) else "?"
            text = "has too few items"
        else:
            text = err["msg"].replace("Input should be", "must be").replace("Value error, ", "")
        out.append(f"target '{name}' field '{label}': {text} (got {got})")
    return out


def _unknown_field_message(cls: type[Target], name: str, field: str) -> str:
    known = sorted(cls.model_fields)
    close = difflib.get_close_matches(field, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown field '{field}' for target '{name}'{hint} (known: {', '.join(known)})"


def _range_text(cls: type[Target], field: str) -> str:
    """The allowed range of a numeric field from its constraints: '> 0 and <= 1e+09'."""
    bounds: dict[str, Any] = {}
    for meta in cls.model_fields[field].metadata:
        for attr, _ in _BOUND_OPS:
            value = getattr(meta, attr, None)
            if value is not None:
                bounds[attr] = value
    if "ge" in bounds and "le" in bounds and bounds["ge"] == bounds["le"]:
        return f"{fmt_number(bounds['ge'])} for this technology"
    return " and ".join(
        f"{op} {fmt_number(bounds[attr])}" for attr, op in _BOUND_OPS if attr in bounds
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
