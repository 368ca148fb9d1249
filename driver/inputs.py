"""Where user input enters anncc, and is checked before it costs anything.

Every file and option a user hands to `anncc`, `anncc eval` or `anncc-opt` passes
through one of these functions; each refuses bad input with one `InputError`
line naming the file, the field and what was expected, e.g.

    build/manifest.json: field 'levels': expected a list of 'ann', 'xbar', 'cell' (got 'cell')
    calib.npy: calibration inputs: expected finite numbers, found 3 NaN
    --input-shape 1x3x50000x50000: an example input needs 30.0 GB, more than the limit of 8.0 GB

| input | function |
|---|---|
| compile options (`--w-bits`, `--seed`, ...) | `check_compile_options` |
| `anncc eval` options (`--trials`, `--drift`, ...) | `check_eval_options`, `parse_drift_times` |
| `-o` build directory | `check_output_dir`, `writing_output` |
| `--input-shape` | `parse_input_shape` (memory checked) |
| `manifest.json` of a build | `read_manifest` (pydantic `Manifest`, confined paths) |
| text files (IR levels, `.mlir`) | `read_text_file` (UTF-8, size limit) |
| calibration `.npy` | `read_calibration` |
| evaluation `.npz` (`--eval-data`, `--data`) | `read_eval_data`, `check_labels` |
| fault maps `.npz` | `check_fault_map` |
| model weights (NaN/Inf) | `check_finite_parameters` |

Target files are read by `anncc.targets.read_overrides_file`, the weight store
by `anncc.ir.store.WeightStore.load`, model archives by `anncc.frontend.load_model`
(archive sizes against `anncc.limits`); each already answers in the same style.
Numeric arrays are opened by `open_npy`/`open_npz`: dtype and size are read
from the header and checked (`anncc.limits`) before a byte of data is read, and
nothing is unpickled.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from anncc.errors import AnnccError, InputError
from anncc.files import confined, read_text_file
from anncc.limits import check_memory, max_small_file_bytes

LEVEL_NAMES = ("ann", "xbar", "cell")
NUMERIC_KINDS = "biuf"  # booleans, signed and unsigned integers, floats


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(e).strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- options


def check_compile_options(args: argparse.Namespace) -> None:
    """The compile command's numeric options, before any slow work."""
    if not 2 <= args.w_bits <= 8:
        raise InputError(f"--w-bits must be in [2, 8], got {args.w_bits}")
    if not 2 <= args.in_bits <= 16:
        raise InputError(f"--in-bits must be in [2, 16], got {args.in_bits}")
    if not 0 <= args.fault_rate <= 0.5:  # NaN fails both comparisons
        raise InputError(f"--fault-rate must be in [0, 0.5], got {args.fault_rate}")
    if args.spare_rows < 0 or args.spare_cols < 0:
        raise InputError("--spare-rows and --spare-cols must be >= 0")
    if args.spare_rows > 4096 or args.spare_cols > 4096:
        raise InputError("--spare-rows and --spare-cols must be at most 4096 (an array's size)")
    check_seed(args.seed)
    budget = getattr(args, "irdrop_budget", 0.0)
    if not 0 <= budget <= 1:  # NaN fails both comparisons
        raise InputError(f"--irdrop-budget must be a fraction in (0, 1], got {budget}")
    if not args.target:
        raise InputError("--target must name a target (see 'anncc targets')")
    for name in ("calib", "eval_data", "fault_map"):  # target files: anncc.targets
        value = getattr(args, name, None)
        if value:
            check_input_file(value, "--" + name.replace("_", "-"))
    if getattr(args, "model", None):
        check_input_file(args.model, "model file")
    check_output_dir(args.output)


def check_seed(seed: int) -> None:
    if not 0 <= seed < 2**63:
        raise InputError(f"--seed must be in [0, 2^63), got {seed}")


