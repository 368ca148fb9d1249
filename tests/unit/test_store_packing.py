"""Bit-packed integer arrays in a build's weight store (ir/store.py `pack_codes`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anncc.errors import StoreError
from anncc.ir.store import PACKED_METADATA, WeightStore, pack_codes, unpack_codes


def _store() -> WeightStore:
    rng = np.random.default_rng(0)
    s = WeightStore()
    s.add("levels", rng.integers(0, 2, (64, 65), dtype=np.uint8))      # 1 bit
    s.add("levels2", rng.integers(0, 4, (33, 7), dtype=np.uint8))      # 2 bits, odd size
    s.add("codes", rng.integers(-7, 8, (100, 3), dtype=np.int8))       # 4 bits, offset -7
    s.add("wide", rng.integers(-300, 300, (80,), dtype=np.int32))      # not packable to <= 4 bits
    s.add("float", rng.standard_normal((10, 10)).astype(np.float32))   # floats stay as they are
    s.add("small", np.array([1, 0, 1], dtype=np.uint8))               # too small to bother
    return s


@pytest.mark.parametrize("bits,low,dtype", [(1, 0, np.uint8), (2, 1, np.uint8), (4, -7, np.int8),
                                            (4, 1000, np.int32)])
def test_pack_unpack_is_exact(bits: int, low: int, dtype) -> None:
    rng = np.random.default_rng(bits)
    arr = (rng.integers(0, 1 << bits, (3, 37)) + low).astype(dtype)
    arr.flat[0], arr.flat[1] = low, low + (1 << bits) - 1  # the whole span is used
    packed, (name, shape, got_bits, got_low) = pack_codes(arr)
    assert got_bits == bits and got_low == low and packed.nbytes == -(-arr.size * bits // 8)
    back = unpack_codes(packed, arr.dtype, tuple(shape), got_bits, got_low)
    assert back.dtype == arr.dtype and not back.flags.writeable
    np.testing.assert_array_equal(back, arr)


def test_packed_build_store_is_smaller_and_reads_back_with_the_same_digests(tmp_path: Path) -> None:
    store = _store()
    plain = store.save(tmp_path / "plain.safetensors")
    packed = store.save(tmp_path / "packed.safetensors", pack=True)
    assert packed.stat().st_size < plain.stat().st_size - 3000  # 4160 level bytes became 520
    for path in (plain, packed):
        loaded = WeightStore.load(path)
        for key in store:
            np.testing.assert_array_equal(loaded.get(key, store.digest(key)), store.get(key))
            assert loaded.get(key).dtype == store.get(key).dtype
    assert store.save(tmp_path / "again.safetensors", pack=True).read_bytes() == packed.read_bytes()


def _rewrite_packing(path: Path, packing: object) -> Path:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    tensors[PACKED_METADATA] = np.frombuffer(json.dumps(packing).encode(), dtype=np.uint8)
    out = path.with_name("bad.safetensors")
    save_file(tensors, str(out))
    return out


@pytest.mark.parametrize("packing,message", [
    ({"codes": ["I8", [100, 3], 3, -7]}, "malformed packing"),          # bits not 1, 2 or 4
    ({"codes": ["F32", [100, 3], 4, -7]}, "malformed packing"),         # not an integer dtype
    ({"codes": ["I8", [100, 4], 4, -7]}, "needs"),                      # shape does not match the bytes
    ({"codes": ["I8", [100, 3], 4, 125]}, "do not fit"),                # values beyond int8
    ({"float": ["I8", [100], 4, 0]}, "not a 1-D U8 tensor"),            # not a packed tensor
    ({"nokey": ["U8", [8], 1, 0]}, "not a 1-D U8 tensor"),              # no such tensor
    (["codes"], "not a JSON object"),
])
def test_malformed_packing_metadata_is_one_store_error(tmp_path: Path, packing, message: str) -> None:
    path = _store().save(tmp_path / "w.safetensors", pack=True)
    with pytest.raises(StoreError, match=message):
        WeightStore.load(_rewrite_packing(path, packing))


def test_the_packing_key_is_reserved() -> None:
    with pytest.raises(StoreError, match="reserved"):
        WeightStore().add(PACKED_METADATA, np.zeros(3))
