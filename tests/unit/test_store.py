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


def test_save_load_round_trip_is_exact_and_memory_mapped(tmp_path: Path) -> None:
    store = _sample_store()
    path = store.save(tmp_path / "weights.npz")
    loaded = WeightStore.load(path)
    assert sorted(loaded.keys()) == sorted(store.keys())
    for key in store:
        a, b = store.get(key), loaded.get(key, store.digest(key))
        assert is_memory_mapped(b), f"{key} was read, not mapped"
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)
        assert loaded.digest(key) == store.digest(key)


def test_mapped_arrays_are_read_only(tmp_path: Path) -> None:
    path = _sample_store().save(tmp_path / "weights.npz")
    w = WeightStore.load(path).get("fc1.weight")
    with pytest.raises((ValueError, TypeError)):
        w[0, 0] = 1.0


def test_load_without_mmap_reads_plain_arrays(tmp_path: Path) -> None:
    store = _sample_store()
    loaded = WeightStore.load(store.save(tmp_path / "w.npz"), mmap=False)
    for key in store:
        assert not is_memory_mapped(loaded.get(key))
        np.testing.assert_array_equal(loaded.get(key), store.get(key))


def test_empty_and_zero_size_arrays_round_trip(tmp_path: Path) -> None:
    store = WeightStore()
    store.add("none", np.zeros((0, 4), dtype=np.int8))
    store.add("scalar", np.array(3.5))
    loaded = WeightStore.load(store.save(tmp_path / "w.npz"))
    assert loaded.get("none").shape == (0, 4) and loaded.get("none").dtype == np.int8
    assert float(loaded.get("scalar")) == 3.5
    assert len(WeightStore.load(WeightStore().save(tmp_path / "empty.npz"))) == 0


def test_saves_are_byte_identical_whatever_the_insertion_order(tmp_path: Path) -> None:
    store = _sample_store()
    reordered = WeightStore()
    for key in reversed(store.keys()):
        reordered.add(key, store.get(key))
    a = store.save(tmp_path / "a.npz").read_bytes()
    b = store.save(tmp_path / "b.npz").read_bytes()
    c = reordered.save(tmp_path / "c.npz").read_bytes()
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
