"""Download dataset files from mirrors: timeouts, a progress callback, temp file + verify + rename, a lock.

A file is moved into place only after its *decompressed content* matches the known checksum (or, where
the publisher lists only the archive's MD5, after the archive matches that). A failure or a mismatch
moves on to the next mirror. A file lock makes two processes fetching into the same folder take turns;
the second finds the files already there and verified, and downloads nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
from filelock import FileLock, Timeout

from digitlab.data import verify
from digitlab.errors import DataError
from digitlab.io import atomic_open, temporary_name

# progress(filename, bytes_done, bytes_total_or_None); called often, must be cheap
ProgressFn = Callable[[str, int, "int | None"], None]

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
# A mirror that trickles bytes can keep every single read under the read timeout; cap the whole file too.
FILE_DEADLINE_S = 600.0
LOCK_TIMEOUT_S = 900.0
CHUNK = 1 << 16


@dataclass(frozen=True)
class Wanted:
    """One file to fetch: its published name and how to recognise the right content."""

    filename: str  # e.g. "train-images-idx3-ubyte.gz"
    sha256: str | None  # of the decompressed content
    archive_md5: str | None  # of the published .gz, when that is all the publisher lists


def content_matches(path: Path, wanted: Wanted) -> tuple[bool, str]:
    """(ok, why not): the one verification routine (verify.inspect), which also insists on gzip here."""
    verdict = verify.inspect(path, wanted.sha256, wanted.archive_md5, require_gzip=wanted.filename.endswith(".gz"))
    if verdict.status == verify.UNVERIFIABLE:
        return False, "no checksum known to verify against"
    return verdict.ok, verdict.note


class _Rejected(Exception):
    """The downloaded bytes are not the wanted file: leave the atomic write without renaming."""


def _stream_to(url: str, fh: BinaryIO, name: str, progress: ProgressFn | None, timeouts: tuple[float, float],
               deadline_s: float) -> None:
    start = time.monotonic()
    with requests.get(url, stream=True, timeout=timeouts) as response:
        response.raise_for_status()
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        for chunk in response.iter_content(CHUNK):
            fh.write(chunk)
            done += len(chunk)
            if progress:
                progress(name, done, total)
            if time.monotonic() - start > deadline_s:
                raise TimeoutError(f"took longer than {deadline_s:.0f} s")
        fh.flush()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, (requests.exceptions.ReadTimeout, TimeoutError)):
        return f"read timeout ({exc})" if isinstance(exc, TimeoutError) else "read timeout"
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        # a read timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError(...))
        return "read timeout" if "timed out" in str(exc).lower() else "cannot connect"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def download_files(
    wanted: Sequence[Wanted],
    mirrors: Sequence[str],
    dest: Path,
    dataset: str,
    progress: ProgressFn | None = None,
    timeouts: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
    deadline_s: float = FILE_DEADLINE_S,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> dict[str, Path]:
    """Fetch every wanted file into `dest`, trying mirrors in order. Returns filename -> path.

    Files already in `dest` and verified are kept (nothing is downloaded twice). Raises DataError naming
    every source tried, with the reason each failed, and where to put the files by hand (the caller adds how
    to point its own command at them).
    """
    if not mirrors:
        raise DataError(f"no download mirrors known for '{dataset}'; put its four IDX files in {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(dest / ".download.lock"))
    try:
        lock.acquire(timeout=lock_timeout_s)
    except Timeout:
        raise DataError(
            f"{dest}: another process has held the download lock for {lock_timeout_s:.0f} s; "
            f"if none is running, delete {dest / '.download.lock'}"
        ) from None
    try:
        got: dict[str, Path] = {}
        for item in wanted:
            final = dest / item.filename
            if final.exists() and content_matches(final, item)[0]:
                got[item.filename] = final  # another process (or an earlier run) finished it
                continue
            failures: list[str] = []
            for mirror in mirrors:
                url = mirror.rstrip("/") + "/" + item.filename
                try:
                    # the one atomic writer: the file appears under its name only once complete, fsynced and
                    # verified (a rejection or an error leaves through atomic_open, which removes the temporary)
                    with atomic_open(final) as fh:
                        try:  # network errors are OSErrors too: describe them here, before atomic_open renames them
                            _stream_to(url, fh, item.filename, progress, timeouts, deadline_s)
                        except (requests.exceptions.RequestException, TimeoutError) as exc:
                            raise _Rejected(_describe(exc)) from None
                        ok, why = content_matches(temporary_name(final), item)
                        if not ok:
                            raise _Rejected(why)
                    got[item.filename] = final
                    break
                except _Rejected as exc:
                    failures.append(f"{url} ({exc})")
                except OSError as exc:  # writing the file failed (disk full, permissions): name it
                    failures.append(f"{url} ({exc.filename or final}: {exc.strerror or exc})")
            else:
                raise DataError(
                    f"could not download {dataset} file {item.filename}: tried "
                    + "; ".join(failures)
                    + f". Put the files there by hand ({dest})"
                )
        return got
    finally:
        lock.release()
