"""The IDX file format (LeCun's MNIST format), read gzip-compressed or raw, and written back.

Layout: 2 zero bytes, a dtype code byte, a dimension-count byte, then one big-endian uint32 per
dimension, then the data in C order, big-endian. MNIST images are code 0x08 (uint8) with 3 dims
(N, 28, 28); labels are uint8 with 1 dim (N,).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from digitlab.errors import DataError
from digitlab.io import atomic_write, read_limited

GZIP_MAGIC = b"\x1f\x8b"

# dtype code -> numpy dtype (big-endian, as the format stores it)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# Sanity bounds on a header, so a damaged one is named as such (not "8450471466863125616 unexpected bytes"):
# MNIST-family files have 1 (labels) or 3 (images) dims; 4 leaves room for (N, C, H, W).
MAX_DIMS = 4
MAX_BYTES = 1 << 40  # 1 TiB: no dataset file this library reads comes near it
MAX_IDX_BYTES = 8 << 30  # read at most this much of one (compressed or raw) IDX file
_CODE_FOR_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's decompressed content: gzip is detected by its magic bytes, not by the name."""
    path = Path(path)
    raw = read_limited(path, MAX_IDX_BYTES, DataError)
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gunzip(raw)
    except ValueError as exc:
        raise DataError(
            f"{path}: gzip data is truncated or corrupt ({exc}); delete the file and fetch it again"
        ) from None


def gunzip(raw: bytes) -> bytes:
    """Decompress gzip bytes; ValueError (with zlib's reason) when they are truncated or corrupt."""
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


def parse(content: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse decompressed IDX bytes into a native-endian numpy array (a view when possible)."""
    if len(content) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(content)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", content[:4])
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{source}: wrong magic number 0x{content[:4].hex()} (not an IDX file; "
            "expected 0x00000801 for labels or 0x00000803 for images)"
        )
    if ndim > MAX_DIMS:
        raise DataError(
            f"{source}: damaged IDX header: it claims {ndim} dimensions (labels have 1, images 3, at most "
            f"{MAX_DIMS}); the file is damaged or not IDX: fetch it again"
        )
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{source}: truncated IDX header ({len(content)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: four uint32 dims cannot overflow
    actual = len(content) - header
    if expected > MAX_BYTES or (actual > expected and not expected):
        raise DataError(
            f"{source}: damaged IDX header: shape {'x'.join(map(str, dims))} does not fit the {actual:,} data bytes "
            "that follow; the file is damaged or not IDX: fetch it again"
        )
    if actual < expected:
        raise DataError(
            f"{source}: truncated: header promises shape {dims} ({expected:,} data bytes) "
            f"but only {actual:,} are there; delete the file and fetch it again"
        )
    if actual > expected:
        raise DataError(f"{source}: {actual - expected:,} unexpected bytes after the data of shape {dims}")
    array = np.frombuffer(content, dtype=dtype, offset=header).reshape(dims)
    # a writable, native-endian copy: frombuffer views are read-only, which torch.as_tensor warns about
    return array.astype(dtype.newbyteorder("="))


def read(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a numpy array."""
    return parse(read_bytes(path), str(path))


def encode(array: np.ndarray) -> bytes:
    """IDX bytes (uncompressed) for an array of a supported dtype."""
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_FOR_KIND or array.ndim == 0 or array.ndim > MAX_DIMS:
        raise DataError(f"cannot write dtype {array.dtype} with {array.ndim} dims as IDX")
    code = _CODE_FOR_KIND[key]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as IDX; gzip when `compress` is True or, by default, when the name ends in .gz.

    Written by the one atomic writer (temporary name, fsync, rename), so a reader never sees half a file.
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode(array)
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return atomic_write(path, data)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
