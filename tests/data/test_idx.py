import gzip

import numpy as np
import pytest

from digitlab.data import idx
from digitlab.errors import DataError


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    arr = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    path = idx.write(tmp_path / f"x-idx3-ubyte{suffix}", arr)
    assert (path.read_bytes()[:2] == idx.GZIP_MAGIC) == (suffix == ".gz")
    back = idx.read(path)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"  # no .gz suffix, but gzip inside
    path.write_bytes(gzip.compress(idx.encode(arr)))
    np.testing.assert_array_equal(idx.read(path), arr)


def test_mnist_magic_numbers():
    assert idx.encode(np.zeros((1, 28, 28), np.uint8))[:4] == b"\x00\x00\x08\x03"
    assert idx.encode(np.zeros(5, np.uint8))[:4] == b"\x00\x00\x08\x01"


def test_truncated_data_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx.encode(np.zeros((4, 28, 28), np.uint8))[:-10])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated"):
        idx.read(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(idx.encode(np.zeros((4, 28, 28), np.uint8)))[:-20])
    with pytest.raises(DataError, match="truncated or corrupt"):
        idx.read(path)


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(DataError, match="wrong magic number"):
        idx.read(path)


def test_trailing_bytes_rejected(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx.encode(np.zeros(3, np.uint8)) + b"\x01")
    with pytest.raises(DataError, match="unexpected bytes"):
        idx.read(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        idx.read(tmp_path / "nope")
