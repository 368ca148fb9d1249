"""The weight store: numpy arrays kept beside the IR, referenced by key and digest.

Weights, conductance maps and fault maps never live inline in the IR (DESIGN.md
section 3: a 4096x4096 tensor printed inline is 128 MB of text). Ops carry a
`key` and a content `digest`; the arrays live here and are saved beside the
`.mlir` file as an uncompressed `.npz`. Loading maps each member of the archive
into memory with `numpy.memmap` (an uncompressed zip member is a plain `.npy`
at a fixed offset), so a large model opens without reading its weights.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from anncc.errors import StoreError

DIGEST_CHARS = 16
INLINE_LIMIT = 4096  # tensors up to this many elements may be inline in the IR


def digest_of(arr: np.ndarray) -> str:
    """Content digest of an array: sha256 over dtype, shape and bytes (16 hex chars)."""
    h = hashlib.sha256()
    h.update(str(arr.dtype.str).encode())
    h.update(str(tuple(arr.shape)).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:DIGEST_CHARS]


class WeightStore:
    """A mapping key -> ndarray with content digests, saved as `.npz` beside the IR."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self._digests: dict[str, str] = {}

    # -- building -----------------------------------------------------------
    def add(self, key: str, arr: np.ndarray) -> str:
        """Store `arr` under `key` (replacing any previous value); return its digest."""
        arr = np.asarray(arr, order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
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
        for k in keys:
            out._arrays[k] = self.get(k)
            if k in self._digests:
                out._digests[k] = self._digests[k]
        return out

    # -- files --------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write an uncompressed `.npz` atomically (temp file, then rename); keys sorted."""
        from anncc.files import atomic_writer

        path = Path(path)
        with atomic_writer(path) as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:
            for key in sorted(self._arrays):
                # fixed timestamp: the same weights give a byte-identical file
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, self._arrays[key], allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = True) -> WeightStore:
        """Open a store saved by `save`; with `mmap`, arrays are memory-mapped, read-only."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"weights file {path} does not exist")
        store = cls()
        try:
            with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
                for info in zf.infolist():
                    if not info.filename.endswith(".npy"):
                        continue
                    key = info.filename[: -len(".npy")]
                    if mmap and info.compress_type == zipfile.ZIP_STORED:
                        store._arrays[key] = _memmap_member(raw, path, info)
                    else:
                        with zf.open(info) as f:
                            store._arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError) as e:
            raise StoreError(f"weights file {path} is not a valid store: {e}") from None
        return store


def _memmap_member(raw, path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """Map one stored (uncompressed) `.npy` member of a zip file."""
    raw.seek(info.header_offset)
    header = raw.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    raw.seek(start)
    version = np.lib.format.read_magic(raw)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
    offset = raw.tell()
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")
