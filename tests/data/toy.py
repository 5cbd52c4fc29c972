"""Toy published datasets for tests: synthetic IDX files whose real checksums go into a catalogue spec.

A test registers one (monkeypatch.setitem on DATASETS) and then exercises the whole data path (locate, verify,
install, load) on it as on MNIST: no network, no ../shared, and no code that knows the toy's name.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from digitlab.data import idx
from digitlab.data.catalog import DATASETS, ROLES, STEMS, DatasetSpec
from tests.helpers import write_dataset


def files_of(folder: Path) -> dict[str, Path]:
    return {role: next(folder.glob(STEMS[role] + "*")) for role in ROLES}


def register_toy(monkeypatch, folder: Path, name: str = "toy", seed: int = 0, md5_only: bool = False,
                 **spec_fields) -> DatasetSpec:
    """Write a synthetic dataset (gzip) into folder and register a published spec whose checksums it matches."""
    write_dataset(folder, seed=seed)
    files = files_of(folder)
    digests = {role: idx.sha256(gzip.decompress(path.read_bytes())) for role, path in files.items()}
    md5s = {role: hashlib.md5(path.read_bytes()).hexdigest() for role, path in files.items()}
    fields = dict(name=name, title=f"{name} (test)", mean=0.1, std=0.3, classes=tuple("0123456789"),
                  sha256={} if md5_only else digests, archive_md5=md5s if md5_only else {},
                  mirrors=("http://127.0.0.1:9/",), folders=(name, f"{name.upper()}/raw"), sizes=(200, 100))
    spec = DatasetSpec(**{**fields, **spec_fields})
    monkeypatch.setitem(DATASETS, name, spec)
    return spec
