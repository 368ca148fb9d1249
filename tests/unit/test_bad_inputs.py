"""Hostile and careless input (issue 9): every bad input one line, a non-zero exit, nothing written.

A table of bad inputs, each crafted here (no binaries checked in), run through
`anncc`, `anncc eval` or `anncc-opt` in-process. Each must give:
- a non-zero exit status,
- exactly one line on stderr, holding the expected words and no traceback,
  and not the last-resort "unexpected failure" line (a check named the problem),
- no file changed anywhere under the case's folder: nothing written outside
  `-o`, and the previous build in `-o` left byte-for-byte intact.

A few cases run as subprocesses to prove the interpreter survives (no
segmentation fault), and two hypothesis tests fuzz manifests and target files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anncc.cli import main as anncc_main
from anncc.opt import main as opt_main

# --------------------------------------------------------------------------- fixtures


def _tiny_module():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _save_pt2(model, path: Path) -> Path:
    import torch

    torch.export.save(torch.export.export(model, (torch.rand(1, 6),)), str(path))
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model as .pt2 (and NaN/Inf variants, a pickle, a state dict) and a good build of it."""
    import torch

    d = tmp_path_factory.mktemp("assets")
    model = _tiny_module()
    out = {"pt2": _save_pt2(model, d / "tiny.pt2")}
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        bad = _tiny_module()
        with torch.no_grad():
            bad[0].weight[0, 0] = value
        out[name] = _save_pt2(bad, d / f"{name}.pt2")
    torch.save(model, d / "pickled.pt")
    out["pickled"] = d / "pickled.pt"
    torch.save(model.state_dict(), d / "state.pt")
    out["state"] = d / "state.pt"
    torch.save([1, 2, 3], d / "list.pt")
    out["list"] = d / "list.pt"
    build = d / "build"
    assert anncc_main([str(out["pt2"]), "-o", str(build), "-q"]) == 0
    out["build"] = build
    return out


@dataclass
class Env:
    """One case's folder: `proj/out` a copy of a good build (the `-o`), `outside/` beside it."""

    root: Path
    assets: dict[str, Path]

    @property
    def out(self) -> Path:
        return self.root / "proj" / "out"

    @property
    def pt2(self) -> str:
        return str(self.assets["pt2"])

    def file(self, name: str, data: bytes | str) -> str:
        p = self.root / "in" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(p)

    def npy(self, name: str, arr: np.ndarray) -> str:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=True)
        return self.file(name, buf.getvalue())

    def npz(self, name: str, compress: bool = False, **arrays: np.ndarray) -> str:
        buf = io.BytesIO()
        (np.savez_compressed if compress else np.savez)(buf, **arrays)
        return self.file(name, buf.getvalue())

    def compile(self, *args: str) -> list[str]:
        return [self.pt2, "-o", str(self.out), "-q", *args]

    def manifest(self, data: object | bytes) -> list[str]:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        (self.out / "manifest.json").write_bytes(raw)
        return ["eval", str(self.out), "--trials", "1"]

    def eval(self, *args: str) -> list[str]:
        return ["eval", str(self.out), "--trials", "1", *args]


GOOD_MANIFEST = {"levels": ["ann", "xbar", "cell"], "final": "cell", "weights": "weights.safetensors"}


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with its kind and content hash (what a case must not change)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------- crafted files