def check_eval_options(args: argparse.Namespace) -> None:
    """`anncc eval`'s options; `--drift` is parsed and checked here."""
    if not 1 <= args.trials <= 100_000:
        raise InputError(f"--trials must be in [1, 100000], got {args.trials}")
    cpus = os.cpu_count() or 1
    if not 1 <= args.workers <= max(64, 4 * cpus):
        raise InputError(f"--workers must be in [1, {max(64, 4 * cpus)}], got {args.workers}")
    check_seed(args.seed)
    if args.drift:
        parse_drift_times(args.drift)
    if args.data:
        check_input_file(args.data, "--data")
    build = Path(args.build)
    if not build.exists():
        raise InputError(f"build directory {build} does not exist")
    if not build.is_dir():
        raise InputError(f"{build} is not a build directory (it is a file)",
                         hint="pass the directory that 'anncc -o DIR' wrote")


#: The longest drift time accepted: 100 years, far past any retention claim.
MAX_DRIFT_S = 100 * 365.25 * 86400


def parse_drift_times(text: str) -> list[float]:
    """`--drift '1,86400,3.15e7'` as seconds: finite, >= 0, at most 100 years, at most 32 times."""
    try:
        times = [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise InputError(f"--drift takes seconds separated by commas, got '{text}'") from None
    if not times or len(times) > 32:
        raise InputError(f"--drift takes 1 to 32 times in seconds, got '{text}'")
    for t in times:
        if not math.isfinite(t) or not 0 <= t <= MAX_DRIFT_S:
            raise InputError(f"--drift times must be finite seconds in [0, {MAX_DRIFT_S:.3g}] "
                             f"(100 years), got {t:g}")
    return times


def check_input_file(path: str, what: str) -> Path:
    """An input file the user named: it must exist and be a regular file."""
    p = Path(path)
    if "\x00" in str(path):
        raise InputError(f"{what}: the path holds a NUL byte")
    if not p.exists():
        raise InputError(f"{what} {p} does not exist")
    if p.is_dir():
        raise InputError(f"{what} {p} is a directory, expected a file")
    if not p.is_file():
        raise InputError(f"{what} {p} is not a regular file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} {p} is not readable")
    return p


# --------------------------------------------------------------------------- the build directory


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """The `-o` directory: a directory (or nothing yet) we may write, whose `ir` is a folder."""
    out = Path(path)
    if not str(path) or "\x00" in str(path):
        raise InputError(f"-o: expected a directory path, got {str(path)!r}")
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out} is an existing file, not a directory",
                         hint="choose another output directory or remove the file")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(f"-o {out}: {probe} is a file, so the directory cannot be made")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the build directory {out}: {probe} is not writable "
                         "(read-only file system or permissions)")
    if out.is_dir():
        for sub in ("ir", "figures"):
            if (out / sub).exists() and not (out / sub).is_dir():
                raise InputError(f"-o {out}: '{sub}' in it is a file, but anncc writes a directory there",
                                 hint="remove it or choose another output directory")
    return out


@contextmanager
def writing_output(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OSError while writing the build (full disk, read-only) into one line."""
    try:
        yield
    except OSError as e:
        where = e.filename or directory
        raise InputError(f"cannot write the build directory: {e.strerror or first_line(e)}",
                         where=str(where)) from None


# --------------------------------------------------------------------------- --input-shape


def parse_input_shape(text: str) -> tuple[int, ...]:
    """`1x1x8x8` as a tuple of positive ints, at most 8 dims, within the memory limit."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"--input-shape '{text}' is not of the form 1x1x8x8") from None
    if not dims or len(dims) > 8 or any(d <= 0 for d in dims):
        raise InputError(f"--input-shape '{text}': expected 1 to 8 positive dimensions, batch first")
    check_memory(math.prod(dims) * 4, f"--input-shape {text}: an example input")
    return dims


# --------------------------------------------------------------------------- manifest.json


class Manifest(BaseModel):
    """`manifest.json` of a build directory: what `anncc.runtime.load` opens.

    `levels` are level names (their IR is `ir/<level>.mlir`), `final` one of
    them, `weights` a path relative to the build directory. Keys other tools
    add are kept and ignored.
    """

    model_config = ConfigDict(extra="ignore", strict=True)

    levels: list[str]
    final: str
    weights: str

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("expected at least one level")
        bad = [x for x in v if x not in LEVEL_NAMES]
        if bad:
            raise ValueError(f"unknown level {_shown(bad[0])}; expected 'ann', 'xbar' or 'cell'")
        if len(set(v)) != len(v):
            raise ValueError("a level is listed twice")
        return v

    @model_validator(mode="after")
    def _final(self) -> Manifest:
        if self.final not in self.levels:
            raise ValueError(f"field 'final': {self.final!r} is not among the levels {self.levels}")
        return self


def _pydantic_message(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].replace("Value error, ", "").replace("Input should be", "expected")
    got = err.get("input")
    text = f"field '{loc}': {msg}" if loc else msg
    if err["type"] != "value_error" and err["type"] != "missing":
        text += f" (got {_shown(got)})"
    more = len(e.errors()) - 1
    return text + (f"; and {more} more problem{'s' * (more > 1)}" if more else "")


def read_json_file(path: Path, what: str) -> Any:
    """A small JSON file: size-limited, UTF-8, valid JSON; errors name the file."""
    text = read_text_file(path, what, limit=max_small_file_bytes())
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                         where=str(path)) from None
    except RecursionError:
        raise InputError(f"{what} nests too deeply", where=str(path)) from None


