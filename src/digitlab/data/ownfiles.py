"""Your own files as datasets: a folder of images, Kaggle's CSV, Keras's mnist.npz -> the same Dataset as mnist's.

    resolve_file(ask)                        the --data-dir path (required), as a Source
    LOADERS[source kind](source, spec, requested, options) -> Dataset (uint8 arrays, int64 labels, provenance)
    stratified_split(labels, test_size)      the seeded, stratified test split of data that has none of its own

Reading each format is the business of data/folder.py (images, cache) and data/tabular.py (CSV, npz); this module
turns what they read into a Dataset: the split (theirs, or carved here: data.test_size of each class, seed
SPLIT_SEED, so `eval` and `predict` carve the same one), the statistics measured on the training split, and the
provenance every output records (path, digest, counts per class, the split, skipped files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitlab.data.dataset import Dataset, LoadOptions, OwnData, Source
from digitlab.data.folder import read_folder
from digitlab.data.tabular import read_csv, read_npz
from digitlab.errors import DataError

if TYPE_CHECKING:
    from digitlab.data.catalog import DatasetSpec

SPLIT_SEED = 0  # the split is part of the data, not of a run: every command carves the same one


def stratified_split(labels: np.ndarray, test_size: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): round(test_size * n) of each class's n examples to test, at least one and
    never all of a class that has two or more; the choice is seeded, the order within each split the original."""
    rng = np.random.default_rng(seed)
    train, test = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = members[rng.permutation(len(members))]
        k = min(max(round(len(members) * test_size), 1), len(members) - 1) if len(members) >= 2 else 0
        test.append(members[:k])
        train.append(members[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def counts(labels: np.ndarray, classes: tuple[str, ...]) -> dict[str, int]:
    found = np.bincount(labels, minlength=len(classes)) if len(labels) else np.zeros(len(classes), dtype=np.int64)
    return {name: int(n) for name, n in zip(classes, found) if n}


def measured(images: np.ndarray) -> tuple[float, float]:
    """mean and std of x/255 over the training images (as for your own IDX files)."""
    if not len(images):
        return 0.0, 1.0
    pixels = images.astype(np.float64) / 255.0
    return float(pixels.mean()), float(pixels.std()) or 1.0


def to_dataset(source: Source, spec: DatasetSpec, requested: str, found: OwnData, options: LoadOptions) -> Dataset:
    if found.test_images is not None and found.test_labels is not None:
        xtr, ytr, xte, yte = found.images, found.labels, found.test_images, found.test_labels
        split = f"the data's own train and test splits ({len(ytr):,} / {len(yte):,})"
    else:
        train, test = stratified_split(found.labels, options.test_size)
        xtr, ytr, xte, yte = found.images[train], found.labels[train], found.images[test], found.labels[test]
        split = (f"test = {options.test_size:g} of each class, carved off seeded (seed {SPLIT_SEED}) and stratified "
                 f"(data.test_size): {len(ytr):,} train / {len(yte):,} test")
    if not len(ytr):
        raise DataError(f"{source.path}: no training examples left after the test split; add more examples per class")
    if not len(yte):
        raise DataError(f"{source.path}: no test examples ({split}): each class needs at least 2 examples so one can "
                        "be held out; add more, or give a train/ + test/ layout")
    mean, std = measured(xtr)
    extra = {"format": found.kind, "digest": found.digest, "classes": list(found.classes), "split": split,
             "counts": {"train": counts(ytr, found.classes), "test": counts(yte, found.classes)},
             **(found.extra or {})}
    return Dataset(
        name=source.dataset, requested=requested, source=source.kind, path=source.path, verified=False,
        verify_note=f"your own {found.kind}: no reference checksum (content sha256 {found.digest[:12]}...)",
        mean=mean, std=std, classes=found.classes, train_images=xtr, train_labels=ytr.astype(np.int64),
        test_images=xte, test_labels=yte.astype(np.int64), files={"data": source.path}, extra=extra,
        notice=found.notice,
    )


def resolve_file(ask: Any) -> Source:
    """The path named by --data-dir (a folder, a .csv, a .npz): required, and it must exist."""
    name = ask.spec.name
    if ask.data_dir is None:
        raise DataError(f"dataset '{name}' reads your own files: pass --data-dir PATH ({ask.spec.title})")
    path = Path(ask.data_dir)
    if not path.exists():
        raise DataError(f"--data-dir {path}: no such file or folder")
    return Source(name, name, "data-dir", str(path), {})


def _load_folder(source: Source, spec: DatasetSpec, requested: str, options: LoadOptions) -> Dataset:
    return to_dataset(source, spec, requested, read_folder(Path(source.path), options.strict), options)


def _load_csv(source: Source, spec: DatasetSpec, requested: str, options: LoadOptions) -> Dataset:
    table = read_csv(Path(source.path))
    if table.labels is None:
        raise DataError(f"{source.path}: no label column (Kaggle's test.csv?): a CSV without labels is for "
                        f"`digitlab predict RUN {source.path} --submission submission.csv`; train on train.csv")
    found = OwnData(table.images, table.labels, spec.classes, table.digest, "csv")
    return to_dataset(source, spec, requested, found, options)


def _load_npz(source: Source, spec: DatasetSpec, requested: str, options: LoadOptions) -> Dataset:
    return to_dataset(source, spec, requested, read_npz(Path(source.path), spec.classes), options)


# how each of these kinds of source (catalog.SOURCES) is read
LOADERS: dict[str, Callable[[Source, DatasetSpec, str, LoadOptions], Dataset]] = {
    "image-folder": _load_folder, "kaggle-csv": _load_csv, "keras-npz": _load_npz,
}
