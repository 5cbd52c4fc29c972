"""Datasets by name: resolve where their data comes from, load and verify it, fetch it. No dataset names in code.

    resolve(name, data_dir)  -> Source  (which files, found where; downloads when nothing is found)
    load_dataset(name, ...)  -> Dataset (verified uint8 arrays + provenance)
    fetch(name, from_dir=)   -> Source  (make it available locally, never a stand-in; --from installs a local copy)

What a dataset is comes from its spec in the catalogue: its kind of source (published files, the offline sample,
your own files), what stands in when it is missing (loudly, and recorded in every output, unless strict), its
checksums and mirrors. Where files may sit is locate's business, whether they are right is verify's.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import paths  # noqa: F401  (tests and callers patch paths through here)
from digitlab.data import idx
from digitlab.data.catalog import DATASETS, ROLES, STEMS, DatasetSpec, get_spec  # noqa: F401
from digitlab.data.dataset import Dataset, LoadOptions, Source  # noqa: F401  (digitlab.data.sources.Dataset: public)
from digitlab.data.download import ProgressFn, Wanted, download_files
from digitlab.data.install import install, refusal
from digitlab.data.locate import EXPECTED, Root, find_files, install_dir, search_roots  # noqa: F401
from digitlab.data.ownfiles import LOADERS as OWN_LOADERS
from digitlab.data.ownfiles import resolve_file
from digitlab.data.verify import DigestCache, check_file
from digitlab.errors import DataError


class DataFallbackWarning(UserWarning):
    """Full data was asked for, the offline sample stands in."""


# What to do about data that is missing or in the wrong place, phrased for the command at hand: a message from
# `data fetch` must not suggest --data-dir or --strict-data, which it lacks.
ADVICE = {
    "load": "pass --data-dir DIR with the folder holding {name}'s files, or install them once with "
            "`digitlab data fetch {name} --from DIR`",
    "fetch": "run `digitlab data fetch {name} --from DIR` with a folder holding {name}'s files",
}


def advice(context: str, name: str) -> str:
    return ADVICE[context].format(name=name)


def offline() -> bool:
    return os.environ.get("DIGITLAB_OFFLINE", "").strip().lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------------------------- resolving
@dataclass(frozen=True)
class _Ask:
    """One resolve request: what the caller allows and which command's advice its errors carry."""

    spec: DatasetSpec
    data_dir: Path | None
    download: bool
    strict: bool
    progress: ProgressFn | None
    mirrors: tuple[str, ...] | None
    context: str  # a key of ADVICE
    stand_in: bool  # whether the spec's stand-in may be used


def _from_data_dir(ask: _Ask) -> Source:
    root = ask.data_dir
    if not root.exists():
        raise DataError(f"--data-dir {root}: no such folder")
    files, why = find_files(root, ask.spec)
    if files is None:
        raise DataError(f"--data-dir {why}; expected {EXPECTED}")
    name = ask.spec.name
    return Source(name, name, "data-dir", str(root), files)


def _sample(ask: _Ask) -> Source:
    return Source(ask.spec.name, ask.spec.name, "sample", "", {})


def _own(ask: _Ask) -> Source:
    if ask.data_dir is None:
        raise DataError(f"dataset '{ask.spec.name}' reads your own IDX files: pass --data-dir DIR")
    return _from_data_dir(ask)


def _published(ask: _Ask) -> Source:
    spec, name = ask.spec, ask.spec.name
    if ask.data_dir is not None:
        return _from_data_dir(ask)
    tried = []
    for root in search_roots(spec):
        files, why = find_files(root.path, spec, top=root.top)
        if files is not None:
            return Source(name, name, root.kind, str(root.path), files)
        tried.append(why)
    problem = "not found (" + "; ".join(tried) + ")"
    if ask.download and not offline():
        dest = install_dir(spec)
        wanted = [Wanted(STEMS[r] + ".gz", spec.sha256.get(r), spec.archive_md5.get(r)) for r in ROLES]
        try:
            got = download_files(wanted, ask.mirrors or spec.mirrors, dest, name, progress=ask.progress)
            return Source(name, name, "download", str(dest), {r: got[w.filename] for r, w in zip(ROLES, wanted)})
        except DataError as exc:
            problem = f"{problem}; download failed: {exc}"
    else:
        problem += "; downloads are off (DIGITLAB_OFFLINE)" if offline() else "; download not allowed"
    what_to_do = advice(ask.context, name)
    if spec.stand_in and ask.stand_in and not ask.strict:
        stand = get_spec(spec.stand_in)
        message = (f"full {name} unavailable, using the {stand.name} stand-in instead ({stand.title}): {problem}. "
                   f"For the full data, {what_to_do}")
        warnings.warn(message, DataFallbackWarning, stacklevel=3)
        return Source(stand.name, name, "sample", "", {}, fallback=message)
    hint = ""
    if spec.stand_in and ask.strict:
        hint = f" (strict data is on: --strict-data or data.strict, so the stand-in {spec.stand_in} was not used)"
    raise DataError(f"dataset '{name}' {problem}{hint}. {what_to_do[0].upper()}{what_to_do[1:]}")


# how each kind of source (catalog.SOURCES) is resolved
RESOLVERS: dict[str, Callable[[_Ask], Source]] = {"published": _published, "sample": _sample, "own": _own,
                                                  "image-folder": resolve_file, "kaggle-csv": resolve_file,
                                                  "keras-npz": resolve_file}


def _resolve(ask: _Ask) -> Source:
    return RESOLVERS[ask.spec.source](ask)


