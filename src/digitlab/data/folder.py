"""A folder of your own images as a dataset: DIR/<class>/* (or DIR/train/<class>/* + DIR/test/<class>/*).

    read_folder(root, strict) -> OwnData   every image through predict's MNIST-style preprocessing, once

Layout (torchvision's ImageFolder, Keras's image_dataset_from_directory): one sub-folder per class, named by the
class; files may sit deeper inside a class folder. Class folders named 0-9 keep the ten digit classes (label =
the digit, so a folder holding only a few digits still fits a model of all ten); any other names are sorted
(digits first, as numbers) and numbered in that order. Hidden files and folders (.DS_Store, .git) are ignored.

Files that are not images (by suffix) or that cannot be read are skipped, counted and listed in one line (the
person sees it; provenance keeps the list); strict makes any of them an error. The arrays are cached in the data
home under a digest of the folder's contents (every file's place, size and content sha256, and the
preprocessing's version), so a changed, added or removed file is a new digest: the folder is read again. The
content hashes themselves are kept with each file's stat (HashIndex), so a second load stats the files rather than
reading them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import paths
from digitlab.data.dataset import OwnData
from digitlab.data.verify import DigestCache
from digitlab.errors import DataError, DigitlabError
from digitlab.io import atomic_open, atomic_write
from digitlab.preprocess import IMAGE_SUFFIXES, MAX_FILE_BYTES, read_image, to_mnist

# Bump when predict's preprocessing changes what it makes of an image: every cached folder is then read again.
PREPROCESS_VERSION = "preprocess-1"
CACHE_FOLDER = "folder-cache"
MAX_CLASSES = 1000
SHOWN_SKIPPED = 5  # files named in the one-line note (the full list is in the provenance, up to MAX_LISTED)
MAX_LISTED = 1000
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class Entry:
    """One file of the folder: where (relative to DIR), which class, which split (train/test/"" = carve one)."""

    path: Path
    rel: str
    cls: str
    part: str


def _visible(path: Path, root: Path) -> bool:
    return not any(p.startswith(".") for p in path.relative_to(root).parts)


def _class_folders(part_root: Path, root: Path) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """class name -> folder, and the files lying outside any class folder (skipped, with why)."""
    folders, stray = {}, []
    for child in sorted(part_root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            folders[child.name] = child
        else:
            stray.append((child.relative_to(root).as_posix(), "not in a class folder"))
    return folders, stray


def scan(root: Path) -> tuple[list[Entry], list[str], list[tuple[str, str]]]:
    """Every visible file under the class folders, the class names (sorted) and the stray files."""
    if not root.is_dir():
        what = "is a file" if root.exists() else "no such folder"
        raise DataError(f"--data-dir {root}: {what}; --dataset folder reads a folder with one sub-folder per class")
    train, test = root / "train", root / "test"
    parts = {"": root}
    if train.is_dir() or test.is_dir():
        if not (train.is_dir() and test.is_dir()):
            have, lack = ("train", "test") if train.is_dir() else ("test", "train")
            raise DataError(f"{root}: has {have}/ but no {lack}/: give both (each with one folder per class), or put "
                            "the class folders directly in it for a seeded split (data.test_size)")
        parts = {"train": train, "test": test}
    entries, stray, names = [], [], {}
    for part, part_root in parts.items():
        folders, loose = _class_folders(part_root, root)
        stray += loose
        names[part] = set(folders)
        for cls, folder in folders.items():
            found = sorted(p for p in folder.rglob("*") if _visible(p, root) and not p.is_dir())
            # a named pipe would hang its read, a device never end it: only regular files (or links to one) are read
            stray += [(p.relative_to(root).as_posix(), "not a regular file (a named pipe, a device or a broken link)")
                      for p in found if not p.is_file()]
            entries += [Entry(p, p.relative_to(root).as_posix(), cls, part) for p in found if p.is_file()]
    classes = set().union(*names.values())
    if not classes:
        raise DataError(f"{root}: no class folders; put each class's images in a folder named by the class "
                        f"({root}/0/, {root}/1/, ...)")
    if "test" in names and names["test"] - names["train"]:
        extra = sorted(names["test"] - names["train"])[0]
        raise DataError(f"{root}/test/{extra}: a class with no folder in {root}/train/; add its training images")
    return entries, order_classes(classes), stray


def order_classes(names: set[str]) -> list[str]:
    """Digit names keep the ten digit classes; other names sort with digits first, as numbers."""
    if names <= set(DIGITS):
        return list(DIGITS)
    return sorted(names, key=lambda n: (0, int(n), n) if n.isdigit() else (1, 0, n))


def _sha256(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    try:
        st = os.stat(path)
        if st.st_size > MAX_FILE_BYTES:  # never read: no image that size is used (it is skipped as too large)
            return st.st_size, f"over the limit: {st.st_size} bytes, changed {st.st_mtime_ns}"
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except OSError as exc:
        return -1, f"unreadable: {exc.strerror or exc}"
    return size, h.hexdigest()


class HashIndex:
    """The content hashes of one folder's files, each kept with the stat it was computed at (size, mtime, ctime,
    inode, device: verify.DigestCache's key), so a second load stats the files instead of reading them all. A
    writer can put a file's mtime back but not its ctime, and replacing a file changes its inode: a changed file
    is always hashed again."""

    def __init__(self, root: Path) -> None:
        name = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        self.file = paths.data_home() / CACHE_FOLDER / f"hashes-{name}.json"
        try:
            entries = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entries = {}
        self.known = entries if isinstance(entries, dict) else {}
        self.seen: dict[str, list] = {}

    def sha256(self, path: Path, rel: str) -> tuple[int, str]:
        try:
            key = DigestCache.key(os.stat(path))
        except OSError as exc:
            return -1, f"unreadable: {exc.strerror or exc}"
        old = self.known.get(rel)
        if isinstance(old, list) and len(old) == 2 and old[0] == key:
            self.seen[rel] = old
            return key[0], old[1]
        size, content = _sha256(path)  # stat first: a file changed while it is read has another key next time
        if size >= 0:
            self.seen[rel] = [key, content]
        return size, content

    def save(self) -> None:
        if self.seen == self.known:
            return
        with contextlib.suppress(OSError):  # a read-only data home only costs hashing again
            atomic_write(self.file, json.dumps(self.seen))  # only the files there now: removed ones drop out


def digest(entries: list[Entry], stray: list[tuple[str, str]], index: HashIndex | None = None) -> str:
    """sha256 over every file's place, size and content hash (and the preprocessing's version)."""
    h = hashlib.sha256(PREPROCESS_VERSION.encode())
    for e in entries:
        size, content = index.sha256(e.path, e.rel) if index else _sha256(e.path)
        h.update(f"{e.rel}\0{size}\0{content}\n".encode("utf-8", "surrogateescape"))
    for rel, _ in stray:
        h.update(f"stray\0{rel}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def cache_path(key: str) -> Path:
    return paths.data_home() / CACHE_FOLDER / f"{key}.npz"


def _read_cache(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in ("images", "labels", "parts", "classes", "skipped")}
        got["skipped"] = json.loads(str(got["skipped"]))
        images = got["images"]
        if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(got["labels"]):
            return None
        return got
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None  # missing or damaged: read the folder again


def _write_cache(path: Path, found: dict) -> None:
    try:
        with atomic_open(path) as fh:
            np.savez(fh, images=found["images"], labels=found["labels"], parts=found["parts"],
                     classes=np.array(found["classes"]), skipped=np.array(json.dumps(found["skipped"])))
    except OSError:
        pass  # a read-only data home only costs a slower next load


def _preprocess(entries: list[Entry], classes: list[str]) -> dict:
    index = {name: i for i, name in enumerate(classes)}
    images, labels, parts, skipped = [], [], [], []
    for e in entries:
        if e.path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append([e.rel, f"not an image file ({e.path.suffix or 'no suffix'})"])
            continue
        try:
            images.append(to_mnist(read_image(e.path), e.rel))
        except DigitlabError as exc:
            reason = str(exc)
            skipped.append([e.rel, reason[len(str(e.path)) + 2:] if reason.startswith(str(e.path)) else reason])
            continue
        labels.append(index[e.cls])
        parts.append(1 if e.part == "test" else 0)
    return {"images": np.stack(images) if images else np.zeros((0, 28, 28), np.uint8),
            "labels": np.array(labels, dtype=np.int64), "parts": np.array(parts, dtype=np.int8),
            "classes": list(classes), "skipped": skipped}


def skipped_line(root: Path, skipped: list, total: int) -> str:
    shown = ", ".join(f"{rel} ({why})" for rel, why in skipped[:SHOWN_SKIPPED])
    more = f" (+{len(skipped) - SHOWN_SKIPPED} more, listed in data.json)" if len(skipped) > SHOWN_SKIPPED else ""
    return f"{root}: skipped {len(skipped)} of {total} files (not readable images): {shown}{more}"


def _check_classes(root: Path, found: dict, entries: list[Entry]) -> None:
    """At least two classes, not too many, and every class folder with at least one readable image."""
    present = sorted({e.cls for e in entries})
    if len(present) < 2:
        raise DataError(f"{root}: only one class folder ({present[0] if present else '-'}); a classifier needs at "
                        "least two classes")
    if len(present) > MAX_CLASSES:
        raise DataError(f"{root}: {len(present)} class folders, over the {MAX_CLASSES} a model here can have")
    index = {name: i for i, name in enumerate(found["classes"])}
    labels, parts = found["labels"], found["parts"]
    for part, cls in sorted({(e.part, e.cls) for e in entries}):
        code = 1 if part == "test" else 0
        if not np.any((labels == index[cls]) & (parts == code)):
            where = root / part / cls if part else root / cls
            raise DataError(f"{where}: no readable images in this class folder (see the skipped files); add some or "
                            "remove the folder")


def read_folder(root: Path, strict: bool = False) -> OwnData:
    entries, classes, stray = scan(root)
    empty = sorted(_empty_class_folders(root, entries))
    if empty:
        raise DataError(f"{empty[0]}: an empty class folder; add images or remove it")
    index = HashIndex(root)
    key = digest(entries, stray, index)
    index.save()
    where = cache_path(key)
    found = _read_cache(where)
    cached = found is not None
    if found is None:
        found = _preprocess(entries, classes)
        found["skipped"] = [list(s) for s in stray] + found["skipped"]
        _write_cache(where, found)
    skipped = found["skipped"]
    total = len(entries) + len(stray)
    if skipped and strict:
        raise DataError(skipped_line(root, skipped, total).replace(": skipped", ": --strict-data: cannot use", 1))
    _check_classes(root, found, entries)
    images, labels, parts = found["images"], found["labels"], found["parts"]
    extra = {"n_files": total, "skipped": [{"file": rel, "why": why} for rel, why in skipped[:MAX_LISTED]],
             "n_skipped": len(skipped), "cache": {"path": str(where), "hit": cached}}
    notice = skipped_line(root, skipped, total) if skipped else None
    common = dict(classes=tuple(str(c) for c in found["classes"]), digest=key, kind="folder", extra=extra,
                  notice=notice)
    if (root / "train").is_dir() and (root / "test").is_dir():
        tr, te = parts == 0, parts == 1
        return OwnData(images[tr], labels[tr], test_images=images[te], test_labels=labels[te], **common)
    return OwnData(images, labels, **common)


def _empty_class_folders(root: Path, entries: list[Entry]) -> list[str]:
    """Class folders holding no visible file at all."""
    with_files = {(e.part, e.cls) for e in entries}
    parts = ["train", "test"] if (root / "train").is_dir() and (root / "test").is_dir() else [""]
    empty = []
    for part in parts:
        base = root / part if part else root
        for child in base.iterdir():
            if child.is_dir() and not child.name.startswith(".") and (part, child.name) not in with_files:
                empty.append(str(child))
    return empty