def _store_npz(members: dict[str, bytes], compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _npy_header_only(descr: str, shape: tuple, payload: bytes = b"") -> bytes:
    """A `.npy` whose header says `descr`/`shape` whatever the bytes that follow."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _object_store_matching_digest(env: Env) -> None:
    """The SIGSEGV of issue 9: an object-dtype member whose digest matches what the IR expects.

    The member's bytes are 8-byte values a hand-written reader would take as
    PyObject pointers; its dtype, shape and bytes are made so that
    `digest_of` (sha256 over dtype.str, shape, bytes) equals the digest of a
    real weight the IR names, by renaming that weight's IR digest to this one.
    """
    from anncc.ir.store import digest_of

    payload = struct.pack("<4Q", 0xDEADBEEF, 0x41414141, 0x10, 0x20)
    fake = np.frombuffer(payload, dtype=np.int64).astype(object)  # an object array: dtype '|O'
    h = hashlib.sha256(b"|O" + str((4,)).encode() + payload).hexdigest()[:16]
    manifest = json.loads((env.out / "manifest.json").read_text())
    text = (env.out / "ir" / "ann.mlir").read_text()
    import re

    key, digest = re.search(r'ann\.weight "([^"]+)" digest "([0-9a-f]+)"', text).groups()
    for lv in manifest["levels"]:
        p = env.out / "ir" / f"{lv}.mlir"
        p.write_text(p.read_text().replace(digest, h))
    del fake, digest_of
    (env.out / "weights.npz").write_bytes(_store_npz({key + ".npy": _npy_header_only("|O", (4,), payload)}))
    manifest["weights"] = "weights.npz"
    (env.out / "manifest.json").write_text(json.dumps(manifest))


def _safetensors(header: dict, data: bytes = b"", length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def _zip_bomb_pt2(env: Env) -> str:
    """A .pt2-looking zip whose one member inflates 200 MB of zeros from ~200 KB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("tiny/archive_format", b"pt2")
        with zf.open("tiny/data/weights/w", "w") as f:
            block = bytes(1 << 20)
            for _ in range(200):
                f.write(block)
    return env.file("bomb.pt2", buf.getvalue())


def _level_ops(n: int) -> str:
    ops = "\n".join(f"  %c{i} = ann.constant dense<1.0> : tensor<2xf32> : tensor<2xf32>" for i in range(n))
    return (
        "func.func @forward(%x: tensor<?x6xf32>) -> tensor<?x6xf32> {\n"
        + ops
        + "\n  func.return %x : tensor<?x6xf32>\n}\n"
    )


# --------------------------------------------------------------------------- the table


@dataclass
class Case:
    id: str
    make: Callable[[Env], list[str]]
    expect: str
    tool: str = "anncc"
    env: dict[str, str] | None = None


def _c(id: str, expect: str, make: Callable[[Env], list[str]], **kw) -> Case:
    return Case(id, make, expect, **kw)


def _opt(id: str, expect: str, make: Callable[[Env], list[str]], **kw) -> Case:
    return Case(id, make, expect, tool="anncc-opt", **kw)


def _tf(e: Env, name: str, text: str | bytes) -> list[str]:
    return e.compile("--target-file", e.file(name, text))


def _symlink_weights_out(e: Env) -> list[str]:
    (e.root / "outside").mkdir(exist_ok=True)
    shutil.copy(e.out / "weights.safetensors", e.root / "outside" / "w.safetensors")
    (e.out / "w.safetensors").symlink_to(e.root / "outside" / "w.safetensors")
    return e.manifest(dict(GOOD_MANIFEST, weights="w.safetensors"))


def _symlink_manifest_out(e: Env) -> list[str]:
    (e.root / "outside").mkdir(exist_ok=True)
    shutil.copy(e.out / "manifest.json", e.root / "outside" / "m.json")
    (e.out / "manifest.json").unlink()
    (e.out / "manifest.json").symlink_to(e.root / "outside" / "m.json")
    return e.eval()


def _replace(e: Env, rel: str, data: bytes) -> list[str]:
    p = e.out / rel
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()
    p.write_bytes(data)
    return e.eval()


def _as_dir(e: Env, rel: str) -> list[str]:
    (e.out / rel).unlink()
    (e.out / rel).mkdir()
    return e.eval()


def _weights(e: Env, data: bytes, name: str = "weights.npz") -> list[str]:
    (e.out / name).write_bytes(data)
    return e.manifest(dict(GOOD_MANIFEST, weights=name))


def _ir_file_ir(e: Env) -> list[str]:
    shutil.rmtree(e.out / "ir")
    (e.out / "ir").write_text("not a folder")
    return e.compile()


def _opt_store(e: Env, data: bytes, name: str = "w.npz") -> list[str]:
    return [e.file("in.mlir", _level_ops(1)), "--weights", e.file(name, data), "-p", "dce"]


OBJ = np.array([{"a": 1}, None], dtype=object)
STR = np.array(["a", "b"])
REC = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f4")])
X = np.random.default_rng(0).random((5, 6)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1])
BIG_NPY = _npy_header_only("<f4", (1_000_000, 1_000_000), b"\0" * 64)

