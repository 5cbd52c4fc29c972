"""Digits stored as tables: Kaggle's Digit Recognizer CSV and Keras's mnist.npz.

    read_csv(path) -> Table    `label,pixel0..pixel783` (train.csv) or `pixel0..pixel783` (test.csv): header
                               optional, pixels 0-255; labels None when the file has no label column
    read_npz(path, classes) -> OwnData   x_train (N, 28, 28) uint8, y_train (N,), x_test, y_test

Every bad file, row or array is one DataError naming it: for a CSV, the line (1-based, as an editor shows it)
and what is wrong there (column count, a value that is not a whole number, a pixel outside 0-255, a label that
is not a class). A file that is no digits table at all (a folder, not text, empty, a first line of another
layout) ends its line with what the caller wanted instead (`wanted`: --dataset csv and `predict --submission`
want different things). A CSV is parsed in one pass by numpy; only when that fails is it walked line by line to name
the first bad line.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.data.dataset import OwnData
from digitlab.errors import DataError
from digitlab.io import read_limited

PIXELS = 28 * 28
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_TABLE_BYTES = 4 << 30  # Kaggle's train.csv is 76 MB, Keras's mnist.npz 11 MB


@dataclass(frozen=True)
class Table:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray | None  # (N,) int64, None for a file without a label column
    digest: str  # sha256 of the file


# what --dataset csv / npz want, said after a file that is not one
CSV_WANTED = (f"expected Kaggle's layout: 'label,pixel0,...,pixel783' (train.csv, {PIXELS + 1} columns) or "
              f"'pixel0,...,pixel783' (test.csv, {PIXELS}), header optional")
NPZ_WANTED = "expected Keras's mnist.npz (x_train, y_train, x_test, y_test)"


def _read(path: Path, wanted: str) -> bytes:
    """The file's bytes through the one bounded reader (a named pipe, a device or a folder refused at once, nothing
    over MAX_TABLE_BYTES read); a missing file or a folder says what was wanted instead."""
    def error(message: str) -> DataError:
        return DataError(f"{message}; {wanted}" if message.endswith(("file not found", "not a file")) else message)

    return read_limited(path, MAX_TABLE_BYTES, error)


def _layout(first: list[str], path: Path, wanted: str) -> tuple[bool, bool]:
    """(has a header, has a label column) from the first line."""
    cells = [c.strip().strip('"').lower() for c in first]
    if all(c.lstrip("-").isdigit() for c in cells):  # no header: the column count decides
        if len(cells) in (PIXELS, PIXELS + 1):
            return False, len(cells) == PIXELS + 1
        raise DataError(f"{path} line 1: {len(cells)} columns; {wanted}")
    if cells and cells[0] == "label" and len(cells) == PIXELS + 1:
        return True, True
    if len(cells) == PIXELS and cells[0].startswith("pixel"):
        return True, False
    if len(cells) in (PIXELS, PIXELS + 1) and all(_is_number(c) for c in cells):  # numbers, not a header
        shown = next(c for c in cells if not c.lstrip("-").isdigit())
        raise DataError(f"{path} line 1: pixel values must be whole numbers 0-255, not {shown[:20]!r} (values scaled "
                        "to 0-1: multiply by 255 and round before saving)")
    if len(cells) == 1 and (sep := next((c for c in (";", "\t", "|") if c in first[0]), None)):
        raise DataError(f"{path} line 1: values separated by {sep!r}, not commas; save it as a comma-separated CSV")
    raise DataError(f"{path} line 1: a header of {len(cells)} columns starting {first[0][:20]!r}; {wanted}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_bad_line(lines: list[bytes], start: int, width: int, labelled: bool, n_classes: int, path: Path) -> str:
    """Walk the lines to name the first problem (only after the fast parse failed)."""
    for number, raw in enumerate(lines[start:], start + 1):
        if not raw.strip():
            continue
        cells = raw.split(b",")
        where = f"{path} line {number}"
        if len(cells) != width:
            return f"{where}: {len(cells)} columns, expected {width}"
        for column, cell in enumerate(cells):
            text = cell.strip().strip(b'"')
            try:
                value = int(text)
            except ValueError:
                shown = text[:20].decode("utf-8", "replace")
                return f"{where} column {column + 1}: {shown!r} is not a whole number"
            if labelled and column == 0:
                if not 0 <= value < n_classes:
                    return f"{where}: label {value} is not a class (0..{n_classes - 1})"
            elif not 0 <= value <= 255:
                return f"{where} column {column + 1}: pixel value {value} is outside 0-255"
    return f"{path}: could not be parsed as numbers"


def read_csv(path: Path, n_classes: int = 10, wanted: str = CSV_WANTED) -> Table:
    """`wanted` ends the line for a file that is no digits table at all (what the caller expected instead)."""
    data = _read(path, wanted)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark (Excel writes one)
    lines = data.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file; {wanted}")
    try:
        first = lines[0].decode("utf-8").split(",")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file; {wanted}") from None
    header, labelled = _layout(first, path, wanted)
    start = 1 if header else 0
    if len(lines) == start:
        raise DataError(f"{path}: a header but no rows; it needs one row of {PIXELS} pixel values per image")
    width = PIXELS + labelled
    body = b"\n".join(lines[start:])
    body = body.replace(b'"', b"") if b'"' in body else body  # every cell quoted (some exporters): numbers all the same
    try:
        table = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.int64, ndmin=2)
        ok = table.shape[1] == width and len(table) == sum(1 for raw in lines[start:] if raw.strip())
        ok = ok and table[:, labelled:].min() >= 0 and table[:, labelled:].max() <= 255
        ok = ok and (not labelled or (table[:, 0].min() >= 0 and table[:, 0].max() < n_classes))
    except ValueError:
        ok = False
    if not ok:
        raise DataError(_first_bad_line(lines, start, width, labelled, n_classes, path))
    images = table[:, labelled:].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 0].astype(np.int64) if labelled else None
    return Table(images, labels, hashlib.sha256(data).hexdigest())


def _array(z, key: str, path: Path) -> np.ndarray:
    try:
        return z[key]
    except ValueError:
        raise DataError(f"{path}: {key} holds Python objects (pickled); save plain arrays with np.savez") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: {key} is damaged ({type(exc).__name__})") from None


def read_npz(path: Path, classes: tuple[str, ...]) -> OwnData:
    data = _read(path, NPZ_WANTED)
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise DataError(f"{path}: not a .npz file (expected Keras's mnist.npz: x_train, y_train, x_test, "
                        "y_test)") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single .npy array, not a .npz; expected x_train, y_train, x_test, y_test")
    with z:
        missing = [k for k in NPZ_KEYS if k not in z.files]
        if missing:
            raise DataError(f"{path}: no {', '.join(missing)} (it has {', '.join(z.files) or 'nothing'}); expected "
                            "Keras's x_train, y_train, x_test, y_test")
        arrays = {k: _array(z, k, path) for k in NPZ_KEYS}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{path}: x_{split} is {x.dtype} {x.shape}; expected uint8 of shape (N, 28, 28)")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y_{split} is {y.dtype} {y.shape}; expected whole-number labels of shape (N,)")
        if len(x) != len(y):
            raise DataError(f"{path}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise DataError(f"{path}: y_{split} holds label {bad}, not a class (0..{len(classes) - 1})")
    if not len(arrays["y_train"]):
        raise DataError(f"{path}: x_train is empty")
    return OwnData(arrays["x_train"], arrays["y_train"].astype(np.int64), classes, hashlib.sha256(data).hexdigest(),
                   "npz", test_images=arrays["x_test"], test_labels=arrays["y_test"].astype(np.int64))
