"""Install a verified local copy of a published dataset into the data home (`digitlab data fetch NAME --from DIR`).

The copy is found in any layout locate recognises, every file is verified by the one routine (verify), then
copied byte for byte (gzip stays gzip) into <data home>/<name>/ under its canonical name by the one atomic writer,
and verified again before the rename, so a file that changed while being copied never lands. From then on every
command finds the dataset there with no --data-dir. Nothing already saved is lost: a file already installed and
verified is kept; an unverifiable file in the way is renamed aside (`*.unverified`), never deleted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from digitlab.data import idx
from digitlab.data.catalog import DATASETS, ROLES, STEMS, DatasetSpec, get_spec
from digitlab.data.locate import EXPECTED, candidates, find_files, install_dir
from digitlab.data.verify import DigestCache, Verdict, check_file, inspect
from digitlab.errors import DataError
from digitlab.io import atomic_open, read_limited, temporary_name

LOCK_TIMEOUT_S = 900.0
# The kinds of source (catalog.SOURCES) that have nothing to install, and what to say instead.
REFUSALS = {
    "sample": "dataset '{name}' ships inside a Python package: there is nothing to install from a folder; "
              "--from installs a published dataset ({published})",
    "own": "dataset '{name}' is your own IDX files: there is nothing to fetch or install; name their folder where "
           "you use them, e.g. `digitlab train --dataset {name} --data-dir DIR`",
    **{kind: "dataset '{name}' is your own files: there is nothing to fetch or install; name them where you use "
             "them, e.g. `digitlab train --dataset {name} --data-dir PATH`"
       for kind in ("image-folder", "kaggle-csv", "keras-npz")},
}


def refusal(spec: DatasetSpec) -> str | None:
    """The one-line reason why this kind of dataset cannot be installed (None when it can)."""
    if spec.source not in REFUSALS:
        return None
    published = ", ".join(n for n, s in DATASETS.items() if s.source == "published")
    return REFUSALS[spec.source].format(name=spec.name, published=published)


@dataclass(frozen=True)
class Installed:
    """What `install` did, file by file."""

    dataset: str
    path: str  # the install folder
    source: str  # the folder the copy came from
    files: dict[str, str]  # role -> installed file
    copied: tuple[str, ...]  # file names copied now
    kept: tuple[str, ...]  # file names already installed and verified
    set_aside: tuple[str, ...]  # unverifiable files that were in the way, renamed (not deleted)
    verify_note: str


class _Changed(Exception):
    """The file read for the copy is not the file verified a moment before."""


def _verify_sources(spec: DatasetSpec, files: dict[str, Path]) -> dict[str, Verdict]:
    advice = f"run `digitlab data fetch {spec.name} --from DIR` with a folder holding {spec.name}'s files"
    cache = DigestCache.load()
    try:
        verdicts = {role: check_file(files[role], spec, role, cache, advice) for role in ROLES}
    finally:
        cache.save()
    for role, verdict in verdicts.items():
        if not verdict.ok:
            raise DataError(f"{files[role]}: cannot be verified ({verdict.note}); only verified copies are "
                            f"installed: give --from the folder holding the published {spec.name} files")
    return verdicts


def _set_aside(path: Path) -> Path:
    target, n = path.with_name(path.name + ".unverified"), 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.unverified-{n}"), n + 1
    os.replace(path, target)  # a rename: the content stays, under a name locate does not look for
    return target


def _installed(dest: Path, spec: DatasetSpec, role: str, set_aside: list[str]) -> Path | None:
    """The verified file already installed for role, if any; unverifiable ones in the way are set aside."""
    keep = None
    for name in candidates(role):
        path = dest / name
        if not path.is_file():
            continue
        try:
            ok = inspect(path, spec.sha256.get(role), spec.archive_md5.get(role)).ok
        except DataError:  # unreadable: same as unverifiable
            ok = False
        if ok:
            keep = keep or path
        else:
            set_aside.append(_set_aside(path).name)
    return keep


def _copy(src: Path, dest: Path, spec: DatasetSpec, role: str) -> Path:
    raw = read_limited(src, idx.MAX_IDX_BYTES, DataError)
    final = dest / (STEMS[role] + (".gz" if raw[:2] == idx.GZIP_MAGIC else ""))
    with atomic_open(final) as fh:
        fh.write(raw)
        fh.flush()
        if not inspect(temporary_name(final), spec.sha256.get(role), spec.archive_md5.get(role)).ok:
            raise _Changed(str(src))
    return final


def install(name: str, from_dir: str | os.PathLike) -> Installed:
    """Verify the dataset's files under from_dir and install them into <data home>/<name>/."""
    spec = get_spec(name)
    if why := refusal(spec):
        raise DataError(why)
    if not spec.checksums:
        raise DataError(f"dataset '{name}' has no published checksums, so a copy cannot be verified or installed")
    root = Path(from_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"--from {root}: no such folder")
    files, why = find_files(root, spec)
    if files is None:
        raise DataError(f"--from {why}; expected {EXPECTED}")
    verdicts = _verify_sources(spec, files)
    dest = install_dir(spec)
    dest.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(dest / ".download.lock"))  # the lock downloads take: installs and downloads take turns
    try:
        lock.acquire(timeout=LOCK_TIMEOUT_S)
    except Timeout:
        raise DataError(f"{dest}: another process has held the download lock for {LOCK_TIMEOUT_S:.0f} s; "
                        f"if none is running, delete {dest / '.download.lock'}") from None
    installed, copied, kept, set_aside = {}, [], [], []
    try:
        for role in ROLES:
            have = _installed(dest, spec, role, set_aside)
            if have is not None:
                installed[role] = have
                kept.append(have.name)
                continue
            try:
                installed[role] = _copy(files[role], dest, spec, role)
            except _Changed:
                raise DataError(f"{files[role]}: changed while it was being copied; run the command again") from None
            copied.append(installed[role].name)
    finally:
        lock.release()
    return Installed(
        dataset=name, path=str(dest), source=str(root), files={r: str(p) for r, p in installed.items()},
        copied=tuple(copied), kept=tuple(kept), set_aside=tuple(set_aside),
        verify_note="; ".join(sorted({v.note for v in verdicts.values()})),
    )
