"""The weight store: numpy arrays kept beside the IR, referenced by key and digest.

Weights, conductance maps and fault maps never live inline in the IR (DESIGN.md
section 3: a 4096x4096 tensor printed inline is 128 MB of text). Ops carry a
`key` and a content `digest`; the arrays live here and are saved beside the
`.mlir` file as safetensors (`weights.safetensors` in a build directory).

A store file is untrusted input, so it may hold only plain numeric arrays:

- safetensors (https://github.com/huggingface/safetensors) is a format made for
  exactly this: a JSON header of `{key: {dtype, shape, data_offsets}}` and the
  raw bytes, no code, no objects. The header is validated by the `safetensors`
  library (`safe_open`) and again here, then each tensor is a read-only view of
  one `mmap` of the file, so a large model opens without reading its weights.
- `.npz` (numpy's zip of `.npy` members) is still read, for stores written
  before safetensors and for users' files, through the same checks. `save`
  writes `.npz` only when the path ends in `.npz`.

A build (`Model.save`) writes integer arrays bit-packed at the bits their
values need (`pack_codes`; the reserved tensor `anncc.packed` says how), so
1-bit level maps and 4-bit weight codes are not stored a byte per value.
Stores without that entry (every build before it) read as they always did.

Checks made before any array is created, in both formats: the dtype is one of
`ALLOWED_DTYPES` (booleans, integers and floats of 1 to 8 bytes, little-endian;
never object, string, structured or big-endian), the shape is a tuple of
non-negative ints whose size times the item size equals the member's byte
count, the bytes lie inside the file, and a compressed `.npz` member's
declared uncompressed size is within `anncc.limits.max_memory_bytes()` before
it is read. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from anncc.errors import StoreError

DIGEST_CHARS = 16
INLINE_LIMIT = 4096  # tensors up to this many elements may be inline in the IR

#: The only array types a store holds: safetensors dtype name -> little-endian numpy dtype.
ALLOWED_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("|b1"), "U8": np.dtype("|u1"), "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NAME_OF = {dt: name for name, dt in ALLOWED_DTYPES.items()}
_SAFETENSORS_HEADER_MAX = 100_000_000  # the safetensors library's own limit
_NPY_HEADER_MAX = 10_000  # numpy's default max_header_size


def digest_of(arr: np.ndarray) -> str:
    """Content digest of an array: sha256 over dtype, shape and bytes (16 hex chars)."""
    h = hashlib.sha256()
    h.update(str(arr.dtype.str).encode())
    h.update(str(tuple(arr.shape)).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:DIGEST_CHARS]


def allowed_dtype(dtype: np.dtype) -> bool:
    """True for the plain numeric dtypes a store may hold (`ALLOWED_DTYPES`)."""
    return not dtype.hasobject and dtype.fields is None and dtype in _NAME_OF


def is_memory_mapped(arr: np.ndarray) -> bool:
    """True when `arr` views a memory map of a store file rather than owning a copy."""
    base: Any = arr
    while base is not None:
        if isinstance(base, (mmap.mmap, np.memmap)):
            return True
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return False


def _check_key(key: object, where: str) -> str:
    if not isinstance(key, str) or not key or "\x00" in key or len(key) > 1024:
        raise StoreError(f"weight key {key!r} is not a valid name", where=where)
    if key == PACKED_METADATA:
        raise StoreError(f"weight key '{key}' is reserved (it lists bit-packed tensors)", where=where)
    return key


class WeightStore:
    """A mapping key -> ndarray with content digests, saved as safetensors beside the IR."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._digests: dict[str, str] = {}
        self._maps: list[mmap.mmap] = []  # keeps loaded files mapped while arrays view them

    # -- building -----------------------------------------------------------
    def add(self, key: str, arr: np.ndarray) -> str:
        """Store `arr` under `key` (replacing any previous value); return its digest.

        Big-endian arrays are stored little-endian; any dtype outside
        `ALLOWED_DTYPES` (objects, strings, records) is a StoreError.
        """
        _check_key(key, "weight store")
        arr = np.asarray(arr, order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
        if arr.dtype.byteorder == ">" and arr.dtype.newbyteorder("<") in _NAME_OF:
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        if not allowed_dtype(arr.dtype):
            raise StoreError(f"weight '{key}' has dtype {arr.dtype.str!r}; a weight store holds only "
                             f"booleans, integers and floats ({', '.join(sorted(ALLOWED_DTYPES))})")
        self._arrays[key] = arr
        self._digests[key] = digest_of(arr)
        return self._digests[key]

    def unique_key(self, base: str) -> str:
        """`base`, or `base.N` for the first N that is not yet taken."""
        if base not in self._arrays:
            return base
        n = 1
        while f"{base}.{n}" in self._arrays:
            n += 1
        return f"{base}.{n}"

    # -- reading ------------------------------------------------------------
    def get(self, key: str, digest: str | None = None) -> np.ndarray:
        """The array under `key`; if `digest` is given it must match the content."""
        if key not in self._arrays:
            raise StoreError(f"weight store has no key '{key}'", hint=self._near(key))
        if digest is not None and self.digest(key) != digest:
            raise StoreError(
                f"weight '{key}' has digest {self.digest(key)} but the IR expects {digest}",
                hint="the weights file does not belong to this IR; recompile or restore it",
            )
        return self._arrays[key]

    def digest(self, key: str) -> str:
        if key not in self._digests:
            self._digests[key] = digest_of(self.get(key))
        return self._digests[key]

    def _near(self, key: str) -> str | None:
        import difflib

        close = difflib.get_close_matches(key, list(self._arrays), n=3)
        return f"did you mean {', '.join(close)}?" if close else None

    def __contains__(self, key: object) -> bool:
        return key in self._arrays

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def keys(self) -> list[str]:
        return list(self._arrays)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays.values())

    def subset(self, keys: list[str]) -> WeightStore:
        """A store holding only `keys` (what a pruned module still references)."""
        out = WeightStore()
        out._maps = self._maps
        for k in keys:
            out._arrays[k] = self.get(k)
            if k in self._digests:
                out._digests[k] = self._digests[k]
        return out

    # -- files --------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], pack: bool = False) -> Path:
        """Write the store atomically (temp file, then rename); keys sorted, byte-identical reruns.

        Safetensors, unless `path` ends in `.npz` (then an uncompressed `.npz`).
        With `pack` (safetensors only), integer arrays whose values span fewer
        bits than their dtype are stored bit-packed (`pack_codes`): a build's
        1-bit level maps take 1/8 of their bytes, 4-bit weight codes 1/2. Loading
        unpacks them (as copies, not memory maps); the digests are the unpacked arrays'.
        """
        path = Path(path)
        for key, arr in self._arrays.items():
            if not allowed_dtype(arr.dtype):  # arrays put in behind add()'s back
                raise StoreError(f"weight '{key}' has dtype {arr.dtype.str!r}, which a store cannot "
                                 "hold", where=str(path))
        if path.suffix.lower() == ".npz":
            return self._save_npz(path)
        return self._save_safetensors(path, pack)

    def _save_safetensors(self, path: Path, pack: bool = False) -> Path:
        from safetensors.numpy import save

        from anncc.files import atomic_write_bytes

        # not ascontiguousarray: it makes 0-d arrays 1-d
        tensors = {k: np.asarray(self._arrays[k], order="C") for k in sorted(self._arrays)}
        metadata = {"format": "anncc-weights"}
        if pack:
            specs: dict[str, list] = {}
            for k, arr in tensors.items():
                packed = pack_codes(arr)
                if packed is not None:
                    tensors[k], specs[k] = packed
            if specs:  # a tensor, not metadata: safetensors writes metadata in hash order
                text = json.dumps(specs, sort_keys=True, separators=(",", ":")).encode()
                tensors[PACKED_METADATA] = np.frombuffer(text, dtype=np.uint8)
        return atomic_write_bytes(path, save(tensors, metadata=metadata))

    def _save_npz(self, path: Path) -> Path:
        from anncc.files import atomic_writer

        with atomic_writer(path) as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:
            for key in sorted(self._arrays):
                # fixed timestamp: the same weights give a byte-identical file
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, self._arrays[key], allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> WeightStore:
        """Open a store (safetensors or `.npz`, told apart by content); arrays are read-only.

        With `mmap` the arrays view a memory map of the file; without, they are copies.
        Every malformed or unsafe file is one StoreError "... is not a valid store: ...".
        """
        path = Path(path)
        if not path.exists():
            raise StoreError(f"weights file {path} does not exist")
        if not path.is_file():
            raise StoreError(f"weights file {path} is not a regular file")
        store = cls()
        try:
            with open(path, "rb") as raw:
                head = raw.read(4)
            if head[:2] == b"PK":
                _load_npz(store, path, mmap)
            else:
                _load_safetensors(store, path, mmap)
        except StoreError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error,
                zipfile.LargeZipFile, NotImplementedError, RuntimeError) as e:
            raise StoreError(f"weights file {path} is not a valid store: {_first_line(e)}") from None
        return store