def read_manifest(directory: str | os.PathLike[str]) -> tuple[Manifest, Path, dict[str, Path]]:
    """The validated manifest, its weights file and each level's IR file, all inside `directory`."""
    d = Path(directory)
    if not d.exists():
        raise InputError(f"build directory {d} does not exist")
    if not d.is_dir():
        raise InputError(f"{d} is not a build directory (it is a file)")
    path = d / "manifest.json"
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{d} is not an anncc build directory (no manifest.json)")
    confined(d, "manifest.json", "manifest.json", where=str(d))
    data = read_json_file(path, "manifest")
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object with 'levels', 'final' and 'weights', got "
                         f"{type(data).__name__}", where=str(path))
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        raise InputError(_pydantic_message(e), where=str(path)) from None
    weights = confined(d, manifest.weights, "field 'weights'", where=str(path))
    levels = {lv: confined(d, f"ir/{lv}.mlir", f"level '{lv}'", where=str(path)) for lv in manifest.levels}
    return manifest, weights, levels


# --------------------------------------------------------------------------- text


# --------------------------------------------------------------------------- numeric arrays


def _check_dtype(dtype: np.dtype, what: str, where: str) -> None:
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in NUMERIC_KINDS:
        raise InputError(f"{what}: expected numbers, got arrays of {_dtype_words(dtype)}", where=where)


def _dtype_words(dtype: np.dtype) -> str:
    if dtype.hasobject:
        return "Python objects"
    if dtype.kind in "US":
        return "strings"
    if dtype.fields is not None:
        return "records"
    return f"dtype {dtype.str}"


