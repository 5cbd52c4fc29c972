"""The IDX file format (LeCun's MNIST format), read gzip-compressed or raw, and written back.

Layout: 2 zero bytes, a dtype code byte, a dimension-count byte, then one big-endian uint32 per
dimension, then the data in C order, big-endian. MNIST images are code 0x08 (uint8) with 3 dims
(N, 28, 28); labels are uint8 with 1 dim (N,).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from digitlab.errors import DataError

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
_CODE_FOR_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's decompressed content: gzip is detected by its magic bytes, not by the name."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{path}: gzip data is truncated or corrupt ({exc}); delete the file and fetch it again"
        ) from None


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
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{source}: truncated IDX header ({len(content)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(content) - header
    if actual < expected:
        raise DataError(
            f"{source}: truncated: header promises shape {dims} ({expected} data bytes) "
            f"but only {actual} are there; delete the file and fetch it again"
        )
    if actual > expected:
        raise DataError(f"{source}: {actual - expected} unexpected bytes after the data of shape {dims}")
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
    if key not in _CODE_FOR_KIND or array.ndim == 0 or array.ndim > 255:
        raise DataError(f"cannot write dtype {array.dtype} with {array.ndim} dims as IDX")
    code = _CODE_FOR_KIND[key]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as IDX; gzip when `compress` is True or, by default, when the name ends in .gz.

    Written to a temporary file and renamed, so a reader never sees half a file.
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode(array)
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
