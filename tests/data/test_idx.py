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


def _header(ndim: int, dims: list[int], code: int = 0x08) -> bytes:
    import struct

    return struct.pack(">HBB", 0, code, ndim) + struct.pack(f">{ndim}I", *dims)


@pytest.mark.parametrize("case", ["seven-dims", "overflow", "zero-dim-with-data", "mnist-with-ndim-7"])
def test_absurd_header_is_one_line_error_naming_the_file(tmp_path, case):
    """Not "8450471466863125616 unexpected bytes": a damaged header is named as such, with the file."""
    path = tmp_path / "train-images-idx3-ubyte"
    if case == "seven-dims":
        data = _header(7, [60000, 28, 28, 1, 1, 1, 1]) + bytes(100)
    elif case == "overflow":  # the product of these dims wraps around in int64
        data = _header(4, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF]) + bytes(100)
    elif case == "zero-dim-with-data":
        data = _header(3, [0, 28, 28]) + bytes(784)
    else:  # a real image file whose dimension byte was damaged
        good = idx.encode(np.full((3, 28, 28), 0x71, np.uint8))
        data = good[:3] + b"\x07" + good[4:]
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        idx.read(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: damaged IDX header") and "\n" not in msg and len(msg) < 300


def test_plausible_dims_still_parse_and_truncation_still_says_so(tmp_path):
    arr = np.zeros((2, 1, 28, 28), np.uint8)  # four dims is the most a file may have
    np.testing.assert_array_equal(idx.parse(idx.encode(arr)), arr)
    with pytest.raises(DataError, match=r"truncated: header promises shape \(2, 1, 28, 28\) \(1,568 data bytes\)"):
        idx.parse(idx.encode(arr)[:-1])
    with pytest.raises(DataError, match="cannot write"):
        idx.encode(np.zeros((1,) * 5, np.uint8))  # nothing is written that could not be read back