# --------------------------------------------------------------------------- bit packing

#: The reserved tensor listing packed tensors: UTF-8 JSON `{key: [dtype, shape, bits, low]}` as U8.
PACKED_METADATA = "anncc.packed"
PACK_BITS = (1, 2, 4)
_PACK_MIN_SIZE = 64  # smaller arrays are not worth a metadata entry


def pack_codes(arr: np.ndarray) -> tuple[np.ndarray, list] | None:
    """`(packed uint8 bytes, [dtype, shape, bits, low])` of an integer array whose values span
    fewer bits than its dtype, else None.

    Values `v` are stored as `v − low` in `bits` ∈ {1, 2, 4} bits, `8 / bits` per
    byte, first element in the lowest bits. A ui8 level map of a 1-bit device
    packs 8:1; si8 weight codes of `w_bits = 4` (−7..7) pack 2:1.
    """
    if arr.dtype.kind not in "iu" or arr.size < _PACK_MIN_SIZE or arr.dtype not in _NAME_OF:
        return None
    low, high = int(arr.min()), int(arr.max())
    bits = next((b for b in PACK_BITS if high - low < (1 << b) and b < 8 * arr.dtype.itemsize), None)
    if bits is None:
        return None
    per = 8 // bits
    flat = (arr.reshape(-1).astype(np.int64) - low).astype(np.uint8)
    v = np.concatenate([flat, np.zeros(-flat.size % per, dtype=np.uint8)]).reshape(-1, per)
    packed = np.zeros(v.shape[0], dtype=np.uint8)
    for i in range(per):
        packed |= v[:, i] << np.uint8(i * bits)
    return packed, [_NAME_OF[arr.dtype], list(arr.shape), bits, low]


