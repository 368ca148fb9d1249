"""Load a model file safely, as an ExportedProgram with example inputs.

Formats, by what the file contains (not its name):
- a torch.export archive (`torch.export.save`, `.pt2`): loads without running
  code from the file; every `torch.load` inside is forced to `weights_only`;
- a state dict (`torch.save(model.state_dict())`): weights only, loaded with
  `weights_only=True`; the model's code comes from a `package.module:factory`
  spec the user names;
- a pickled module (`torch.save(model)`): unpickling runs code from the file,
  so it loads only with `trust_pickle=True` (`--trust-pickle`);
- a TorchScript archive: refused with a pointer to torch.export.

Users export with a batch of 1; the example inputs keep the exported shape,
and the importer makes the batch dynamic.

    loaded = load_model("digits_cnn.pt2")
    loaded = load_model("weights.pt", factory="mypkg.models:make_cnn", input_shape="1x1x8x8")
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import pickle
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.export import ExportedProgram

from anncc.errors import ModelLoadError

PICKLE_HINT = ("pass --trust-pickle (trust_pickle=True) if you trust its source, or export "
               "the model with torch.export.save, which loads without running code")
EXPORT_HINT = ("export it instead: torch.export.save(torch.export.export(model, "
               "example_inputs), 'model.pt2')")


@dataclass
class LoadedModel:
    """A loaded model: the program to import, its example inputs, and where it came from."""

    program: ExportedProgram
    example_inputs: tuple[torch.Tensor, ...]
    path: Path
    format: str  # "pt2", "state-dict" or "pickle"


def parse_input_shape(shape: str | Sequence[int]) -> tuple[int, ...]:
    """`"1x1x8x8"` (or `[1, 1, 8, 8]`) as a tuple of positive ints."""
    if isinstance(shape, str):
        parts = shape.lower().replace(",", "x").split("x")
        try:
            dims = tuple(int(p) for p in parts)
        except ValueError:
            raise ModelLoadError(f"input shape '{shape}' is not of the form 1x1x8x8") from None
    else:
        dims = tuple(int(d) for d in shape)
    if not dims or any(d <= 0 for d in dims):
        raise ModelLoadError(f"input shape {shape!r} needs positive dimensions, batch first")
    from anncc.limits import check_memory

    check_memory(math.prod(dims) * 4, f"input shape {'x'.join(map(str, dims))}: an example input")
    return dims


def load_model(
    path: str | os.PathLike[str],
    *,
    factory: str | None = None,
    input_shape: str | Sequence[int] | None = None,
    trust_pickle: bool = False,
) -> LoadedModel:
    """Load `path` as an ExportedProgram; every failure is one ModelLoadError line.

    `factory` (`package.module:callable`) builds the module a state dict is
    loaded into; `input_shape` gives the example input where the file has none
    (state dicts, pickles) and must agree with a `.pt2`'s exported shape.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"model file {p} does not exist")
    kind = sniff_format(p)
    if kind == "torchscript":
        raise ModelLoadError("this is a TorchScript archive; anncc imports torch.export "
                             "programs", where=str(p), hint=EXPORT_HINT)
    if kind == "pt2":
        return _load_pt2(p, input_shape, trust_pickle)
    if kind == "pickle":
        return _load_pickle(p, factory, input_shape, trust_pickle)
    if p.stat().st_size == 0:
        raise ModelLoadError("the model file is empty", where=str(p))
    if p.suffix == ".pt2":
        raise ModelLoadError("corrupt or truncated .pt2 archive (not a readable zip file)",
                             where=str(p))
    raise ModelLoadError("not a model file: neither a torch.export .pt2 archive nor a "
                         "torch.save file", where=str(p))


def sniff_format(path: Path) -> str:
    """`pt2`, `torchscript`, `pickle` (torch.save, any content) or `unknown`, from the bytes."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                check_archive_sizes(path, zf.infolist())
            if any(n.endswith("archive_format") for n in names):
                return "pt2"
            if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl")
                                                          for n in names):
                return "torchscript"
            return "pickle" if any(n.endswith("data.pkl") for n in names) else "unknown"
        with open(path, "rb") as f:
            head = f.read(2)
    except (OSError, zipfile.BadZipFile) as e:
        raise ModelLoadError(f"cannot read the file: {e}", where=str(path)) from None
    # a pickle starts with the PROTO opcode (legacy torch.save files are pickles too)
    return "pickle" if head[:1] == b"\x80" else "unknown"


def check_archive_sizes(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse an archive whose members' declared uncompressed sizes exceed the memory limit.

    torch.export.load inflates members into memory; a crafted `.pt2` of a few
    hundred kilobytes can declare (and inflate to) gigabytes. The declared sizes
    come from the zip's central directory and are checked before a byte is
    inflated; zipfile itself refuses a member that inflates past its declared size.
    """
    from anncc.limits import check_memory

    total = 0
    for info in members:
        if info.file_size < 0 or info.compress_size < 0:
            raise ModelLoadError(f"archive member '{info.filename}' has a negative size", where=str(path))
        total += info.file_size
    check_memory(total, f"the archive's {len(members)} members, uncompressed,", where=str(path))


