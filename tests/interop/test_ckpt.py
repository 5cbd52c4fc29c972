"""The .ckpt writer and reader (interop/ckpt.py): bytes as MindSpore's save_checkpoint writes them."""

import binascii
import struct

import numpy as np
import pytest

from digitlab.errors import CheckpointError
from digitlab.interop.ckpt import DTYPES, decode_ckpt, encode_ckpt, encode_value, read_ckpt, write_ckpt
from tests.helpers import SHARED_MNIST
from tests.interop.test_mindspore import hand_made_ckpt

SHARED_MS = SHARED_MNIST.parent / "mindspore"
REAL = ["quickstart_mlp.ckpt", "lenet5.ckpt"]


def test_writer_gives_the_hand_made_bytes():
    assert encode_value("fc.bias", np.array([1.0, -2.0, 0.5], np.float32)) == hand_made_ckpt()


def test_multi_byte_varints_and_long_fields():
    array = np.zeros((3, 784), np.float32)  # 784 = 0x310: varint 0x90 0x06; content 9408 bytes: 0xc0 0x49
    data = encode_value("dense_relu_sequential.0.weight", array)
    tensor = b"\x08\x03\x08\x90\x06\x12\x07Float32\x1a\xc0\x49" + array.tobytes()
    value = b"\x0a\x1edense_relu_sequential.0.weight\x12" + bytes([0xd1, 0x49]) + tensor
    assert data == b"\x0a" + bytes([0xf4, 0x49]) + value
    assert len(value) == 0x24f4 and len(tensor) == 0x24d1  # the length prefixes above, decoded


@pytest.mark.parametrize("type_name", sorted(DTYPES))
def test_every_type_round_trips(type_name, tmp_path):
    rng = np.random.default_rng(0)
    dtype = np.dtype(DTYPES[type_name])
    array = (rng.standard_normal((2, 3, 4)) * 50).astype(dtype)
    back = read_ckpt(write_ckpt(tmp_path / "x.ckpt", {"t": array}))["t"]
    assert back.dtype == dtype and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert f"\x12{chr(len(type_name))}{type_name}".encode() in encode_value("t", array)


def test_scalar_has_no_dims_and_order_is_kept():
    params = {"b": np.array(7, np.int32), "a": np.ones(2, np.float32)}
    data = encode_ckpt(params)
    # Value {tag "b", tensor {type "Int32", content 7}}: no dims field before the type
    assert data.startswith(b"\x0a\x12\x0a\x01b\x12\x0d\x12\x05Int32\x1a\x04\x07\x00\x00\x00")
    back = decode_ckpt(data)
    assert list(back) == ["b", "a"] and back["b"].shape == () and int(back["b"]) == 7


def test_big_endian_arrays_are_written_little_endian():
    array = np.arange(4, dtype=">f4")
    assert encode_value("x", array) == encode_value("x", array.astype("<f4"))


def test_unsupported_dtype_is_refused():
    with pytest.raises(ValueError, match="complex64 has no MindSpore checkpoint type"):
        encode_value("c", np.zeros(2, np.complex64))


def test_reader_joins_slices_and_reads_old_scalars():
    """save_checkpoint writes a tensor over 512 MiB as several Values with one tag, each a slice along axis 0
    with the whole tensor's dims; older versions wrote a scalar with dims [0]."""
    whole = np.arange(12, dtype=np.float32).reshape(4, 3)

    def value(tag, dims, content, type_name=b"Float32"):
        tensor = b"".join(b"\x08" + bytes([d]) for d in dims) + b"\x12\x07" + type_name
        tensor += b"\x1a" + bytes([len(content)]) + content
        inner = b"\x0a" + bytes([len(tag)]) + tag + b"\x12" + bytes([len(tensor)]) + tensor
        return b"\x0a" + bytes([len(inner)]) + inner

    data = value(b"w", [4, 3], whole[:2].tobytes()) + value(b"w", [4, 3], whole[2:].tobytes())
    data += value(b"lr", [0], struct.pack("<f", 0.01))
    back = decode_ckpt(data)
    np.testing.assert_array_equal(back["w"], whole)
    assert back["lr"].shape == () and back["lr"] == np.float32(0.01)


def test_crc_trailer_is_checked_and_stripped(tmp_path):
    """save_checkpoint(..., crc_check=True) appends b"crc_num" + the CRC-32 of the file as 10 big-endian bytes."""
    body = encode_ckpt({"fc.bias": np.array([1.0, 2.0], np.float32)})
    good = tmp_path / "good.ckpt"
    good.write_bytes(body + b"crc_num" + binascii.crc32(body).to_bytes(10, "big"))
    np.testing.assert_array_equal(read_ckpt(good)["fc.bias"], [1.0, 2.0])
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(body + b"crc_num" + (binascii.crc32(body) ^ 1).to_bytes(10, "big"))
    with pytest.raises(CheckpointError, match="CRC-32 does not match"):
        read_ckpt(bad)


def test_write_is_atomic_and_leaves_no_temporary(tmp_path):
    path = write_ckpt(tmp_path / "m.ckpt", {"x": np.ones(3, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["m.ckpt"] and path == tmp_path / "m.ckpt"


@pytest.mark.skipif(not (SHARED_MS / "checkpoints.json").exists(), reason="../shared/data/mindspore not present")
@pytest.mark.parametrize("name", REAL)
def test_real_checkpoints_re_encode_to_the_same_bytes(name):
    """What MindSpore 2.10's save_checkpoint wrote, read and written again, is the same file byte for byte."""
    data = (SHARED_MS / name).read_bytes()
    assert encode_ckpt(decode_ckpt(data)) == data
