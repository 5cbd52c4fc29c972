"""Datasets by name: where their files are, how to verify them, where to download them, what stands in.

    resolve(name, data_dir)  -> Source  (which files, found where; downloads when nothing is found)
    load_dataset(name, ...)  -> Dataset (verified uint8 arrays + provenance)

Search order without --data-dir: $DIGITLAB_DATA, the user cache dir, /usr/share/datasets/<name>/ (Debian's
dataset packages). In each, these layouts are recognised (both `-idx3-ubyte` and `.idx3-ubyte` spellings,
gzip or raw):
    DIR/<the four files>                      a plain folder (also DIR/<dataset name>/)
    DIR/MNIST_Data/{train,test}/, DIR/{train,test}/   MindSpore's tutorial layout
    DIR/MNIST/raw/, DIR/raw/                  torchvision's layout (FashionMNIST/raw, KMNIST/raw too)
When full MNIST is asked for but is neither found nor downloadable, the offline sample stands in (loudly,
and recorded in every output) unless strict=True.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab import paths
from digitlab.data import idx
from digitlab.data.catalog import DATASETS, ROLES, STEMS, DatasetSpec, get_spec  # noqa: F401
from digitlab.data.download import ProgressFn, Wanted, download_files
from digitlab.errors import DataError


class DataFallbackWarning(UserWarning):
    """Full data was asked for, the offline sample stands in."""


# --------------------------------------------------------------------------------------------- finding
def _candidates(role: str) -> list[str]:
    stem = STEMS[role]
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some unzippers write it
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def _find_in(folder: Path, roles: tuple[str, ...]) -> dict[str, Path]:
    found = {}
    for role in roles:
        for name in _candidates(role):
            if (folder / name).is_file():
                found[role] = folder / name
                break
    return found


def _layouts(root: Path, spec: DatasetSpec) -> Iterator[dict[str, Path]]:
    """Every recognised layout under root, as role -> path (possibly incomplete)."""
    for folder in [root, root / spec.name, root / (spec.torchvision_dir or "MNIST") / "raw", root / "raw"]:
        yield _find_in(folder, ROLES)
    for base in (root / "MNIST_Data", root):  # MindSpore: train/ holds train-*, test/ holds t10k-*
        split = _find_in(base / "train", ROLES[:2]) | _find_in(base / "test", ROLES[2:])
        yield split


def find_files(root: Path, spec: DatasetSpec) -> tuple[dict[str, Path] | None, str]:
    """The four files under root in any known layout: (files, "") or (None, what was missing)."""
    best: dict[str, Path] = {}
    for found in _layouts(root, spec):
        if len(found) == 4:
            return found, ""
        if len(found) > len(best):
            best = found
    if best:
        missing = ", ".join(STEMS[r] for r in ROLES if r not in best)
        return None, f"{root}: found {len(best)} of the 4 files; missing {missing}"
    return None, f"{root}: no {spec.name} IDX files"


@dataclass(frozen=True)
class Source:
    """Where a dataset's files were found (or what stands in for it)."""

    dataset: str  # the data actually used: "mnist", or "mnist-sample" when it stood in
    requested: str
    kind: str  # data-dir | env | cache | debian | download | sample
    path: str
    files: dict[str, Path]
    fallback: str | None = None  # why the sample stands in, when it does


def search_roots(spec: DatasetSpec) -> list[tuple[str, Path]]:
    roots: list[tuple[str, Path]] = []
    if os.environ.get("DIGITLAB_DATA"):
        roots.append(("env", paths.data_home()))
    roots.append(("cache", paths.cache_dir()))
    if spec.debian_dir:
        roots.append(("debian", Path("/usr/share/datasets") / spec.debian_dir))
    return roots


def offline() -> bool:
    return os.environ.get("DIGITLAB_OFFLINE", "").strip().lower() in {"1", "true", "yes"}


def resolve(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    strict: bool = False,
    progress: ProgressFn | None = None,
    mirrors: tuple[str, ...] | None = None,
) -> Source:
    """Find the dataset's files, downloading when allowed; fall back to the sample for MNIST."""
    spec = get_spec(name)
    if name == "mnist-sample":
        return Source("mnist-sample", name, "sample", "", {})
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.exists():
            raise DataError(f"--data-dir {root}: no such folder")
        files, why = find_files(root, spec)
        if files is None:
            raise DataError(
                f"--data-dir {why}; expected {', '.join(STEMS.values())} (.gz or raw) in it, in "
                "MNIST_Data/train+test, or in MNIST/raw"
            )
        return Source(name, name, "data-dir", str(root), files)
    if name == "idx":
        raise DataError("dataset 'idx' reads your own IDX files: pass --data-dir DIR")
    tried = []
    for kind, root in search_roots(spec):
        files, why = find_files(root, spec)
        if files is not None:
            return Source(name, name, kind, str(root), files)
        tried.append(why)
    problem = "not found (" + "; ".join(tried) + ")"
    if download and not offline():
        dest = paths.data_home() / spec.name
        wanted = [Wanted(STEMS[r] + ".gz", spec.sha256.get(r), spec.archive_md5.get(r)) for r in ROLES]
        try:
            got = download_files(wanted, mirrors or spec.mirrors, dest, name, progress=progress)
            return Source(name, name, "download", str(dest), {r: got[w.filename] for r, w in zip(ROLES, wanted)})
        except DataError as exc:
            problem = f"{problem}; download failed: {exc}"
    else:
        problem += "; downloads are off (DIGITLAB_OFFLINE)" if offline() else "; download not allowed"
    if name == "mnist" and not strict:
        message = (
            f"full MNIST unavailable, using the 5,000-digit offline sample (mnist-sample) instead: {problem}"
        )
        warnings.warn(message, DataFallbackWarning, stacklevel=2)
        return Source("mnist-sample", name, "sample", "", {}, fallback=message)
    hint = "" if name != "mnist" else " (--strict-data is on, so the offline sample was not used)"
    raise DataError(f"dataset '{name}' {problem}{hint}. Put its IDX files in a folder and pass --data-dir DIR")