# --------------------------------------------------------------------------- .pt2


@contextlib.contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Force every torch.load inside (torch.export.load falls back to full pickles) to be safe."""
    saved = {k: os.environ.pop(k, None) for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD",
                                                   "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet_torch_export() -> Iterator[None]:
    """torch.export.load logs a traceback before raising; anncc reports one line instead."""
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _load_pt2(path: Path, input_shape: str | Sequence[int] | None,
              trust_pickle: bool) -> LoadedModel:
    guard = contextlib.nullcontext() if trust_pickle else _weights_only_loads()
    try:
        with guard, _quiet_torch_export():
            program = torch.export.load(str(path))
    except pickle.UnpicklingError:
        raise ModelLoadError("the archive holds pickled Python objects, and unpickling runs "
                             "code", where=str(path), hint=PICKLE_HINT) from None
    except Exception as e:  # noqa: BLE001 - a damaged archive fails in many ways
        raise ModelLoadError(f"corrupt or unreadable .pt2 archive ({_first_line(e)})",
                             where=str(path)) from None
    from anncc.frontend.importer import example_inputs_of

    exported = example_inputs_of(program)
    if input_shape is None:
        if exported is None:
            raise ModelLoadError("the archive has no example inputs", where=str(path),
                                 hint="pass --input-shape, e.g. 1x1x8x8")
        return LoadedModel(program, exported, path, "pt2")
    shape = parse_input_shape(input_shape)
    if exported is not None and (len(exported) != 1 or exported[0].shape[1:] != shape[1:]):
        want = ("x".join(str(d) for d in exported[0].shape) if len(exported) == 1
                else "several inputs")
        raise ModelLoadError(f"input shape {'x'.join(map(str, shape))} does not match the "
                             f"exported input {want} (only the batch may differ)", where=str(path))
    return LoadedModel(program, (_example(shape),), path, "pt2")


# --------------------------------------------------------------------------- torch.save files


def _load_pickle(path: Path, factory: str | None, input_shape: str | Sequence[int] | None,
                 trust_pickle: bool) -> LoadedModel:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        fmt = "state-dict"
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):
            raise ModelLoadError(f"corrupt or unreadable torch.save file ({_first_line(e)})",
                                 where=str(path)) from None
        if not trust_pickle:
            raise ModelLoadError("this is a pickled Python object (torch.save(model)); "
                                 "unpickling runs code from the file", where=str(path),
                                 hint=PICKLE_HINT) from None
        obj, fmt = _trusted_unpickle(path), "pickle"
    except Exception as e:  # noqa: BLE001 - a damaged file fails in many ways
        raise ModelLoadError(f"corrupt or unreadable torch.save file ({_first_line(e)})",
                             where=str(path)) from None
    if isinstance(obj, torch.nn.Module):
        model = obj
    elif isinstance(obj, Mapping):
        model = _module_from_state_dict(path, obj, factory)
    else:
        raise ModelLoadError(f"the file holds a {type(obj).__name__}, not a model or a state "
                             "dict", where=str(path))
    if input_shape is None:
        raise ModelLoadError("a torch.save file has no example input", where=str(path),
                             hint="pass --input-shape, e.g. 1x1x8x8")
    inputs = (_example(parse_input_shape(input_shape)),)
    from anncc.frontend.importer import as_exported_program

    return LoadedModel(as_exported_program(model, inputs), inputs, path, fmt)


def _trusted_unpickle(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - unpickling user code can raise anything
        raise ModelLoadError(f"unpickling failed ({_first_line(e)})", where=str(path)) from None


def _module_from_state_dict(path: Path, state: Mapping[str, Any],
                            factory: str | None) -> torch.nn.Module:
    nested = state.get("state_dict")
    if isinstance(nested, Mapping):  # checkpoints that wrap the state dict
        state = nested
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError("the file holds a dict that is not a state dict of tensors",
                             where=str(path))
    if factory is None:
        raise ModelLoadError("this is a state dict (weights without the model's code)",
                             where=str(path),
                             hint="name the code with --model package.module:factory")
    model = make_module(factory)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # "Error(s) in loading state_dict for X:" then the keys
        detail = " ".join(ln.strip() for ln in str(e).strip().splitlines()[1:3])
        raise ModelLoadError(f"the state dict does not fit {factory}: {detail or _first_line(e)}",
                             where=str(path)) from None
    return model


def make_module(spec: str) -> torch.nn.Module:
    """Call the factory a `package.module:callable` spec names; it must return an nn.Module."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ModelLoadError(f"model factory '{spec}' is not of the form package.module:factory")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as e:
        raise ModelLoadError(f"cannot find model factory '{spec}': {e}") from None
    try:
        model = target()
    except Exception as e:  # noqa: BLE001 - the user's factory can raise anything
        raise ModelLoadError(f"model factory '{spec}' failed: {_first_line(e)}") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"model factory '{spec}' returned a {type(model).__name__}, "
                             "not an nn.Module")
    return model


def _example(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(0))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
