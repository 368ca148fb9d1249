"""Atomic file writes and confined paths (a bottom module: stdlib only, see `anncc.errors`).

Writes are a temp file in the same folder, then a rename (DESIGN.md section 9):
a reader never sees a half-written IR, store or report, and an interrupted
build leaves the previous file in place. The file gets the mode a plain
`open(path, "w")` would (0666 less the umask), not `mkstemp`'s 0600.

`read_text_file` reads a user's text file (size limit, UTF-8, no NUL bytes)
with one-line errors. `confined` resolves a path named inside a build directory or an input file
(a manifest's `levels`, its `weights`) and refuses one that leaves that
directory: absolute, `..`, or a symlink pointing out.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from anncc.errors import InputError, LimitError


def _umask() -> int:
    """The process umask, read from /proc where it can be (setting it to read it races threads)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0o666 less the process umask."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` when the block ends, and vanishes on an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_writer(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_link(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Make `path` the same file as `source` (a hard link: no second copy on disk),
    replacing `path` atomically; a copy where the file system has no hard links."""
    source, path = Path(source), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mktemp(dir=path.parent, prefix=path.name, suffix=".tmp"))
    try:
        os.link(source, tmp)
    except OSError:
        return atomic_write_bytes(path, source.read_bytes())
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def confined(root: str | os.PathLike[str], relative: str, field: str,
             where: str | None = None) -> Path:
    """`root / relative`, resolved, refused unless it stays inside `root`.

    `field` names where the path came from (`manifest.json field 'weights'`).
    Refused: an empty, absolute or NUL-holding path, any `..` part, and a path
    whose resolved form (symlinks followed) is outside the resolved `root`.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise InputError(f"{field}: expected a relative path inside the directory, got {relative!r}",
                         where=where)
    rel = Path(relative)
    if rel.is_absolute() or relative.startswith(("/", "\\")):
        raise InputError(f"{field}: absolute path '{relative}' is not allowed "
                         "(expected a path inside the directory)", where=where)
    if ".." in rel.parts or ".." in relative.replace("\\", "/").split("/"):
        raise InputError(f"{field}: path '{relative}' leaves the directory ('..')", where=where)
    base = Path(root).resolve()
    full = (base / rel).resolve()
    if full != base and base not in full.parents:
        raise InputError(f"{field}: path '{relative}' resolves outside the directory "
                         "(a symbolic link out of it)", where=where)
    return full


def read_text_file(path: str | os.PathLike[str], what: str, limit: int | None = None) -> str:
    """A UTF-8 text file: it must exist, be a file, fit `limit` bytes and decode."""
    from anncc.limits import human_bytes, max_ir_bytes, max_small_file_bytes

    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file does not exist", where=str(p))
    if p.is_dir():
        raise InputError(f"{what} path is a directory, expected a file", where=str(p))
    if not p.is_file():
        raise InputError(f"{what} path is not a regular file", where=str(p))
    if limit is None:
        limit = max_ir_bytes() if what.endswith("IR") else max_small_file_bytes()
    size = p.stat().st_size
    if size > limit:
        raise LimitError(f"{what} file is {human_bytes(size)}, more than the limit of {human_bytes(limit)}",
                         where=str(p))
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {what} file: {e.strerror or type(e).__name__}", where=str(p)) from None
    return decode_utf8(data, what, str(p))


def decode_utf8(data: bytes, what: str, where: str) -> str:
    """`data` as UTF-8 text; an error names the first bad byte's line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(f"{what} is not UTF-8 text (byte 0x{data[e.start]:02x} at line {line} "
                         f"column {col})", where=where) from None
    if "\x00" in text:
        raise InputError(f"{what} is binary, not text (it holds NUL bytes)", where=where)
    return text
