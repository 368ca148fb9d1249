"""The weight store: arrays kept beside the IR, referenced by key and content digest.

Weights never live inline in the IR (DESIGN.md section 3); a store file must
therefore round-trip exactly, open without reading its arrays (mmap), refuse a
file that does not belong to the IR (digest), and say clearly what is wrong.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from anncc.errors import StoreError
from anncc.ir.store import DIGEST_CHARS, WeightStore, digest_of, is_memory_mapped

FORMATS = pytest.mark.parametrize("ext", [".safetensors", ".npz"])


def _sample_store() -> WeightStore:
    rng = np.random.default_rng(0)
    store = WeightStore()
    store.add("fc1.weight", rng.standard_normal((64, 32)).astype(np.float32))
    store.add("fc1.qweight", rng.integers(-7, 8, size=(32, 64), dtype=np.int8))
    store.add("fc1.t0.levels", rng.integers(0, 2, size=(128, 129), dtype=np.uint8))
    store.add("fc1.bias_q", np.array([10, -4], dtype=np.int32))
    store.add("scale", np.float64(0.125) * np.ones(3))
    return store


def test_add_returns_the_content_digest_and_get_returns_the_array() -> None:
    store = WeightStore()
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = store.add("w", w)
    assert d == digest_of(w) and len(d) == DIGEST_CHARS
    assert store.digest("w") == d
    np.testing.assert_array_equal(store.get("w", d), w)
    assert "w" in store and len(store) == 1 and store.keys() == ["w"]


def test_digest_covers_dtype_and_shape_not_only_bytes() -> None:
    a = np.zeros(4, dtype=np.int32)
    assert digest_of(a) != digest_of(a.reshape(2, 2))
    assert digest_of(a) != digest_of(a.view(np.float32))
    assert digest_of(a) == digest_of(a.copy())


def test_replacing_a_key_updates_its_digest() -> None:
    store = WeightStore()
    d1 = store.add("w", np.ones(3))
    d2 = store.add("w", np.zeros(3))
    assert d1 != d2 and store.digest("w") == d2


def test_digest_mismatch_names_both_digests_and_the_key() -> None:
    store = WeightStore()
    store.add("fc1.weight", np.ones((2, 2), dtype=np.float32))
    with pytest.raises(StoreError) as err:
        store.get("fc1.weight", digest="0" * DIGEST_CHARS)
    msg = str(err.value)
    assert "fc1.weight" in msg and "0" * DIGEST_CHARS in msg and store.digest("fc1.weight") in msg
    assert "does not belong to this IR" in msg


def test_missing_key_suggests_the_nearest_keys() -> None:
    store = _sample_store()
    with pytest.raises(StoreError) as err:
        store.get("fc1.wieght")
    assert "no key 'fc1.wieght'" in str(err.value)
    assert "did you mean fc1.weight" in str(err.value)
    with pytest.raises(StoreError) as err:
        store.get("zzz")
    assert "did you mean" not in str(err.value)


def test_unique_key_and_subset() -> None:
    store = _sample_store()
    assert store.unique_key("new") == "new"
    assert store.unique_key("scale") == "scale.1"
    store.add("scale.1", np.ones(1))
    assert store.unique_key("scale") == "scale.2"
    sub = store.subset(["fc1.bias_q"])
    assert sub.keys() == ["fc1.bias_q"] and sub.digest("fc1.bias_q") == store.digest("fc1.bias_q")


@FORMATS
def test_save_load_round_trip_is_exact_and_memory_mapped(tmp_path: Path, ext: str) -> None:
    store = _sample_store()
    path = store.save(tmp_path / ("weights" + ext))
    loaded = WeightStore.load(path)
    assert sorted(loaded.keys()) == sorted(store.keys())
    for key in store:
        a, b = store.get(key), loaded.get(key, store.digest(key))
        assert is_memory_mapped(b), f"{key} was read, not mapped"
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)
        assert loaded.digest(key) == store.digest(key)


@FORMATS
def test_mapped_arrays_are_read_only(tmp_path: Path, ext: str) -> None:
    path = _sample_store().save(tmp_path / ("weights" + ext))
    w = WeightStore.load(path).get("fc1.weight")
    with pytest.raises((ValueError, TypeError)):
        w[0, 0] = 1.0


@FORMATS
def test_load_without_mmap_reads_plain_arrays(tmp_path: Path, ext: str) -> None:
    store = _sample_store()
    loaded = WeightStore.load(store.save(tmp_path / ("w" + ext)), mmap=False)
    for key in store:
        assert not is_memory_mapped(loaded.get(key))
        np.testing.assert_array_equal(loaded.get(key), store.get(key))


@FORMATS
def test_empty_and_zero_size_arrays_round_trip(tmp_path: Path, ext: str) -> None:
    store = WeightStore()
    store.add("none", np.zeros((0, 4), dtype=np.int8))
    store.add("scalar", np.array(3.5))
    loaded = WeightStore.load(store.save(tmp_path / ("w" + ext)))
    assert loaded.get("none").shape == (0, 4) and loaded.get("none").dtype == np.int8
    assert float(loaded.get("scalar")) == 3.5
    assert len(WeightStore.load(WeightStore().save(tmp_path / ("empty" + ext)))) == 0


@FORMATS
def test_saves_are_byte_identical_whatever_the_insertion_order(tmp_path: Path, ext: str) -> None:
    store = _sample_store()
    reordered = WeightStore()
    for key in reversed(store.keys()):
        reordered.add(key, store.get(key))
    a = store.save(tmp_path / ("a" + ext)).read_bytes()
    b = store.save(tmp_path / ("b" + ext)).read_bytes()
    c = reordered.save(tmp_path / ("c" + ext)).read_bytes()
    assert a == b == c


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    _sample_store().save(tmp_path / "out" / "weights.npz")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["weights.npz"]


def test_saving_over_the_mapped_file_keeps_the_mapped_arrays_valid(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    store = _sample_store()
    store.save(path)
    loaded = WeightStore.load(path)
    loaded.add("extra", np.ones(2))
    loaded.save(path)  # replaces the file the arrays are mapped from
    again = WeightStore.load(path)
    np.testing.assert_array_equal(again.get("fc1.weight"), store.get("fc1.weight"))
    np.testing.assert_array_equal(again.get("extra"), np.ones(2))


def test_missing_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        WeightStore.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bad_member", "pickled_object"])
def test_corrupt_file_is_a_store_error(tmp_path: Path, damage: str) -> None:
    path = _sample_store().save(tmp_path / "weights.npz")
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a zip archive" * 10)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "bad_member":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("fc1.weight.npy", b"\x93NUMPY-not-really")
    else:  # object arrays need pickle, which a store never loads
        np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(StoreError, match="not a valid store"):
        WeightStore.load(path, mmap=damage != "pickled_object")


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(
    dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64, np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
))
def test_any_array_round_trips_with_its_digest(tmp_path_factory: pytest.TempPathFactory,
                                                arr: np.ndarray) -> None:
    path = tmp_path_factory.mktemp("prop") / "w.npz"
    store = WeightStore()
    digest = store.add("a", arr)
    loaded = WeightStore.load(store.save(path))
    got = loaded.get("a", digest)
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


# --------------------------------------------------------------------------- untrusted store files (issue 9)


def test_a_build_store_is_safetensors_and_npz_is_written_only_when_named(tmp_path: Path) -> None:
    assert _sample_store().save(tmp_path / "w.safetensors").read_bytes()[8:9] == b"{"
    assert _sample_store().save(tmp_path / "w.npz").read_bytes()[:2] == b"PK"


def test_the_two_formats_hold_the_same_arrays_and_digests(tmp_path: Path) -> None:
    store = _sample_store()
    a = WeightStore.load(store.save(tmp_path / "w.safetensors"))
    b = WeightStore.load(store.save(tmp_path / "w.npz"))
    assert {k: a.digest(k) for k in a} == {k: b.digest(k) for k in b} == {k: store.digest(k) for k in store}


@pytest.mark.parametrize("arr", [np.array([{"a": 1}], dtype=object), np.array(["a", "b"]),
                                 np.zeros(2, dtype=[("a", "<i4")]), np.zeros(2, dtype=complex)],
                         ids=["object", "string", "record", "complex"])
def test_add_refuses_what_a_store_cannot_hold(arr: np.ndarray) -> None:
    with pytest.raises(StoreError, match="holds only booleans, integers and floats"):
        WeightStore().add("x", arr)


def test_save_refuses_object_arrays_put_in_behind_add(tmp_path: Path) -> None:
    """`--weights-out` of a store a buggy pass filled with objects: refused, nothing written."""
    store = WeightStore()
    store._arrays["bad"] = np.array([None, 1], dtype=object)
    with pytest.raises(StoreError, match="cannot hold"):
        store.save(tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_big_endian_arrays_are_stored_little_endian_with_their_values() -> None:
    store = WeightStore()
    store.add("b", np.arange(5, dtype=">i4"))
    assert store.get("b").dtype == np.dtype("<i4") and store.get("b").tolist() == [0, 1, 2, 3, 4]


def test_an_object_member_is_refused_from_its_header_before_any_array_exists(tmp_path: Path) -> None:
    """The SIGSEGV of issue 9: raw bytes of an `|O` member must never become object pointers."""
    header = repr({"descr": "|O", "fortran_order": False, "shape": (2,)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\xef\xbe\xad\xde" * 4
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", npy)
    for mmap in (True, False):
        with pytest.raises(StoreError, match=r"dtype '\|O'"):
            WeightStore.load(path, mmap=mmap)


def test_a_safetensors_header_pointing_past_the_file_is_refused(tmp_path: Path) -> None:
    import json

    head = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path = tmp_path / "w.safetensors"
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"\0" * 8)  # 8 of the 16 bytes
    with pytest.raises(StoreError, match="not a valid store"):
        WeightStore.load(path)


def test_a_deflated_member_is_refused_on_its_declared_size_before_inflating(tmp_path: Path,
                                                                            monkeypatch) -> None:
    monkeypatch.setenv("ANNCC_MAX_MEMORY_BYTES", str(1 << 20))
    path = tmp_path / "w.npz"
    np.savez_compressed(path, w=np.zeros((1024, 1024), np.float32))  # 4 MB from a few KB
    with pytest.raises(StoreError, match="more than the limit"):
        WeightStore.load(path)


def test_store_files_get_the_umask_mode_not_0600(tmp_path: Path) -> None:
    import os

    old = os.umask(0o027)
    try:
        path = _sample_store().save(tmp_path / "w.safetensors")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_ir_imports_the_bottom_modules_without_the_driver() -> None:
    """Layering: anncc.errors/files/limits use only the stdlib; importing ir/store loads no driver code."""
    import subprocess
    import sys

    code = ("import sys, anncc.ir.store; "
            "bad = [m for m in sys.modules if m in ('anncc.cli', 'anncc.pipeline', 'anncc.opt', "
            "'anncc.inputs', 'anncc.build', 'torch')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    from anncc import AnnccError
    from anncc.errors import AnnccError as Same

    assert AnnccError is Same
