"""MindSpore's .ckpt wire format, read and written by hand (no MindSpore, no protobuf package).

A .ckpt written by mindspore.save_checkpoint is a run of protobuf messages (checkpoint.proto):

    message Checkpoint  { repeated Value value = 1; }
    message Value       { string tag = 1; TensorProto tensor = 2; ... }
    message TensorProto { repeated int64 dims = 1; string tensor_type = 2; bytes tensor_content = 3; }

MindSpore 2.10 writes, per parameter, in the network's parameter order: field 1 (Value) holding field 1 (the name),
then field 2 (TensorProto) holding one unpacked varint per dimension (none for a scalar), the type name
("Float32", ...) and the raw little-endian array. A tensor over 512 MiB is written as several Values with the same
tag, each a slice along the first axis; `save_checkpoint(..., crc_check=True)` appends b"crc_num" and the
CRC-32 of everything before it as 10 big-endian bytes. `encode_ckpt` writes what save_checkpoint writes for a
network's parameters (the real checkpoints in ../shared/data/mindspore re-encode to the same bytes);
`decode_ckpt` reads all of the above, and `dims == [0]` as a scalar, as load_checkpoint does.
"""

from __future__ import annotations

import binascii
import math
import os
from pathlib import Path

import numpy as np

from digitlab.errors import CheckpointError
from digitlab.io import atomic_write, read_limited

MAX_CKPT_BYTES = 8 << 30  # read at most this much of a file given as a MindSpore checkpoint

DTYPES = {
    "Float32": np.float32, "Float16": np.float16, "Float64": np.float64, "Int8": np.int8, "Int16": np.int16,
    "Int32": np.int32, "Int64": np.int64, "UInt8": np.uint8, "Bool": np.bool_,
}
TYPE_NAMES = {np.dtype(v): k for k, v in DTYPES.items()}
CRC_MARK = b"crc_num"
CRC_BYTES = 10


# ------------------------------------------------------------------------------------------------ reading
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _tensor_parts(buf: bytes, tag: str) -> tuple[list[int], str, bytes]:
    dims: list[int] = []
    dtype, content = "Float32", b""
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dims.append(value)
        elif number == 1 and wire == 2:  # packed repeated int64
            p = 0
            while p < len(value):
                d, p = _varint(value, p)
                dims.append(d)
        elif number == 2:
            dtype = value.decode()
        elif number == 3:
            content = value
    if dtype not in DTYPES:
        raise ValueError(f"tensor {tag}: unsupported type {dtype}")
    return dims, dtype, content


def _array(tag: str, dims: list[int], dtype: str, content: bytes) -> np.ndarray:
    array = np.frombuffer(content, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<"))
    if dims == [0] and array.size == 1:  # an older MindSpore's scalar (load_checkpoint reads it so too)
        dims = []
    expected = math.prod(dims)  # exact (np.prod wraps around): a crafted shape cannot overflow into a match
    if array.size != expected:
        raise ValueError(f"tensor {tag}: {array.size} values for shape {dims}")
    return array.reshape(dims).astype(DTYPES[dtype])


def _strip_crc(data: bytes) -> bytes:
    """The file without save_checkpoint's CRC trailer, which is checked; unchanged when there is none."""
    end = len(data) - CRC_BYTES - len(CRC_MARK)
    if end < 0 or data[end : end + len(CRC_MARK)] != CRC_MARK:
        return data
    if binascii.crc32(data[:end]) != int.from_bytes(data[-CRC_BYTES:], "big"):
        raise ValueError("its CRC-32 does not match its contents")
    return data[:end]


def decode_ckpt(data: bytes) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint's bytes, by name, in file order; ValueError when they are not one."""
    data = _strip_crc(data)
    parts: dict[str, tuple[list[int], str, list[bytes]]] = {}
    for number, wire, value in _fields(data):
        if number != 1 or wire != 2:
            continue
        tag, tensor = "", None
        for n2, _, v2 in _fields(value):
            if n2 == 1:
                tag = v2.decode()
            elif n2 == 2:
                tensor = v2
        if not tag or tensor is None:
            continue
        dims, dtype, content = _tensor_parts(tensor, tag)
        if tag in parts:  # another slice of a large tensor: its bytes follow the previous slice's
            parts[tag][2].append(content)
        else:
            parts[tag] = (dims, dtype, [content])
    return {tag: _array(tag, dims, dtype, b"".join(chunks)) for tag, (dims, dtype, chunks) in parts.items()}


def read_ckpt(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every parameter of a MindSpore checkpoint, by name; a one-line CheckpointError when it is not one."""
    path = Path(path)
    data = read_limited(path, MAX_CKPT_BYTES, CheckpointError)  # devices, pipes, folders: one line, no hang
    try:
        out = decode_ckpt(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a MindSpore checkpoint, or damaged ({exc})") from None
    if not out:
        raise CheckpointError(f"{path}: no parameters found; is this a MindSpore .ckpt file?")
    return out


# ------------------------------------------------------------------------------------------------ writing
def _varint_bytes(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"negative varint {n}")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def encode_value(tag: str, array: np.ndarray) -> bytes:
    """One parameter as save_checkpoint writes it: Checkpoint { value { tag, tensor { dims..., type, content } } }."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in TYPE_NAMES:
        raise ValueError(f"tensor {tag}: dtype {array.dtype} has no MindSpore checkpoint type")
    content = np.ascontiguousarray(array, dtype=native.newbyteorder("<")).tobytes()
    tensor = b"".join(_varint_bytes(1 << 3) + _varint_bytes(int(d)) for d in array.shape)
    tensor += _length_delimited(2, TYPE_NAMES[native].encode()) + _length_delimited(3, content)
    return _length_delimited(1, _length_delimited(1, tag.encode()) + _length_delimited(2, tensor))


def encode_ckpt(params: dict[str, np.ndarray]) -> bytes:
    """The bytes of a checkpoint holding `params` in their order (no slicing: every tensor here is far below
    MindSpore's 512 MiB slice size)."""
    return b"".join(encode_value(tag, array) for tag, array in params.items())


def write_ckpt(path: str | os.PathLike, params: dict[str, np.ndarray]) -> Path:
    """Write parameters in MindSpore's checkpoint format, atomically (digitlab.io)."""
    return atomic_write(path, encode_ckpt(params))