def unpack_codes(packed: np.ndarray, dtype: np.dtype, shape: tuple, bits: int, low: int) -> np.ndarray:
    """The array `pack_codes` packed (a new, read-only array)."""
    per = 8 // bits
    size = math.prod(shape)
    mask = np.uint8((1 << bits) - 1)
    v = np.empty((packed.size, per), dtype=np.uint8)
    for i in range(per):
        v[:, i] = (packed >> np.uint8(i * bits)) & mask
    flat = v.reshape(-1)[:size]
    out = (flat.astype(dtype) if low == 0 else (flat.astype(np.int64) + low).astype(dtype)).reshape(shape)
    out.flags.writeable = False
    return out


def _packing_text(path: Path, header: dict, data_start: int) -> str | None:
    """The packing tensor's JSON text, or None when the file has none (every older build)."""
    spec = header.get(PACKED_METADATA)
    if spec is None:
        return None
    offsets = spec.get("data_offsets") if isinstance(spec, dict) else None
    if (not isinstance(spec, dict) or spec.get("dtype") != "U8" or not isinstance(offsets, list)
            or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] or offsets[1] - offsets[0] > _SAFETENSORS_HEADER_MAX):
        raise _invalid(path, f"'{PACKED_METADATA}' is not a U8 tensor")
    with open(path, "rb") as f:
        f.seek(data_start + offsets[0])
        data = f.read(offsets[1] - offsets[0])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(path, f"'{PACKED_METADATA}' is not UTF-8 JSON") from None


