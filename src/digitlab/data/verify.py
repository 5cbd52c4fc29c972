"""THE verification routine: is this file the content it should be? Used by download, install and load alike.

    inspect(path, sha256, archive_md5, cache)  -> Verdict (content + status + note); never raises for a mismatch
    require(verdict, path, spec, role, advice) -> the content, or a one-line DataError saying what the file is

Rules: a dataset with content checksums (sha256 of the *decompressed* file) is checked on the content, so gzip
and raw copies both verify; a publisher that lists only archive MD5s (KMNIST) can be checked only on its .gz.
A mismatching file whose digest is another known dataset's file is named as such ("this is the mnist
train-images-idx3-ubyte"), never called corrupt.

Digest cache ($XDG_CACHE_HOME/digitlab/verified.json): path -> the stat it was hashed at (size, mtime_ns,
ctime_ns, inode, device) and its digests. A writer can restore a file's mtime but not its ctime, and replacing a
file changes its inode, so a changed file never reuses an old digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from digitlab import paths
from digitlab.data import idx
from digitlab.data.catalog import DATASETS, STEMS, DatasetSpec
from digitlab.errors import DataError
from digitlab.io import atomic_write, open_regular, read_open

CACHE_NAME = "verified.json"

# What inspect() can find. Only "verified" lets a file be claimed as verified.
VERIFIED, UNVERIFIABLE, MISMATCH, DAMAGED = "verified", "unverifiable", "mismatch", "damaged"


@dataclass(frozen=True)
class Verdict:
    status: str  # verified | unverifiable | mismatch | damaged
    note: str  # why, in a few words ("content sha256 matches", "checksum mismatch (...)")
    content: bytes = b""  # the decompressed file (empty when damaged)
    sha256: str = ""  # of the content, when it was computed
    md5: str = ""  # of the raw file, when it was computed (gzip files only)

    @property
    def ok(self) -> bool:
        return self.status == VERIFIED


class DigestCache:
    """Digests already computed, keyed by everything a change to the file's content would change."""

    def __init__(self, entries: dict | None = None, file: Path | None = None):
        self.entries = entries if entries is not None else {}
        self.file = file
        self.changed = False

    @classmethod
    def load(cls) -> DigestCache:
        file = paths.cache_dir() / CACHE_NAME
        try:
            entries = json.loads(file.read_text())
        except (OSError, ValueError):
            entries = {}
        return cls(entries if isinstance(entries, dict) else {}, file)

    @staticmethod
    def key(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def get(self, path: Path, st: os.stat_result) -> dict:
        entry = self.entries.get(str(path))
        return entry if isinstance(entry, dict) and entry.get("stat") == self.key(st) else {}

    def put(self, path: Path, st: os.stat_result, **digests: str) -> None:
        entry = {**self.get(path, st), **{k: v for k, v in digests.items() if v}, "stat": self.key(st)}
        if self.entries.get(str(path)) != entry:
            self.entries[str(path)] = entry  # one entry per path: a changed file replaces its old entry
            self.changed = True

    def save(self) -> None:
        if not (self.changed and self.file):
            return
        try:
            atomic_write(self.file, json.dumps(self.entries))
            self.changed = False
        except OSError:
            pass  # a read-only cache only costs a re-hash next time


def _read(path: Path) -> tuple[bytes, os.stat_result]:
    fd = open_regular(path, idx.MAX_IDX_BYTES, DataError)  # a named pipe or a 20 GB file is refused, not read
    st = os.fstat(fd)  # the stat of exactly what is read
    return read_open(fd, path, idx.MAX_IDX_BYTES, DataError), st


def inspect(path: str | os.PathLike, sha256: str | None, archive_md5: str | None, cache: DigestCache | None = None,
            require_gzip: bool = False, digests: bool = True) -> Verdict:
    """Read one file and check it against the known digests; the status says what was found.

    digests=False skips hashing when nothing is expected (your own files): the verdict is then unverifiable.
    """
    path = Path(path).absolute()
    raw, st = _read(path)
    gz = raw[:2] == idx.GZIP_MAGIC
    if require_gzip and not gz:
        return Verdict(DAMAGED, "not valid gzip (the server sent something else, such as an HTML page)")
    try:
        content = idx.gunzip(raw) if gz else raw
    except ValueError as exc:
        return Verdict(DAMAGED, f"not valid gzip ({exc})")
    if not (sha256 or archive_md5 or digests):
        return Verdict(UNVERIFIABLE, "no reference checksum for this dataset", content)
    cached = cache.get(path, st) if cache else {}
    # content sha256 always: to verify, or to recognise another dataset's file where only archive md5s are known;
    # the archive md5 only for gzip files that need it (expected, or to recognise a file that failed its sha256)
    digest = cached.get("sha256") or idx.sha256(content)
    md5 = ""
    if gz and (archive_md5 or digest != sha256):
        md5 = cached.get("md5") or hashlib.md5(raw).hexdigest()
    if cache:
        cache.put(path, st, sha256=digest, md5=md5)
    if sha256:
        if digest != sha256:
            return Verdict(MISMATCH, f"checksum mismatch (content sha256 {digest[:12]}..., expected {sha256[:12]}...)",
                           content, digest, md5)
        return Verdict(VERIFIED, "content sha256 matches", content, digest, md5)
    if archive_md5:
        if not gz:
            return Verdict(UNVERIFIABLE, "publisher lists only archive checksums; keep the .gz files to verify",
                           content, digest)
        if md5 != archive_md5:
            return Verdict(MISMATCH, f"checksum mismatch (archive md5 {md5[:12]}..., expected {archive_md5[:12]}...)",
                           content, digest, md5)
        return Verdict(VERIFIED, "archive md5 matches", content, digest, md5)
    return Verdict(UNVERIFIABLE, "no reference checksum for this dataset", content, digest, md5)


def identify(verdict: Verdict) -> tuple[DatasetSpec, str] | None:
    """The known dataset file (spec, role) whose digest this file has, if any."""
    for spec in DATASETS.values():
        for role, digest in spec.sha256.items():
            if verdict.sha256 == digest:
                return spec, role
        for role, digest in spec.archive_md5.items():
            if verdict.md5 == digest:
                return spec, role
    return None


def check_file(path: Path, spec: DatasetSpec, role: str, cache: DigestCache | None, advice: str) -> Verdict:
    """inspect() against the spec's digests for this role, then require() it (raises on a wrong file)."""
    verdict = inspect(path, spec.sha256.get(role), spec.archive_md5.get(role), cache, digests=spec.checksums)
    return require(verdict, path, spec, role, advice)


def require(verdict: Verdict, path: Path, spec: DatasetSpec, role: str, advice: str) -> Verdict:
    """Pass a verified or unverifiable file; a damaged, mismatching or recognisably other file is a DataError.

    `advice` is what to do about a wrong folder, phrased for the command at hand (it names that command's options).
    """
    wanted = f"{spec.name} {STEMS[role]}"
    if verdict.status == DAMAGED:
        raise DataError(f"{path}: {verdict.note}: the file is damaged; delete it and fetch it again ({advice})")
    other = identify(verdict) if spec.checksums else None  # your own files may well be a copy of MNIST
    if other and (other[0].name, other[1]) != (spec.name, role):
        # A valid file of another dataset (or another split): the file is fine, the folder (or name) is not.
        raise DataError(
            f"{path}: checksum mismatch: this is the {other[0].name} {STEMS[other[1]]}, not the {wanted}; "
            f"the file is fine, keep it: {advice}"
        )
    if verdict.status == MISMATCH:
        raise DataError(
            f"{path}: {verdict.note}: not the {wanted} nor any known dataset's file, so a damaged copy or other "
            f"data. A damaged copy: delete it and fetch it again; otherwise {advice}"
        )
    return verdict