def resolve(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    strict: bool = False,
    progress: ProgressFn | None = None,
    mirrors: tuple[str, ...] | None = None,
) -> Source:
    """Find the dataset's files, downloading when allowed; the spec's stand-in is used unless strict."""
    root = Path(data_dir).expanduser() if data_dir is not None else None
    return _resolve(_Ask(get_spec(name), root, download, strict, progress, mirrors, "load", stand_in=True))


# --------------------------------------------------------------------------------------------- loading
def _check_arrays(role_paths: dict[str, str], images: np.ndarray, labels: np.ndarray, split: str,
                  n_classes: int) -> None:
    img_src, lab_src = role_paths.get(f"{split}_images", split), role_paths.get(f"{split}_labels", split)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{img_src}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{lab_src}: expected labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{img_src}: {len(images)} images but {lab_src} has {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{lab_src}: label {int(labels.max())} out of range 0..{n_classes - 1}")


def _load_sample(source: Source, spec: DatasetSpec, requested: str, options: LoadOptions) -> Dataset:
    from digitlab.data.sample import load_sample

    path, verified, (xtr, ytr, xte, yte) = load_sample()
    return Dataset(
        name=source.dataset, requested=requested, source="sample", path=str(path), verified=verified,
        verify_note="sample content sha256 matches", mean=spec.mean, std=spec.std, classes=spec.classes,
        train_images=xtr, train_labels=ytr.astype(np.int64), test_images=xte, test_labels=yte.astype(np.int64),
        fallback=source.fallback,
    )


def _load_files(source: Source, spec: DatasetSpec, requested: str, options: LoadOptions) -> Dataset:
    cache = DigestCache.load()
    arrays, notes, verified = {}, set(), True
    try:
        for role in ROLES:
            path = source.files[role]
            verdict = check_file(path, spec, role, cache, advice("load", spec.name))
            verified &= verdict.ok
            notes.add(verdict.note)
            arrays[role] = idx.parse(verdict.content, str(path))
    finally:
        cache.save()  # remember digests (good or bad) so the next load skips hashing
    role_paths = {r: str(p) for r, p in source.files.items()}
    for split in ("train", "test"):
        _check_arrays(role_paths, arrays[f"{split}_images"], arrays[f"{split}_labels"], split, len(spec.classes))
    if spec.checksums and verified:
        for split, n in zip(("train", "test"), spec.sizes):
            if len(arrays[f"{split}_labels"]) != n:
                raise DataError(f"{role_paths[f'{split}_images']}: expected {n} {split} images")
    mean, std = spec.mean, spec.std
    if mean is None or std is None:  # own IDX files: measure their statistics
        pixels = arrays["train_images"].astype(np.float64) / 255.0
        mean, std = float(pixels.mean()), float(pixels.std()) or 1.0
    return Dataset(
        name=source.dataset, requested=requested, source=source.kind, path=source.path, verified=verified,
        verify_note="; ".join(sorted(notes)), mean=mean, std=std, classes=spec.classes,
        train_images=arrays["train_images"], train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"], test_labels=arrays["test_labels"].astype(np.int64), files=role_paths,
    )


# how each kind of source is read (the stand-in's kind decides, when it stood in)
LOADERS: dict[str, Callable[[Source, DatasetSpec, str, LoadOptions], Dataset]] = {
    "published": _load_files, "own": _load_files, "sample": _load_sample, **OWN_LOADERS,
}


def load_dataset(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    strict: bool = False,
    progress: ProgressFn | None = None,
    test_size: float = 0.2,
) -> Dataset:
    """Resolve, read and verify a dataset. Every load verifies (cached digests keep it cheap).

    strict: no stand-in, and (your own folder) a file that is not a readable image is an error, not a note.
    test_size: for a folder or CSV without its own test split, the fraction of each class carved off as test."""
    source = resolve(name, data_dir, download=download, strict=strict, progress=progress)
    spec = get_spec(source.dataset)
    return LOADERS[spec.source](source, spec, name, LoadOptions(strict, test_size))


# --------------------------------------------------------------------------------------------- fetching
def _fetch_published(spec: DatasetSpec, progress: ProgressFn | None, mirrors: tuple[str, ...] | None,
                     from_dir: str | os.PathLike | None) -> Source:
    if from_dir is not None:
        done = install(spec.name, from_dir)
        return Source(spec.name, spec.name, "installed", done.path, {r: Path(p) for r, p in done.files.items()})
    return _resolve(_Ask(spec, None, True, False, progress, mirrors, "fetch", stand_in=False))


def _fetch_sample(spec: DatasetSpec, progress, mirrors, from_dir) -> Source:
    if from_dir is not None:
        raise DataError(refusal(spec))
    from digitlab.data.sample import sample_path

    return Source(spec.name, spec.name, "sample", str(sample_path()), {})


def _fetch_own(spec: DatasetSpec, progress, mirrors, from_dir) -> Source:
    raise DataError(refusal(spec))


# how each kind of source (catalog.SOURCES) is fetched
FETCHERS: dict[str, Callable[..., Source]] = {"published": _fetch_published, "sample": _fetch_sample,
                                              "own": _fetch_own, "image-folder": _fetch_own, "kaggle-csv": _fetch_own,
                                              "keras-npz": _fetch_own}


def fetch(name: str, progress: ProgressFn | None = None, mirrors: tuple[str, ...] | None = None,
          from_dir: str | os.PathLike | None = None) -> Source:
    """Make the dataset available locally, never a stand-in: find it or download it into the data home, or
    (from_dir) verify a local copy and install it there so every later command finds it with no --data-dir."""
    spec = get_spec(name)
    return FETCHERS[spec.source](spec, progress, mirrors, from_dir)