def _packed_specs(path: Path, meta: Any, header: dict) -> dict[str, tuple[np.dtype, tuple, int, int]]:
    """The checked packing metadata of a safetensors header (hostile input: every field checked)."""
    if meta is None:
        return {}
    try:
        raw = json.loads(meta) if isinstance(meta, str) else None
    except (json.JSONDecodeError, RecursionError):
        raw = None
    if not isinstance(raw, dict):
        raise _invalid(path, f"metadata '{PACKED_METADATA}' is not a JSON object")
    out = {}
    for key, spec in raw.items():
        entry = header.get(key)
        if (not isinstance(entry, dict) or entry.get("dtype") != "U8"
                or not isinstance(entry.get("shape"), list) or len(entry["shape"]) != 1):
            raise _invalid(path, f"packed tensor '{key}' is not a 1-D U8 tensor of the file")
        if (not isinstance(spec, list) or len(spec) != 4 or spec[0] not in ALLOWED_DTYPES
                or ALLOWED_DTYPES[spec[0]].kind not in "iu" or spec[2] not in PACK_BITS
                or not isinstance(spec[3], int) or isinstance(spec[3], bool)
                or not isinstance(spec[1], list) or len(spec[1]) > 32
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec[1])):
            raise _invalid(path, f"packed tensor '{key}' has a malformed packing {spec!r}")
        dtype, shape, bits, low = ALLOWED_DTYPES[spec[0]], tuple(spec[1]), spec[2], spec[3]
        info = np.iinfo(dtype)
        if not (info.min <= low and low + (1 << bits) - 1 <= info.max):
            raise _invalid(path, f"packed tensor '{key}': values {low}..{low + (1 << bits) - 1} "
                                 f"do not fit {dtype}")
        need = -(-math.prod(shape) // (8 // bits))
        if entry["shape"][0] != need:
            raise _invalid(path, f"packed tensor '{key}' holds {entry['shape'][0]} bytes; "
                                 f"{shape} at {bits} bits needs {need}")
        out[key] = (dtype, shape, bits, low)
    return out


# --------------------------------------------------------------------------- checks


def _invalid(path: Path, problem: str) -> StoreError:
    return StoreError(f"weights file {path} is not a valid store: {problem}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _check_array_header(path: Path, key: str, dtype: Any, shape: Any, nbytes: int) -> tuple[np.dtype, tuple]:
    """The dtype and shape of one member, refused unless plain numeric and exactly `nbytes` long."""
    if not isinstance(dtype, np.dtype) or not allowed_dtype(dtype):
        shown = dtype.str if isinstance(dtype, np.dtype) else repr(dtype)
        raise _invalid(path, f"member '{key}' has dtype {shown!r}; allowed are booleans, integers "
                             "and floats, little-endian (no objects, strings or records)")
    if (not isinstance(shape, (tuple, list)) or len(shape) > 32
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise _invalid(path, f"member '{key}' has shape {shape!r}; expected non-negative integers")
    size = math.prod(shape) * dtype.itemsize
    if size != nbytes:
        raise _invalid(path, f"member '{key}' declares shape {tuple(shape)} of {dtype.str} "
                             f"({size} bytes) but holds {nbytes} bytes")
    return dtype, tuple(shape)


def _check_memory(path: Path, nbytes: int, what: str) -> None:
    from anncc.errors import LimitError
    from anncc.limits import check_memory

    try:
        check_memory(nbytes, what, where=str(path))
    except LimitError as e:
        raise StoreError(e.message, where=e.where, hint=e.hint) from None


# --------------------------------------------------------------------------- safetensors


def _load_safetensors(store: WeightStore, path: Path, use_mmap: bool) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise _invalid(path, "neither safetensors nor .npz (file too short)")
        (n,) = struct.unpack("<Q", prefix)
        if n < 2 or n > min(_SAFETENSORS_HEADER_MAX, size - 8):
            raise _invalid(path, f"neither safetensors nor .npz (header length {n} does not fit "
                                 f"the file of {size} bytes)")
        header_bytes = f.read(n)
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _invalid(path, f"safetensors header is not JSON ({_first_line(e)})") from None
    if not isinstance(header, dict):
        raise _invalid(path, "safetensors header is not a JSON object")
    _validate_with_library(path)
    data_start = 8 + n
    packed = _packed_specs(path, _packing_text(path, header, data_start), header)
    data_len = size - data_start
    entries: list[tuple[str, np.dtype, tuple, int, int]] = []
    for key, spec in header.items():
        if key in ("__metadata__", PACKED_METADATA):
            continue
        _check_key(key, str(path))
        if not isinstance(spec, dict):
            raise _invalid(path, f"tensor '{key}' has no dtype/shape/data_offsets")
        name, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
        if name not in ALLOWED_DTYPES:
            raise _invalid(path, f"tensor '{key}' has dtype {name!r}; allowed: "
                                 f"{', '.join(ALLOWED_DTYPES)}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_len):
            raise _invalid(path, f"tensor '{key}' has data offsets {offsets!r} outside the "
                                 f"{data_len} data bytes")
        dtype, shp = _check_array_header(path, key, ALLOWED_DTYPES[name], shape, offsets[1] - offsets[0])
        entries.append((key, dtype, shp, data_start + offsets[0], offsets[1] - offsets[0]))
    unpacked = sum(math.prod(p[1]) * p[0].itemsize for p in packed.values())
    if not use_mmap or unpacked:
        _check_memory(path, unpacked + (0 if use_mmap else sum(e[4] for e in entries)),
                      "reading the weights file")
    mm = _map(path) if size > 0 and entries else None
    if mm is not None:
        store._maps.append(mm)
    for key, dtype, shape, start, nbytes in entries:
        if nbytes == 0:
            arr = np.zeros(shape, dtype=dtype)
        else:
            assert mm is not None  # a non-empty member means a non-empty file, which was mapped
            arr = np.frombuffer(mm, dtype=dtype, count=nbytes // dtype.itemsize, offset=start)
            arr = arr.reshape(shape) if use_mmap else arr.reshape(shape).copy()
        arr.flags.writeable = False
        if key in packed:
            arr = unpack_codes(arr, *packed[key])
        store._arrays[key] = arr


def _validate_with_library(path: Path) -> None:
    """The safetensors library's own header checks (overlaps, gaps, dtypes, sizes)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            f.keys()
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise _invalid(path, f"safetensors: {_first_line(e)}") from None


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


# --------------------------------------------------------------------------- .npz


def _load_npz(store: WeightStore, path: Path, use_mmap: bool) -> None:
    size = path.stat().st_size
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        seen: set[str] = set()
        inflated = 0
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _invalid(path, f"member '{info.filename}' is not a .npy array")
            key = _check_key(info.filename[: -len(".npy")], str(path))
            if key in seen:
                raise _invalid(path, f"member '{info.filename}' appears twice")
            seen.add(key)
            if info.flag_bits & 0x1:
                raise _invalid(path, f"member '{info.filename}' is encrypted")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.compress_size != info.file_size:
                    raise _invalid(path, f"member '{info.filename}' is stored but its sizes differ")
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                inflated += info.file_size
            else:
                raise _invalid(path, f"member '{info.filename}' uses compression method "
                                     f"{info.compress_type} (only stored or deflated)")
            if info.header_offset + info.compress_size > size:
                raise _invalid(path, f"member '{info.filename}' lies past the end of the file")
        # declared uncompressed sizes, before a byte is inflated (zip bombs)
        if inflated or not use_mmap:
            _check_memory(path, inflated if use_mmap else sum(i.file_size for i in infos),
                          "decompressing the weights file")
        mm = _map(path) if use_mmap and size > 0 else None
        if mm is not None:
            store._maps.append(mm)
        with open(path, "rb") as raw:
            for info in infos:
                key = info.filename[: -len(".npy")]
                if info.compress_type == zipfile.ZIP_STORED:
                    store._arrays[key] = _stored_member(path, raw, info, mm)
                else:
                    with zf.open(info) as f:
                        store._arrays[key] = _read_member(path, key, f, info.file_size)


def _npy_header(path: Path, key: str, f: Any, member_size: int) -> tuple[np.dtype, tuple, bool, int]:
    """(dtype, shape, fortran, header bytes) of a `.npy` stream, checked before any array exists."""
    start = f.tell() if hasattr(f, "tell") else 0
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise _invalid(path, f"member '{key}' has .npy version {version}")
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read(f, max_header_size=_NPY_HEADER_MAX)
    header_len = f.tell() - start
    dtype, shape = _check_array_header(path, key, dtype, list(shape), member_size - header_len)
    return dtype, shape, bool(fortran), header_len


def _stored_member(path: Path, raw: Any, info: zipfile.ZipInfo, mm: mmap.mmap | None) -> np.ndarray:
    """One stored (uncompressed) `.npy` member, mapped at its offset in the file."""
    key = info.filename[: -len(".npy")]
    raw.seek(info.header_offset)
    local = raw.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise _invalid(path, f"member '{info.filename}' has no local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    raw.seek(start)
    dtype, shape, fortran, header_len = _npy_header(path, key, raw, info.file_size)
    offset = start + header_len
    nbytes = info.file_size - header_len
    if offset + nbytes > path.stat().st_size:
        raise _invalid(path, f"member '{info.filename}' lies past the end of the file")
    if nbytes == 0:
        arr = np.zeros(shape, dtype=dtype)
    elif mm is not None:
        arr = np.frombuffer(mm, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
        arr = arr.reshape(shape, order="F" if fortran else "C")
    else:
        data = raw.read(nbytes)
        if len(data) != nbytes:
            raise _invalid(path, f"member '{info.filename}' is truncated")
        arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
    arr.flags.writeable = False
    return arr


def _read_member(path: Path, key: str, f: Any, member_size: int) -> np.ndarray:
    """One deflated `.npy` member, read after its header passed the checks."""
    dtype, shape, fortran, header_len = _npy_header(path, key, f, member_size)
    nbytes = member_size - header_len
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise _invalid(path, f"member '{key}.npy' is truncated")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
    arr.flags.writeable = False
    return arr