CASES: list[Case] = [
    # ---- compile options
    _c("w-bits-1", "--w-bits must be in [2, 8]", lambda e: e.compile("--w-bits", "1")),
    _c("w-bits-9", "--w-bits must be in [2, 8]", lambda e: e.compile("--w-bits", "9")),
    _c("w-bits-text", "invalid int value", lambda e: e.compile("--w-bits", "four")),
    _c("in-bits-1", "--in-bits must be in [2, 16]", lambda e: e.compile("--in-bits", "1")),
    _c("in-bits-64", "--in-bits must be in [2, 16]", lambda e: e.compile("--in-bits", "64")),
    _c("fault-rate-nan", "--fault-rate must be in [0, 0.5]", lambda e: e.compile("--fault-rate", "nan")),
    _c("fault-rate-inf", "--fault-rate must be in [0, 0.5]", lambda e: e.compile("--fault-rate", "inf")),
    _c("fault-rate-neg", "--fault-rate must be in [0, 0.5]", lambda e: e.compile("--fault-rate", "-0.1")),
    _c("spare-rows-neg", "must be >= 0", lambda e: e.compile("--spare-rows", "-1")),
    _c("spare-cols-huge", "at most 4096", lambda e: e.compile("--spare-cols", "100000000")),
    _c("seed-neg", "--seed must be in", lambda e: e.compile("--seed", "-1")),
    _c("seed-huge", "--seed must be in", lambda e: e.compile("--seed", str(2**70))),
    _c("target-unknown", "unknown target 'nope'", lambda e: e.compile("--target", "nope")),
    _c("target-empty", "--target must name a target", lambda e: e.compile("--target", "")),
    _c("redundancy-bad", "invalid choice", lambda e: e.compile("--redundancy", "raid")),
    _c("unknown-option", "unrecognized arguments", lambda e: e.compile("--frobnicate")),
    _c("pipeline-unknown-pass", "unknown pass", lambda e: e.compile("--pipeline", "quantize,nosuchpass")),
    # ---- -o
    _c("o-is-file", "is an existing file", lambda e: [e.pt2, "-q", "-o", e.file("f.txt", "x")]),
    _c("o-ir-is-file", "'ir' in it is a file", _ir_file_ir),
    _c(
        "o-under-file",
        "is a file, so the directory cannot be made",
        lambda e: [e.pt2, "-q", "-o", e.file("g.txt", "x") + "/sub/build"],
    ),
    _c("o-empty", "-o: expected a directory path", lambda e: [e.pt2, "-q", "-o", ""]),
    _c("o-read-only", "cannot write the build directory", lambda e: [e.pt2, "-q", "-o", "/proc/anncc-build"]),
    # ---- --input-shape
    _c("shape-25gb", "more than the limit", lambda e: e.compile("--input-shape", "1x3x50000x50000")),
    _c("shape-zero", "positive dimensions", lambda e: e.compile("--input-shape", "0x6")),
    _c("shape-text", "not of the form", lambda e: e.compile("--input-shape", "axb")),
    _c("shape-rank", "positive dimensions", lambda e: e.compile("--input-shape", "1x1x1x1x1x1x1x1x1")),
    _c("shape-mismatch", "does not match the exported input", lambda e: e.compile("--input-shape", "1x7")),
    _c("shape-negative", "positive dimensions", lambda e: e.compile("--input-shape", "1x-6")),
    # ---- model files
    _c("model-missing", "does not exist", lambda e: [str(e.root / "nope.pt2"), "-q", "-o", str(e.out)]),
    _c("model-directory", "is a directory", lambda e: [str(e.root), "-q", "-o", str(e.out)]),
    _c("model-empty", "empty", lambda e: [e.file("empty.pt2", b""), "-q", "-o", str(e.out)]),
    _c(
        "model-random",
        "not a model file",
        lambda e: [
            e.file("r.bin", os.urandom(256).replace(b"\x80", b"\x81").replace(b"PK", b"QK")),
            "-q",
            "-o",
            str(e.out),
        ],
    ),
    _c(
        "model-truncated",
        "corrupt",
        lambda e: [e.file("t.pt2", Path(e.pt2).read_bytes()[:2000]), "-q", "-o", str(e.out)],
    ),
    _c(
        "model-zip-no-archive",
        "corrupt or truncated",
        lambda e: [e.file("z.pt2", _store_npz({"a.txt": b"hi"})), "-q", "-o", str(e.out)],
    ),
    _c(
        "model-zip-bomb",
        "more than the limit",
        lambda e: [_zip_bomb_pt2(e), "-q", "-o", str(e.out)],
        env={"ANNCC_MAX_MEMORY_BYTES": str(100 << 20)},
    ),
    _c(
        "model-pickle",
        "unpickling runs code",
        lambda e: [str(e.assets["pickled"]), "-q", "-o", str(e.out), "--input-shape", "1x6"],
    ),
    _c(
        "model-state-no-factory",
        "state dict",
        lambda e: [str(e.assets["state"]), "-q", "-o", str(e.out), "--input-shape", "1x6"],
    ),
    _c(
        "model-factory-form",
        "not of the form",
        lambda e: [
            str(e.assets["state"]),
            "-q",
            "-o",
            str(e.out),
            "--input-shape",
            "1x6",
            "--factory",
            "nocolon",
        ],
    ),
    _c(
        "model-factory-missing",
        "cannot find model factory",
        lambda e: [
            str(e.assets["state"]),
            "-q",
            "-o",
            str(e.out),
            "--input-shape",
            "1x6",
            "--factory",
            "no_such_pkg_xyz:make",
        ],
    ),
    _c(
        "model-list",
        "not a model or a state dict",
        lambda e: [str(e.assets["list"]), "-q", "-o", str(e.out), "--input-shape", "1x6"],
    ),
    _c("model-nan-weights", "holds 1 NaN", lambda e: [str(e.assets["nan"]), "-q", "-o", str(e.out)]),
    _c("model-inf-weights", "holds 1 Inf", lambda e: [str(e.assets["inf"]), "-q", "-o", str(e.out)]),
    _c("model-text", "corrupt or truncated", lambda e: [e.file("m.pt2", "hello\n"), "-q", "-o", str(e.out)]),
    # ---- target files
    _c("tf-list", "must hold a mapping", lambda e: _tf(e, "t.yaml", "- 1\n- 2\n")),
    _c("tf-scalar", "must hold a mapping", lambda e: _tf(e, "t.yaml", "42\n")),
    _c("tf-nested", "must be a valid integer", lambda e: _tf(e, "t.yaml", "adc_bits:\n  a: 1\n")),
    _c("tf-nested-list", "must be a valid integer", lambda e: _tf(e, "t.yaml", "adc_bits: [1, 2]\n")),
    _c("tf-binary", "binary", lambda e: _tf(e, "t.yaml", b"\x00\x01\x02" * 20)),
    _c("tf-not-utf8", "not UTF-8", lambda e: _tf(e, "t.yaml", b"adc_bits: \xff\xfe\n")),
    _c("tf-name-other", "the file is for target 'rram'", lambda e: _tf(e, "t.yaml", "name: rram\n")),
    _c("tf-name-list", "field 'name'", lambda e: _tf(e, "t.yaml", "name: [a, b]\n")),
    _c("tf-unknown-field", "unknown field 'adc_bitz'", lambda e: _tf(e, "t.yaml", "adc_bitz: 6\n")),
    _c("tf-negative", "field 'r_p_ohm'", lambda e: _tf(e, "t.yaml", "r_p_ohm: -5\n")),
    _c("tf-string", "field 'r_p_ohm'", lambda e: _tf(e, "t.yaml", "r_p_ohm: lots\n")),
    _c("tf-nan", "field 'r_p_ohm'", lambda e: _tf(e, "t.yaml", "r_p_ohm: .nan\n")),
    _c("tf-inf", "field 'r_p_ohm'", lambda e: _tf(e, "t.yaml", "r_p_ohm: .inf\n")),
    _c("tf-yaml-syntax", "cannot parse target file", lambda e: _tf(e, "t.yaml", "a: [1, 2\n")),
    _c(
        "tf-python-tag",
        "cannot parse target file",
        lambda e: _tf(e, "t.yaml", "a: !!python/object/apply:os.system ['true']\n"),
    ),
    _c("tf-toml-syntax", "cannot parse target file", lambda e: _tf(e, "t.toml", "a = = 1\n")),
    _c("tf-toml-table", "must be a valid integer", lambda e: _tf(e, "t.toml", "[adc_bits]\nx = 1\n")),
    _c("tf-json-syntax", "cannot parse target file", lambda e: _tf(e, "t.json", '{"a": }')),
    _c("tf-extension", "unsupported target file type", lambda e: _tf(e, "t.txt", "adc_bits: 6\n")),
    _c("tf-directory", "is a directory", lambda e: e.compile("--target-file", str(e.root))),
    _c("tf-missing", "not found", lambda e: e.compile("--target-file", str(e.root / "nope.yaml"))),
    _c("tf-int-key", "unknown field '1'", lambda e: _tf(e, "t.yaml", "1: 2\n")),
    _c("tf-complex-key", "cannot parse target file", lambda e: _tf(e, "t.yaml", "? [a, b]\n: 1\n")),
    _c("tf-target-list", "must hold a mapping", lambda e: _tf(e, "t.yaml", "target: [1]\n")),
    _c(
        "tf-too-large",
        "more than the limit",
        lambda e: _tf(e, "t.yaml", "# " + "x" * 5000 + "\n"),
        env={"ANNCC_MAX_SMALL_FILE_BYTES": "1000"},
    ),
    _c(
        "tf-laughs",
        "must be a valid integer",
        lambda e: _tf(
            e,
            "t.yaml",
            "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nadc_bits: [*c, *c, *c, *c, *c, *c, *c]\n",
        ),
    ),
    _c("tf-bytes-value", "field 'r_p_ohm'", lambda e: _tf(e, "t.yaml", "r_p_ohm: !!binary aGVsbG8=\n")),
    _c("tf-date-value", "field 'r_p_ohm'", lambda e: _tf(e, "t.yaml", "r_p_ohm: 2024-01-01\n")),
    # ---- calibration
    _c("calib-missing", "does not exist", lambda e: e.compile("--calib", str(e.root / "nope.npy"))),
    _c("calib-objects", "Python objects", lambda e: e.compile("--calib", e.npy("c.npy", OBJ))),
    _c("calib-strings", "strings", lambda e: e.compile("--calib", e.npy("c.npy", STR))),
    _c("calib-records", "records", lambda e: e.compile("--calib", e.npy("c.npy", REC))),
    _c(
        "calib-complex", "expected numbers", lambda e: e.compile("--calib", e.npy("c.npy", X.astype(complex)))
    ),
    _c("calib-shape", "expected shape [N, 6]", lambda e: e.compile("--calib", e.npy("c.npy", X[:, :5]))),
    _c("calib-1d", "expected shape [N, 6]", lambda e: e.compile("--calib", e.npy("c.npy", X[0]))),
    _c(
        "calib-0d",
        "expected a batch of inputs",
        lambda e: e.compile("--calib", e.npy("c.npy", np.float32(1))),
    ),
    _c("calib-empty", "expected a batch of inputs", lambda e: e.compile("--calib", e.npy("c.npy", X[:0]))),
    _c(
        "calib-nan",
        "found 1 NaN",
        lambda e: e.compile("--calib", e.npy("c.npy", np.where(np.arange(30).reshape(5, 6) == 7, np.nan, X))),
    ),
    _c(
        "calib-inf",
        "found 1 Inf",
        lambda e: e.compile("--calib", e.npy("c.npy", np.where(np.arange(30).reshape(5, 6) == 7, np.inf, X))),
    ),
    _c("calib-npz-unnamed", "the archive holds", lambda e: e.compile("--calib", e.npz("c.npz", p=X, q=X))),
    _c("calib-garbage", "not a .npy array", lambda e: e.compile("--calib", e.file("c.npy", b"garbage" * 9))),
    _c("calib-truncated", "truncated", lambda e: e.compile("--calib", e.file("c.npy", _npy_bytes(X)[:-20]))),
    _c("calib-huge-header", "more than the limit", lambda e: e.compile("--calib", e.file("c.npy", BIG_NPY))),
    # ---- evaluation data at compile time
    _c("eval-missing", "does not exist", lambda e: e.compile("--eval-data", str(e.root / "nope.npz"))),
    _c("eval-not-npz", "expected an .npz archive", lambda e: e.compile("--eval-data", e.npy("d.npy", X))),
    _c("eval-no-y", "no array 'y'", lambda e: e.compile("--eval-data", e.npz("d.npz", x=X))),
    _c("eval-no-x", "no array 'x'", lambda e: e.compile("--eval-data", e.npz("d.npz", y=Y))),
    _c("eval-x-strings", "strings", lambda e: e.compile("--eval-data", e.npz("d.npz", x=STR, y=Y))),
    _c("eval-x-objects", "Python objects", lambda e: e.compile("--eval-data", e.npz("d.npz", x=OBJ, y=Y))),
    _c(
        "eval-features",
        "expected shape [N, 6]",
        lambda e: e.compile("--eval-data", e.npz("d.npz", x=X[:, :4], y=Y)),
    ),
    _c("eval-x-nan", "NaN", lambda e: e.compile("--eval-data", e.npz("d.npz", x=X * np.nan, y=Y))),
    _c("eval-y-nan", "NaN", lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=Y * np.nan))),
    _c("eval-one-hot", "one-hot", lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=np.eye(3)[Y]))),
    _c("eval-length", "one per input", lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=Y[:3]))),
    _c("eval-fraction", "whole-number", lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=Y + 0.5))),
    _c(
        "eval-negative",
        "class indices must be in [0, 2]",
        lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=Y - 1)),
    ),
    _c(
        "eval-too-big",
        "class indices must be in [0, 2]",
        lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=Y + 3)),
    ),
    _c(
        "eval-y-strings",
        "strings",
        lambda e: e.compile("--eval-data", e.npz("d.npz", x=X, y=np.array(list("abcde")))),
    ),
    _c(
        "eval-bomb",
        "more than the limit",
        lambda e: e.compile(
            "--eval-data", e.npz("d.npz", compress=True, x=np.zeros((2000, 6000), np.float32), y=Y)
        ),
        env={"ANNCC_MAX_MEMORY_BYTES": str(10 << 20)},
    ),
    # ---- fault maps
    _c("faults-missing", "does not exist", lambda e: e.compile("--fault-map", str(e.root / "nope.npz"))),
    _c(
        "faults-not-npz", "expected an .npz archive", lambda e: e.compile("--fault-map", e.file("f.npz", "x"))
    ),
    _c("faults-objects", "Python objects", lambda e: e.compile("--fault-map", e.npz("f.npz", a=OBJ))),
    _c(
        "faults-3d", "expected 2-D", lambda e: e.compile("--fault-map", e.npz("f.npz", a=np.zeros((2, 2, 2))))
    ),
    _c(
        "faults-codes",
        "expected codes 0, 1 or 2",
        lambda e: e.compile("--fault-map", e.npz("f.npz", a=np.full((4, 4), 7))),
    ),
    _c("faults-empty", "holds no arrays", lambda e: e.compile("--fault-map", e.npz("f.npz"))),
    # ---- anncc eval: the build directory
    _c("build-missing", "does not exist", lambda e: ["eval", str(e.root / "nope")]),
    _c("build-is-file", "is not a build directory", lambda e: ["eval", e.file("b.txt", "x")]),
    _c("manifest-missing", "no manifest.json", lambda e: (e.out / "manifest.json").unlink() or e.eval()),
    _c("manifest-empty", "not valid JSON", lambda e: e.manifest(b"")),
    _c("manifest-garbage", "not valid JSON", lambda e: e.manifest(b"{levels: ann")),
    _c("manifest-list", "expected a JSON object", lambda e: e.manifest([1, 2])),
    _c("manifest-null", "expected a JSON object", lambda e: e.manifest(None)),
    _c("manifest-not-utf8", "not UTF-8", lambda e: e.manifest(b'{"levels": "\xff"}')),
    _c("manifest-deep", "nests too deeply", lambda e: e.manifest(b"[" * 100000 + b"]" * 100000)),
    _c("manifest-no-weights", "field 'weights'", lambda e: e.manifest({"levels": ["ann"], "final": "ann"})),
    _c("manifest-levels-str", "field 'levels'", lambda e: e.manifest(dict(GOOD_MANIFEST, levels="cell"))),
    _c(
        "manifest-levels-empty",
        "at least one level",
        lambda e: e.manifest(dict(GOOD_MANIFEST, levels=[], final="cell")),
    ),
    _c(
        "manifest-levels-traversal",
        "unknown level",
        lambda e: e.manifest(dict(GOOD_MANIFEST, levels=["ann", "../../outside/cell"], final="ann")),
    ),
    _c(
        "manifest-levels-twice",
        "listed twice",
        lambda e: e.manifest(dict(GOOD_MANIFEST, levels=["ann", "ann"], final="ann")),
    ),
    _c(
        "manifest-final",
        "is not among the levels",
        lambda e: e.manifest(dict(GOOD_MANIFEST, final="xbar", levels=["ann"])),
    ),
    _c("manifest-final-int", "field 'final'", lambda e: e.manifest(dict(GOOD_MANIFEST, final=3))),
    _c(
        "manifest-weights-dotdot",
        "leaves the directory",
        lambda e: e.manifest(dict(GOOD_MANIFEST, weights="../../outside/w.safetensors")),
    ),
    _c(
        "manifest-weights-abs",
        "absolute path",
        lambda e: e.manifest(dict(GOOD_MANIFEST, weights="/etc/passwd")),
    ),
    _c(
        "manifest-weights-empty",
        "expected a relative path",
        lambda e: e.manifest(dict(GOOD_MANIFEST, weights="")),
    ),
    _c(
        "manifest-weights-nul",
        "expected a relative path",
        lambda e: e.manifest(dict(GOOD_MANIFEST, weights="w\x00x")),
    ),
    _c("manifest-weights-symlink", "resolves outside the directory", _symlink_weights_out),
    _c("manifest-symlink", "resolves outside the directory", _symlink_manifest_out),
    _c("level-missing", "file does not exist", lambda e: (e.out / "ir" / "xbar.mlir").unlink() or e.eval()),
    _c("level-not-utf8", "not UTF-8", lambda e: _replace(e, "ir/cell.mlir", b"func.func @f() {\xff\xfe}\n")),
    _c("level-directory", "is a directory", lambda e: _as_dir(e, "ir/ann.mlir")),
    _c("level-malformed", "error", lambda e: _replace(e, "ir/ann.mlir", b"this is not IR\n")),
    _c("level-binary", "binary", lambda e: _replace(e, "ir/ann.mlir", b"\x00\x00\x00")),
    _c(
        "level-splat-huge",
        "more than the limit",
        lambda e: _replace(
            e,
            "ir/ann.mlir",
            b"%c = ann.constant dense<1.0> : tensor<100000x100000xf32> : tensor<100000x100000xf32>\n",
        ),
    ),
    # ---- anncc eval: the weight store
    _c("weights-missing", "does not exist", lambda e: (e.out / "weights.safetensors").unlink() or e.eval()),
    _c("weights-directory", "not a regular file", lambda e: _as_dir(e, "weights.safetensors")),
    _c("weights-garbage", "not a valid store", lambda e: _replace(e, "weights.safetensors", b"x" * 100)),
    _c("weights-short", "not a valid store", lambda e: _replace(e, "weights.safetensors", b"xy")),
    _c("weights-object-digest", "dtype '|O'", lambda e: _object_store_matching_digest(e) or e.eval()),
    _c(
        "weights-npz-objects",
        "not a valid store",
        lambda e: _weights(e, _store_npz({"w.npy": _npy_bytes(OBJ)})),
    ),
    _c(
        "weights-npz-strings",
        "not a valid store",
        lambda e: _weights(e, _store_npz({"w.npy": _npy_bytes(STR)})),
    ),
    _c(
        "weights-npz-records",
        "not a valid store",
        lambda e: _weights(e, _store_npz({"w.npy": _npy_bytes(REC)})),
    ),
    _c(
        "weights-npz-big-endian",
        "not a valid store",
        lambda e: _weights(e, _store_npz({"w.npy": _npy_bytes(np.arange(4, dtype=">i4"))})),
    ),
    _c(
        "weights-npz-shape",
        "declares shape",
        lambda e: _weights(e, _store_npz({"w.npy": _npy_header_only("<f4", (1000, 1000), b"\0" * 16)})),
    ),
    _c(
        "weights-npz-negative-shape",
        "expected non-negative",
        lambda e: _weights(e, _store_npz({"w.npy": _npy_header_only("<f4", (-4,), b"\0" * 16)})),
    ),
    _c(
        "weights-npz-bomb",
        "more than the limit",
        lambda e: _weights(
            e, _store_npz({"w.npy": _npy_bytes(np.zeros((3000, 3000), np.float32))}, compress=True)
        ),
        env={"ANNCC_MAX_MEMORY_BYTES": str(10 << 20)},
    ),
    _c(
        "weights-npz-not-npy",
        "is not a .npy array",
        lambda e: _weights(e, _store_npz({"evil.pkl": b"\x80\x04."})),
    ),
    _c(
        "weights-npz-bad-header",
        "not a valid store",
        lambda e: _weights(e, _store_npz({"w.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': os.sy}"})),
    ),
    _c(
        "weights-st-header-len",
        "not a valid store",
        lambda e: _weights(e, _safetensors({}, length=2**60), "w.safetensors"),
    ),
    _c(
        "weights-st-not-json",
        "not a valid store",
        lambda e: _weights(e, struct.pack("<Q", 4) + b"abcd", "w.safetensors"),
    ),
    _c(
        "weights-st-object",
        "not a valid store",
        lambda e: _weights(
            e,
            _safetensors({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
            "w.safetensors",
        ),
    ),
    _c(
        "weights-st-offsets",
        "not a valid store",
        lambda e: _weights(
            e,
            _safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 40]}}, b"\0" * 16),
            "w.safetensors",
        ),
    ),
    _c(
        "weights-st-shape",
        "not a valid store",
        lambda e: _weights(
            e,
            _safetensors({"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 16]}}, b"\0" * 16),
            "w.safetensors",
        ),
    ),
    _c("weights-st-list", "not a valid store", lambda e: _weights(e, _safetensors([1, 2]), "w.safetensors")),
    _c(
        "weights-digest",
        "but the IR expects",
        lambda e: _weights(e, _retuned_store(e), "w.safetensors") + ["--data", e.npz("d.npz", x=X, y=Y)],
    ),
    # ---- anncc eval: options and data
    _c("trials-0", "--trials must be in", lambda e: ["eval", str(e.out), "--trials", "0"]),
    _c("trials-neg", "--trials must be in", lambda e: ["eval", str(e.out), "--trials", "-5"]),
    _c("workers-0", "--workers must be in", lambda e: e.eval("--workers", "0")),
    _c("eval-seed-neg", "--seed must be in", lambda e: e.eval("--seed", "-3")),
    _c("drift-inf", "--drift times must be finite", lambda e: e.eval("--drift", "1,inf")),
    _c("drift-nan", "--drift times must be finite", lambda e: e.eval("--drift", "nan")),
    _c("drift-neg", "--drift times must be finite", lambda e: e.eval("--drift", "-1")),
    _c("drift-text", "--drift takes seconds", lambda e: e.eval("--drift", "soon")),
    _c("drift-commas", "--drift takes 1 to 32 times", lambda e: e.eval("--drift", ",,,")),
    _c("level-choice", "invalid choice", lambda e: e.eval("--level", "atoms")),
    _c("data-missing", "does not exist", lambda e: e.eval("--data", str(e.root / "nope.npz"))),
    _c("data-shape", "expected shape [N, 6]", lambda e: e.eval("--data", e.npz("d.npz", x=X[:, :2], y=Y))),
    _c("data-one-hot", "one-hot", lambda e: e.eval("--data", e.npz("d.npz", x=X, y=np.eye(3)[Y]))),
    _c("data-objects", "Python objects", lambda e: e.eval("--data", e.npz("d.npz", x=X, y=OBJ))),
    # ---- anncc-opt
    _opt("opt-not-utf8", "not UTF-8", lambda e: [e.file("in.mlir", b"func.func @f() {\xff}\n")]),
    _opt("opt-binary", "binary", lambda e: [e.file("in.mlir", b"\x00\x01\x02")]),
    _opt("opt-directory", "does not exist", lambda e: [str(e.root)]),
    _opt("opt-missing", "does not exist", lambda e: [str(e.root / "nope.mlir")]),
    _opt(
        "opt-splat-huge",
        "more than the limit",
        lambda e: [
            e.file(
                "in.mlir",
                "%c = ann.constant dense<1.0> : tensor<100000x100000xf32> : tensor<100000x100000xf32>\n",
            )
        ],
    ),
    _opt(
        "opt-too-many-ops",
        "more than the limit of 100",
        lambda e: [e.file("in.mlir", _level_ops(500))],
        env={"ANNCC_MAX_IR_OPS": "100"},
    ),
    _opt(
        "opt-too-large",
        "more than the limit",
        lambda e: [e.file("in.mlir", _level_ops(50))],
        env={"ANNCC_MAX_IR_BYTES": "1000"},
    ),
    _opt(
        "opt-weights-objects",
        "not a valid store",
        lambda e: _opt_store(e, _store_npz({"w.npy": _npy_bytes(OBJ)})),
    ),
    _opt("opt-weights-garbage", "not a valid store", lambda e: _opt_store(e, b"\x01" * 64, "w.safetensors")),
    _opt(
        "opt-weights-missing",
        "does not exist",
        lambda e: [e.file("in.mlir", _level_ops(1)), "--weights", str(e.root / "nope.safetensors")],
    ),
    _opt(
        "opt-weights-out-dir",
        "cannot write",
        lambda e: [e.file("in.mlir", _level_ops(1)), "--weights-out", str(e.out)],
    ),
    _opt(
        "opt-weights-out-under-file",
        "cannot write",
        lambda e: [e.file("in.mlir", _level_ops(1)), "--weights-out", e.file("f", "x") + "/w.st"],
    ),
    _opt(
        "opt-unknown-pass", "unknown pass", lambda e: [e.file("in.mlir", _level_ops(1)), "-p", "nosuchpass"]
    ),
    _opt("opt-bad-extension", "use -f mlir", lambda e: [e.file("in.xyz", _level_ops(1))]),
    _opt(
        "opt-splats-together",
        "splat constants hold",
        lambda e: [e.file("in.mlir", _splats(100))],
        env={"ANNCC_MAX_MEMORY_BYTES": str(100 << 20)},
    ),
    _opt(
        "opt-weights-directory",
        "not a regular file",
        lambda e: [e.file("in.mlir", _level_ops(1)), "--weights", str(e.root)],
    ),
    # ---- more of each kind
    _c("level-too-many-ops", "more than the limit of 10", lambda e: e.eval(), env={"ANNCC_MAX_IR_OPS": "10"}),
    _c(
        "manifest-too-large",
        "more than the limit",
        lambda e: e.eval(),
        env={"ANNCC_MAX_SMALL_FILE_BYTES": "50"},
    ),
    _c(
        "manifest-weights-is-manifest",
        "not a valid store",
        lambda e: e.manifest(dict(GOOD_MANIFEST, weights="manifest.json")),
    ),
    _c(
        "manifest-weights-inner-dotdot",
        "leaves the directory",
        lambda e: e.manifest(dict(GOOD_MANIFEST, weights="ir/../../x")),
    ),
    _c("calib-directory", "is a directory", lambda e: e.compile("--calib", str(e.root))),
    _c("tf-deep", "nests too deeply", lambda e: _tf(e, "t.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")),
    _c("data-directory", "is a directory", lambda e: e.eval("--data", str(e.root))),
    _c("faults-nan", "NaN", lambda e: e.compile("--fault-map", e.npz("f.npz", a=np.full((4, 4), np.nan)))),
    _c("faults-strings", "strings", lambda e: e.compile("--fault-map", e.npz("f.npz", a=STR))),
]


def _splats(n: int) -> str:
    ops = "\n".join(
        f"  %c{i} = ann.constant dense<1.0> : tensor<1000x1000xf32> : tensor<1000x1000xf32>" for i in range(n)
    )
    return (
        "func.func @forward(%x: tensor<?x6xf32>) -> tensor<?x6xf32> {\n"
        + ops
        + "\n  func.return %x : tensor<?x6xf32>\n}\n"
    )


def _retuned_store(e: Env) -> bytes:
    from safetensors.numpy import save

    from anncc.ir.store import WeightStore

    store = WeightStore.load(e.out / "weights.safetensors", mmap=False)
    changed = {
        k: np.logical_not(a) if a.dtype == bool else (a + 1).astype(a.dtype)
        for k, a in ((k, store.get(k)) for k in store)
    }
    return save({k: np.ascontiguousarray(a) for k, a in changed.items()})


def _run(case: Case, env: Env, capsys, monkeypatch) -> tuple[int, str]:
    for k, v in (case.env or {}).items():
        monkeypatch.setenv(k, v)
    argv = case.make(env)
    before = snapshot(env.root)
    monkeypatch.chdir(env.root)
    capsys.readouterr()
    rc = (anncc_main if case.tool == "anncc" else opt_main)(argv)
    err = capsys.readouterr().err
    assert snapshot(env.root) == before, "a file was written, changed or removed"
    return rc, err


@pytest.fixture
def env(tmp_path: Path, assets: dict[str, Path]) -> Env:
    e = Env(tmp_path, assets)
    shutil.copytree(assets["build"], e.out)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("mine")
    return e


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clean_line(case: Case, env: Env, capsys, monkeypatch) -> None:
    rc, err = _run(case, env, capsys, monkeypatch)
    assert rc != 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "unexpected failure" not in err, err
    assert "error:" in lines[0] and case.expect in lines[0], err


def test_the_table_is_large_enough() -> None:
    """Issue 9 asks for at least 100 bad inputs; the ids are unique."""
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


# --------------------------------------------------------------------------- subprocesses


def _sub(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_object_store_whose_digest_matches_does_not_crash_the_interpreter(env: Env) -> None:
    """The SIGSEGV of issue 9 (exit 139 before): now exit 1, one line, in a real process."""
    _object_store_matching_digest(env)
    r = _sub("-m", "anncc.cli", "eval", str(env.out), "--trials", "1", cwd=env.root)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "|O" in r.stderr, r.stderr
    r = _sub(
        "-m",
        "anncc.opt",
        str(env.out / "ir" / "ann.mlir"),
        "--weights",
        str(env.out / "weights.npz"),
        "-p",
        "dce",
        cwd=env.root,
    )
    assert r.returncode == 1 and "not a valid store" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_debug_shows_the_traceback_of_an_unexpected_failure(env: Env, monkeypatch) -> None:
    """Without --debug an unforeseen failure is one line (exit 2); with it, the traceback."""
    hook = env.file(
        "boom.py",
        "import anncc.cli\n"
        "def boom(args):\n    raise RuntimeError('boom')\n"
        "anncc.cli.cmd_targets = boom\n"
        "import sys\nsys.exit(anncc.cli.main(sys.argv[1:]))\n",
    )
    r = _sub(hook, "targets", cwd=env.root)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unexpected failure" in r.stderr
    r = _sub(hook, "targets", "--debug", cwd=env.root)
    assert r.returncode != 0 and "Traceback" in r.stderr and "RuntimeError: boom" in r.stderr


# --------------------------------------------------------------------------- fuzzing

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_PATHS = st.sampled_from(
    [
        "weights.safetensors",
        "../w",
        "/etc/passwd",
        "",
        "ir/../../x",
        "a\x00b",
        "ir",
        ".",
        "weights.npz",
        "manifest.json",
    ]
) | st.text(max_size=12)
_LEVELS = st.lists(
    st.sampled_from(["ann", "xbar", "cell", "../cell", "", "ir/../ann"]) | st.text(max_size=6), max_size=4
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    manifest=st.one_of(
        _JSON,
        st.fixed_dictionaries(
            {
                "levels": _LEVELS | _JSON,
                "final": st.sampled_from(["ann", "cell"]) | _JSON,
                "weights": _PATHS | _JSON,
            }
        ),
    )
)
def test_fuzzed_manifests_load_or_fail_with_one_anncc_error(manifest, assets, tmp_path_factory) -> None:
    """Any manifest: `runtime.load` returns a model or raises one AnnccError line; nothing changes."""
    import anncc.runtime
    from anncc.errors import AnnccError

    root = tmp_path_factory.mktemp("fuzz")
    out = root / "b"
    shutil.copytree(assets["build"], out)
    (out / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(root)
    try:
        model = anncc.runtime.load(out)
    except AnnccError as e:
        assert "\n" not in str(e)
    else:
        assert set(model.levels) <= {"ann", "xbar", "cell"}
    assert snapshot(root) == before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        _JSON.map(lambda v: json.dumps(v)),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
        st.dictionaries(
            st.sampled_from(["name", "adc_bits", "r_p_ohm", "array_rows", "target", "bits_per_cell", "zz"]),
            _JSON,
            max_size=4,
        ).map(lambda d: json.dumps(d)),
    ),
    suffix=st.sampled_from([".yaml", ".json", ".toml"]),
)
def test_fuzzed_target_files_load_or_fail_with_one_target_error(content, suffix, tmp_path_factory) -> None:
    """Any target-file content: a Target or one TargetError line, never another exception."""
    from anncc.errors import AnnccError
    from anncc.targets import load_target

    path = tmp_path_factory.mktemp("tf") / ("t" + suffix)
    path.write_text(content, encoding="utf-8", errors="surrogateescape")
    try:
        load_target("sot-mtj", path)
    except AnnccError as e:
        assert "\n" not in str(e), str(e)