def _npy_header(f: Any, what: str, where: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    try:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read(f, max_header_size=10_000)
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise InputError(f"{what}: not a .npy array ({first_line(e)})", where=where) from None
    return dtype, tuple(shape), bool(fortran)


def _read_npy_body(f: Any, dtype: np.dtype, shape: tuple[int, ...], fortran: bool, what: str,
                   where: str) -> np.ndarray:
    nbytes = math.prod(shape) * dtype.itemsize
    check_memory(nbytes, what, where=where)
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise InputError(f"{what}: truncated (expected {nbytes} bytes of data, found {len(data)})",
                         where=where)
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def open_npy(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """A numeric `.npy` array; dtype and size checked from the header before the data is read."""
    p = check_input_file(str(path), what)
    where = str(p)
    with open(p, "rb") as f:
        if zipfile.is_zipfile(f):
            raise InputError(f"{what}: expected a .npy array, got a zip archive (.npz?)", where=where)
        f.seek(0)
        dtype, shape, fortran = _npy_header(f, what, where)
        _check_dtype(dtype, what, where)
        return _read_npy_body(f, dtype, shape, fortran, what, where)


def open_npz(path: str | os.PathLike[str], what: str, names: tuple[str, ...] | None = None
             ) -> dict[str, np.ndarray]:
    """Numeric arrays of an `.npz` (all, or `names`, which must be there); sizes checked first."""
    p = check_input_file(str(path), what)
    where = str(p)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{what}: expected an .npz archive ({first_line(e)})", where=where) from None
    with zf:
        members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
        wanted = names if names is not None else tuple(members)
        missing = [n for n in wanted if n not in members]
        if missing:
            have = ", ".join(sorted(members)) or "none"
            raise InputError(f"{what}: no array '{missing[0]}' in the archive (has: {have})",
                             hint=f"an .npz with arrays {', '.join(wanted)}", where=where)
        check_memory(sum(members[n].file_size for n in wanted), what, where=where)  # before inflating
        out: dict[str, np.ndarray] = {}
        for n in wanted:
            try:
                with zf.open(members[n]) as f:
                    dtype, shape, fortran = _npy_header(f, f"{what} array '{n}'", where)
                    _check_dtype(dtype, f"{what} array '{n}'", where)
                    out[n] = _read_npy_body(f, dtype, shape, fortran, f"{what} array '{n}'", where)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
                raise InputError(f"{what} array '{n}': unreadable ({first_line(e)})",
                                 where=where) from None
        return out


def _check_finite(arr: np.ndarray, what: str, where: str) -> None:
    if arr.dtype.kind == "f":
        nan, inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        if nan or inf:
            found = " and ".join(s for s in (f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else "") if s)
            raise InputError(f"{what}: expected finite numbers, found {found}", where=where)


def _shape_text(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_inputs_fit(x: np.ndarray, input_shape: tuple[int, ...] | None, what: str, where: str) -> None:
    """`x` is a batch of model inputs: [N, *input_shape[1:]] with N >= 1."""
    if x.ndim == 0 or x.shape[0] == 0:
        raise InputError(f"{what}: expected a batch of inputs, got shape {_shape_text(x.shape)}",
                         where=where)
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape[1:]):
        want = _shape_text(["N", *input_shape[1:]])  # type: ignore[list-item]
        raise InputError(f"{what}: expected shape {want} (the model's input), got "
                         f"{_shape_text(x.shape)}", where=where)


#: Array names taken from a calibration `.npz`, in order of preference (or its only array).
CALIB_NPZ_KEYS = ("x", "calib", "inputs", "input")


def read_calibration(path: str, input_shape: tuple[int, ...] | None) -> np.ndarray:
    """`--calib FILE.npy|FILE.npz`: finite numeric inputs shaped like the model's input.

    From an `.npz`, the array named `x` (or `calib`, `inputs`, `input`), or its only array.
    """
    what = "calibration inputs"
    if str(path).endswith(".npz"):
        arrays = open_npz(path, what)
        only = next(iter(arrays)) if len(arrays) == 1 else None
        key = next((k for k in CALIB_NPZ_KEYS if k in arrays), only)
        if key is None:
            raise InputError(f"{what}: the archive holds {', '.join(sorted(arrays)) or 'no arrays'}",
                             hint="name the calibration inputs 'x'", where=str(path))
        arr = arrays[key]
    else:
        arr = open_npy(path, what)
    check_inputs_fit(arr, input_shape, what, path)
    _check_finite(arr, what, path)
    return np.asarray(arr, dtype=np.float32)


def read_eval_data(path: str, input_shape: tuple[int, ...] | None,
                   n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`--eval-data` / `--data FILE.npz` with `x` (inputs) and `y` (class indices)."""
    arrays = open_npz(path, "evaluation data", ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    check_inputs_fit(x, input_shape, "evaluation data array 'x'", path)
    _check_finite(x, "evaluation data array 'x'", path)
    labels = check_labels(y, len(x), n_classes, path)
    return np.asarray(x, dtype=np.float32), labels


def check_labels(y: np.ndarray, n: int, n_classes: int | None, where: str) -> np.ndarray:
    """Labels `y`: shape [n], whole numbers in [0, n_classes)."""
    what = "evaluation data array 'y'"
    if y.ndim == 2 and y.shape[0] == n and y.shape[1] > 1:
        raise InputError(f"{what}: expected class indices of shape [{n}], got {_shape_text(y.shape)} "
                         "(one-hot labels? pass y.argmax(1))", where=where)
    if y.shape != (n,):
        raise InputError(f"{what}: expected class indices of shape [{n}] (one per input in 'x'), got "
                         f"{_shape_text(y.shape)}", where=where)
    _check_finite(y, what, where)
    if y.dtype.kind == "f" and not np.all(np.equal(np.floor(y), y)):
        raise InputError(f"{what}: expected whole-number class indices, found fractions", where=where)
    labels = y.astype(np.int64)
    if len(labels) and (labels.min() < 0 or (n_classes is not None and labels.max() >= n_classes)):
        top = f"{n_classes - 1}" if n_classes is not None else "..."
        raise InputError(f"{what}: class indices must be in [0, {top}], found "
                         f"{int(labels.min())}..{int(labels.max())}", where=where)
    return labels


def check_fault_map(path: str) -> None:
    """`--fault-map FILE.npz`: per-array maps of 2-D codes 0 (ok), 1 (stuck low), 2 (stuck high)."""
    arrays = open_npz(path, "fault map")
    if not arrays:
        raise InputError("fault map: the archive holds no arrays", where=path)
    for name, a in arrays.items():
        if a.ndim != 2:
            raise InputError(f"fault map array '{name}': expected 2-D [array_rows, array_cols], got "
                             f"shape {_shape_text(a.shape)}", where=path)
        _check_finite(a, f"fault map array '{name}'", path)
        if a.size and (a.min() < 0 or a.max() > 2 or not np.all(np.floor(a) == a)):
            raise InputError(f"fault map array '{name}': expected codes 0, 1 or 2", where=path)


# --------------------------------------------------------------------------- model weights


def check_finite_parameters(program: Any, where: str) -> None:
    """Every parameter and buffer of a loaded model is finite (NaN/Inf cannot be quantized)."""
    import torch

    state = dict(getattr(program, "state_dict", {}) or {})
    state.update(getattr(program, "constants", {}) or {})
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
            found = " and ".join(s for s in (f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else "") if s)
            raise InputError(f"model parameter '{name}' holds {found}; expected finite weights",
                             where=where)


def model_io_shapes(module: Any) -> tuple[tuple[int, ...] | None, int | None]:
    """(input shape with batch -1, number of output classes) of an `ann` module, when static."""
    try:
        from anncc.runtime.interpreter import entry_function

        fn = entry_function(module)
        ins = [int(d) for d in fn.body.block.args[0].type.get_shape()]
        outs = [int(d) for d in fn.function_type.outputs.data[0].get_shape()]
    except (AnnccError, AttributeError, IndexError, TypeError, ValueError):
        return None, None
    return tuple(ins), (outs[-1] if outs and outs[-1] > 0 else None)


def example_shape(example: Any) -> tuple[int, ...] | None:
    """The shape of a model's (first) example input: a tensor, an array, or a tuple of them."""
    if isinstance(example, (tuple, list)):
        example = example[0] if example else None
    shape = getattr(example, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else None


def unexpected_error_line(e: BaseException) -> str:
    """The one line the command lines print for an exception no check caught (`--debug` re-raises)."""
    if isinstance(e, MemoryError):
        return "out of memory (the input asks for more than this machine has; rerun with --debug)"
    kind = type(e).__name__
    module = type(e).__module__ or ""
    source = "xDSL" if module.startswith("xdsl") else "PyTorch" if module.startswith("torch") else None
    text = first_line(e)
    if len(text) > 300:
        text = text[:297] + "..."
    origin = f"{source} {kind}" if source else kind
    return f"unexpected failure ({origin}: {text}); rerun with --debug for the traceback"


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`parser.parse_args(argv)`, with a usage error as one InputError line (no usage block)."""

    def error(message: str):  # argparse's own error() prints usage and exits 2
        raise InputError(f"{message} (see '{parser.prog} --help')")

    parser.error = error  # type: ignore[method-assign]
    return parser.parse_args(argv)


def check_finite_store(store: Any) -> None:
    """Every float array of an imported model's weight store is finite (NaN/Inf cannot be quantized)."""
    for key in store:
        arr = store.get(key)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            nan, inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            found = " and ".join(s for s in (f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else "") if s)
            raise InputError(f"model weight '{key}' holds {found}; expected finite weights")