# --------------------------------------------------------------------------------------------- verifying
_VERIFY_CACHE = "verified.json"


def _cache_file() -> Path:
    return paths.cache_dir() / _VERIFY_CACHE


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict) -> None:
    try:
        target = _cache_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time


def verify_file(path: Path, spec: DatasetSpec, role: str, content: bytes, cache: dict) -> tuple[bool, str]:
    """Check a file against the dataset's known checksums. Returns (verified, note); raises on mismatch.

    The digest is cached keyed by (absolute path, size, mtime) so repeated loads skip hashing; any change
    to the file changes the key.
    """
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    entry = cache.get(key) or {}
    if spec.sha256.get(role):
        digest = entry.get("sha256") or idx.sha256(content)
        cache[key] = {**entry, "sha256": digest}
        if digest != spec.sha256[role]:
            raise DataError(
                f"{path}: checksum mismatch: content sha256 {digest[:16]}... is not the known {spec.name} "
                f"{STEMS[role]} ({spec.sha256[role][:16]}...); the file is corrupt or from another dataset. "
                f"Delete it and run `digitlab data fetch {spec.name}`, or use --dataset idx for your own files"
            )
        return True, "content sha256 matches"
    if spec.archive_md5.get(role):
        if path.read_bytes()[:2] != idx.GZIP_MAGIC:
            return False, "publisher lists only archive checksums; keep the .gz files to verify"
        digest = entry.get("md5") or hashlib.md5(path.read_bytes()).hexdigest()
        cache[key] = {**entry, "md5": digest}
        if digest != spec.archive_md5[role]:
            raise DataError(
                f"{path}: checksum mismatch: archive md5 {digest} is not the published {spec.name} "
                f"{STEMS[role]}.gz ({spec.archive_md5[role]}); delete it and run `digitlab data fetch {spec.name}`"
            )
        return True, "archive md5 matches"
    return False, "no reference checksum for this dataset"


# --------------------------------------------------------------------------------------------- loading
@dataclass
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
        }


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


def load_dataset(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> Dataset:
    """Resolve, read and verify a dataset. Every load verifies (cached digests keep it cheap)."""
    source = resolve(name, data_dir, download=download, strict=strict, progress=progress)
    spec = get_spec(source.dataset)
    if source.kind == "sample":
        from digitlab.data.sample import load_sample

        path, verified, (xtr, ytr, xte, yte) = load_sample()
        ds = Dataset(source.dataset, name, "sample", str(path), verified, "sample content sha256 matches",
                     spec.mean, spec.std, spec.classes, xtr, ytr.astype(np.int64), xte, yte.astype(np.int64),
                     fallback=source.fallback)
        return ds
    cache = _load_cache()
    arrays, notes, verified = {}, set(), True
    try:
        for role in ROLES:
            path = source.files[role]
            content = idx.read_bytes(path)
            ok, note = verify_file(path, spec, role, content, cache)
            verified &= ok
            notes.add(note)
            arrays[role] = idx.parse(content, str(path))
    finally:
        _save_cache(cache)  # remember digests (good or bad) so the next load skips hashing
    role_paths = {r: str(p) for r, p in source.files.items()}
    for split in ("train", "test"):
        _check_arrays(role_paths, arrays[f"{split}_images"], arrays[f"{split}_labels"], split, len(spec.classes))
    if spec.sha256 or spec.archive_md5:
        for split, n in zip(("train", "test"), spec.sizes):
            if len(arrays[f"{split}_labels"]) != n and verified:
                raise DataError(f"{role_paths[f'{split}_images']}: expected {n} {split} images")
    mean, std = spec.mean, spec.std
    if not std:  # own IDX files: measure their statistics
        pixels = arrays["train_images"].astype(np.float64) / 255.0
        mean, std = float(pixels.mean()), float(pixels.std()) or 1.0
    return Dataset(
        source.dataset, name, source.kind, source.path, verified, "; ".join(sorted(notes)), mean, std,
        spec.classes, arrays["train_images"], arrays["train_labels"].astype(np.int64),
        arrays["test_images"], arrays["test_labels"].astype(np.int64), files=role_paths,
    )


def fetch(name: str, progress: ProgressFn | None = None, mirrors: tuple[str, ...] | None = None) -> Source:
    """Make the dataset available locally (no sample fallback): find it, or download it into the data home."""
    if name == "idx":
        raise DataError("dataset 'idx' is your own files: there is nothing to fetch; pass --data-dir DIR")
    if name == "mnist-sample":
        return resolve(name, download=False)
    return resolve(name, download=True, strict=True, progress=progress, mirrors=mirrors)
