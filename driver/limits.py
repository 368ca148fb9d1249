"""What one input may cost: memory, archive members, IR text (a bottom module, stdlib only).

A hostile or careless input must be refused with a clear message before it
costs the machine: a `.pt2` whose members decompress to gigabytes, an
`--input-shape` of 25 GB, IR text with millions of ops or a splat constant of
10^10 elements. Each limit can be raised with an environment variable for a
user who really has the memory and the time.

| limit | default | variable |
|---|---|---|
| memory one tensor or archive may take | half the machine's RAM, at most 16 GiB | `ANNCC_MAX_MEMORY_BYTES` |
| IR text size | 256 MiB | `ANNCC_MAX_IR_BYTES` |
| ops in one IR text | 1,000,000 | `ANNCC_MAX_IR_OPS` |
| a small structured file (manifest, target file) | 16 MiB | `ANNCC_MAX_SMALL_FILE_BYTES` |

Measured for the op limit: anncc-opt parses and verifies about 1,300 simple
ops per second on the 2-core CI machine (10,000 splat constants: 7.8 s). The
limit must admit what anncc itself writes: at the array sizes the compiler picks
for the IR-drop budget, the ResNet-18-style model's cell level is 202,669 ops on
`rram` (101,008 arrays) and about 700,000 on `sot-mtj` (349,152 arrays of 16x16),
and `anncc.runtime.load` of the rram build (xbar and cell levels, 94 MB of text,
about 305,000 ops) took 187 s and 1.6 GB (1 Dec 2026) through xDSL's parser, and
27 to 34 s and 1.0 GB since its per-array ops are read by anncc's fast path
(`LocatingParser` in `anncc.ir.module_io`, 13,000 to 21,000 ops/s on a level instead
of 1,400 to 2,000; `bench/bench_load.py`). Text the fast path leaves to xDSL
(hand-written, other spacing) still parses at about 1,500 ops/s, so 1,000,000 ops
is at most about ten minutes and 5 GB: bounded, and every build of that model loads.
"""

from __future__ import annotations

import os

from anncc.errors import LimitError

GIB = 1 << 30
MIB = 1 << 20


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        raise LimitError(f"environment variable {name} must be a number of bytes, got '{text}'") from None
    return max(0, value)


def physical_memory_bytes() -> int:
    """The machine's RAM in bytes (8 GiB when the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def max_memory_bytes() -> int:
    """The most memory one tensor, array or decompressed archive may take."""
    return _env_int("ANNCC_MAX_MEMORY_BYTES", min(physical_memory_bytes() // 2, 16 * GIB))


def max_ir_bytes() -> int:
    return _env_int("ANNCC_MAX_IR_BYTES", 256 * MIB)


def max_ir_ops() -> int:
    return _env_int("ANNCC_MAX_IR_OPS", 1_000_000)


def max_small_file_bytes() -> int:
    return _env_int("ANNCC_MAX_SMALL_FILE_BYTES", 16 * MIB)


def human_bytes(n: int | float) -> str:
    """`25.0 GB`-style sizes for messages."""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def check_memory(nbytes: int, what: str, where: str | None = None) -> None:
    """Refuse `what` if it needs more than `max_memory_bytes()`."""
    limit = max_memory_bytes()
    if nbytes > limit:
        raise LimitError(f"{what} needs {human_bytes(nbytes)}, more than the limit of "
                         f"{human_bytes(limit)}", where=where,
                         hint="set ANNCC_MAX_MEMORY_BYTES to allow more")


_TENSOR_TYPE = None


def check_ir_text(text: str | bytes, name: str) -> None:
    """Refuse IR text too large to parse in reasonable time and memory, before parsing it.

    Four limits: the text's size (`max_ir_bytes`), its op count (estimated as
    the lines that hold an op, `max_ir_ops`), any static tensor type whose
    elements would take more than `max_memory_bytes` once materialized (a
    `dense<0.0> : tensor<100000x100000xf32>` splat is 24 bytes of text), and
    the splat constants together (10,000 splats of a million elements each are
    40 GB once the runtime materializes them).
    """
    import re

    global _TENSOR_TYPE
    size = len(text)
    if size > max_ir_bytes():
        raise LimitError(f"the IR text is {human_bytes(size)}, more than the limit of "
                         f"{human_bytes(max_ir_bytes())}", where=name, hint="set ANNCC_MAX_IR_BYTES")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    ops = sum(1 for ln in text.splitlines()
              if (s := ln.strip()) and not s.startswith(("//", "}", "^", "#")) and s not in ("{", ")"))
    if ops > max_ir_ops():
        raise LimitError(f"the IR text holds about {ops} ops, more than the limit of {max_ir_ops()}",
                         where=name, hint="set ANNCC_MAX_IR_OPS to allow more")
    if _TENSOR_TYPE is None:
        _TENSOR_TYPE = re.compile(r"(?:tensor|memref|vector)<((?:(?:\d+|\?)\s*x\s*)+)")
    limit = max_memory_bytes()
    splats = 0
    for m in re.finditer(r"dense<[^\[<>]*>\s*:\s*tensor<((?:\d+\s*x\s*)+)", text):
        n = 1
        for d in re.split(r"\s*x\s*", m.group(1).strip()):
            if d.strip().isdigit():
                n *= int(d)
        splats += n
    if splats * 4 > limit:
        raise LimitError(f"the IR's splat constants hold {splats:.3g} elements together "
                         f"({human_bytes(splats * 4)} once materialized), more than the limit of "
                         f"{human_bytes(limit)}", where=name, hint="set ANNCC_MAX_MEMORY_BYTES to allow more")
    for m in _TENSOR_TYPE.finditer(text):
        dims = [int(d) for d in re.split(r"\s*x\s*", m.group(1).strip()) if d.strip().isdigit()]
        n = 1
        for d in dims:
            n *= d
        if n * 4 > limit:
            line = text.count("\n", 0, m.start()) + 1
            raise LimitError(f"a tensor type at line {line} holds {n:.3g} elements "
                             f"({human_bytes(n * 4)} as f32), more than the limit of {human_bytes(limit)}",
                             where=name, hint="set ANNCC_MAX_MEMORY_BYTES to allow more")
