"""The one way digitlab writes a file it keeps (a temporary name in the same folder, fsync, rename), and the one
way it reads a file a person gives it (`read_limited`: bounded, whatever the file is).

A kill (or a full disk) during a write leaves the previous file intact and no half-written file under the
real name. Every file digitlab keeps goes through here: config.toml, run.json, summary.json, checkpoints,
plots, CSV, exports, downloads. An OSError names the file it was writing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # make the rename itself durable (not every filesystem allows it)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temporary_name(path: Path) -> Path:
    """A hidden name beside `path`, unique to this process (and thread-safe enough for one writer per file)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def _publish(path: Path, tmp: Path) -> Iterator[None]:
    """The body writes `tmp`; then fsync it and rename it over `path`. An OSError names `path` (the file the person
    knows), and the temporary never outlives the call, whatever happens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            yield
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            if exc.filename is None or str(exc.filename) == str(tmp):
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            raise
    finally:
        with contextlib.suppress(OSError):  # best effort: on a read-only mount even a missing file's unlink fails
            tmp.unlink()
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary file that appears under `path` only once it is complete and on disk."""
    path = Path(path)
    tmp = temporary_name(path)
    with _publish(path, tmp), open(tmp, "wb") as fh:
        yield fh


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write bytes (or UTF-8 text) to `path` atomically."""
    with atomic_open(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, default=str) + "\n")


def atomic_save(path: str | os.PathLike, save: Callable[[Path], None]) -> Path:
    """For writers that want a file name (matplotlib, torch.onnx, torch.jit): `save(tmp)`, fsync, rename.

    The temporary name keeps the real suffix, so a writer that picks its format by suffix still works.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    with _publish(path, tmp):
        save(tmp)
    return path


def move(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Move a kept file to another folder of the same filesystem in one rename: at every moment it is under exactly
    one of the two names (never both, never neither), and both folders' entries are made durable. `dst` is replaced
    if it exists (callers that must not replace check first)."""
    src, dst = Path(src), Path(dst)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    _fsync_dir(src.parent)
    return dst


MB = 1024 * 1024
_NOT_REGULAR = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str:
    """What a path that is not a regular file is, for a message ("a named pipe", ...)."""
    return next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")


def _limit_text(limit: int) -> str:
    return f"{limit / MB / 1024:g} GB" if limit >= 1024 * MB else f"{limit / MB:g} MB"


def open_regular(path: str | os.PathLike, limit: int, error: Callable[[str], Exception]) -> int:
    """A read-only descriptor of a file a person named, once it is known to be a regular file of at most `limit`
    bytes: a device (/dev/zero), a named pipe nobody writes to, a socket or a folder is refused at once (opened
    non-blocking, so nothing hangs), and so is a file whose size is over the limit (nothing of it read).
    Every failure is `error(one line)` naming the file."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):  # Linux opens a folder read-only without complaint
            raise error(f"{path}: is a folder, not a file")
        raise error(f"{path}: is {_not_regular(st.st_mode)}, not a file saved on disk; give the path of a regular file")
    if st.st_size > limit:
        os.close(fd)
        raise error(f"{path}: over the {_limit_text(limit)} limit for this kind of file")
    return fd


def check_regular(path: str | os.PathLike, limit: int, error: Callable[[str], Exception]) -> os.stat_result:
    """open_regular's checks for a reader that opens the file itself (safetensors reads only a header): the stat."""
    fd = open_regular(path, limit, error)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def read_limited(path: str | os.PathLike, limit: int, error: Callable[[str], Exception]) -> bytes:
    """The bytes of a file a person named, never more than `limit`, whatever the file is (see open_regular); a
    regular file is read only up to `limit` + 1 bytes, since its size may be wrong (/proc, a file still growing)."""
    return read_open(open_regular(path, limit, error), path, limit, error)


def read_open(fd: int, path: str | os.PathLike, limit: int, error: Callable[[str], Exception]) -> bytes:
    """The bytes behind an open_regular descriptor (closed after), never more than `limit`."""
    with os.fdopen(fd, "rb", buffering=0) as fh:
        chunks, size = [], 0
        want = min(limit + 1, os.fstat(fd).st_size + 1)  # the whole file in one read; more only if it lied
        try:
            while size <= limit:
                chunk = fh.read(min(limit + 1 - size, want))
                want = MB
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > limit:
        raise error(f"{path}: over the {_limit_text(limit)} limit for this kind of file")
    return b"".join(chunks)


def blocking_file(path: str | os.PathLike) -> Path | None:
    """`path` or its nearest ancestor that exists, when that is not a folder (a regular file, a device, ...): the real
    reason that making a folder there fails with "File exists" or "Not a directory". None when it is a folder."""
    for parent in (Path(path), *Path(path).parents):
        try:
            if parent.exists():
                return None if parent.is_dir() else parent
        except OSError:
            return None
    return None


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError met while reading or writing a person's file: which file, what is wrong, what to do.
    A parent that is a file rather than a folder is named as such (the OS says only "File exists")."""
    where = exc.filename or "a file"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and exc.filename is not None:
        blocker = blocking_file(exc.filename)
        if blocker is not None:
            return (f"{where}: {blocker} is a file, not a folder, so nothing can be written under it; "
                    "choose another path or move that file")
    return f"{where}: {exc.strerror or exc}; check the path, its permissions and free space"


def refuse_overwrite(path: str | os.PathLike, force: bool, option: str) -> None:
    """The one rule for files a person names (or a command's default output name): an existing file is never
    silently replaced; --force says to. (Figures digitlab keeps inside a run folder are views of the run's own
    records and are redrawn.)"""
    from digitlab.errors import ConfigError

    path = Path(path)
    if not force and (path.exists() or path.is_symlink()):  # a dangling link is somebody's too
        raise ConfigError(f"{option} {path}: file exists; choose another name or add --force to replace it")
    try:
        mode = path.stat().st_mode
    except OSError:  # nothing there (or a dangling link, which --force may replace)
        return
    if not stat.S_ISREG(mode):  # not even with --force: replacing a pipe or a device node is never what was meant
        kind = "a folder" if stat.S_ISDIR(mode) else _not_regular(mode)
        raise ConfigError(f"{option} {path}: is {kind}, not a file to replace; name a file for the output")
