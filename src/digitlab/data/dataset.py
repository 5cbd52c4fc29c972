"""The data package's typed values: where a dataset was found (Source), what a load may be asked (LoadOptions), what
a reader of your own files found (OwnData), and the loaded Dataset every command uses. Data only: no I/O here, so
the modules that find, read and load data all import this one and none of them each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitlab.errors import DataError


@dataclass(frozen=True)
class Source:
    """Where a dataset's files were found (or what stands in for it)."""

    dataset: str  # the data actually used: "mnist", or "mnist-sample" when it stood in
    requested: str
    kind: str  # data-dir | env | cache | debian | download | installed | sample
    path: str
    files: dict[str, Path]
    fallback: str | None = None  # why the stand-in is used, when it is


@dataclass(frozen=True)
class LoadOptions:
    """What a load may be asked besides the dataset's name and folder."""

    strict: bool = False  # skipped files (not images, unreadable) are an error instead of a note
    test_size: float = 0.2  # data.test_size: the fraction of each class carved off as test, when there is no test split


@dataclass(frozen=True)
class OwnData:
    """What a reader found: the arrays (one split, or both), the class names and what it records about the file."""

    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64
    classes: tuple[str, ...]
    digest: str  # sha256 of what was read (the file, or the folder's names, sizes and content hashes)
    kind: str  # folder | csv | npz
    test_images: np.ndarray | None = None  # the data's own test split, when it has one
    test_labels: np.ndarray | None = None
    extra: dict[str, Any] | None = None  # more provenance (skipped files, cache)
    notice: str | None = None  # one line for the person (skipped files)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset's two splits as uint8 arrays (N, 28, 28) + int64 labels (N,), with provenance."""

    name: str  # the data in hand ("mnist-sample" when it stood in for "mnist")
    requested: str
    source: str
    path: str
    verified: bool
    verify_note: str
    mean: float
    std: float
    classes: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    fallback: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # more provenance: your own files' digest, counts, split, skipped
    notice: str | None = None  # one line for the person (your own folder's skipped files)

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split == "train":
            return self.train_images, self.train_labels
        if split == "test":
            return self.test_images, self.test_labels
        raise DataError(f"unknown split '{split}': choose train or test")

    def provenance(self) -> dict:
        """What every output records about the data it came from."""
        return {
            "dataset": self.name,
            "requested": self.requested,
            "source": self.source,
            "path": self.path,
            "verified": self.verified,
            "fallback": self.fallback,
            **self.extra,
        }
