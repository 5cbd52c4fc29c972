"""Whether code recorded in a checkpoint may run: the user's trust list, and `--trust-code` for one command.

A checkpoint of a run trained on the user's own network carries that network's Python file. To whoever loads it,
that file is somebody else's program (as Hugging Face's `trust_remote_code` treats a model's code): it runs only
when its sha256 is in this user's trust list, or the command was given `--trust-code`. digitlab adds a file's
sha256 to the list when this user trains with it, and when they run `digitlab trust RUN`.

The list is a JSON file, $XDG_CONFIG_HOME/digitlab/trusted-code.json (default ~/.config/digitlab/), written
atomically: {sha256: {"ref": ..., "file": ..., "files": [every path it was trusted at], "added": ISO time,
"why": "trained" | "trusted"}}. The folders of those files are the only ones whose modules the code may import.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from digitlab.contract import UserCode
from digitlab.errors import CheckpointError
from digitlab.io import write_json

_allow = threading.local()  # --trust-code for the command running in this thread (and the server's workers)
_allow_all = False  # `digitlab serve --trust-code`: for the whole process


class UntrustedCodeError(CheckpointError):
    """A checkpoint's model is code that has not been trusted; the message says how to trust it."""


def trust_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "digitlab" / "trusted-code.json"


def _read() -> dict[str, dict[str, Any]] | None:
    """The trust list's entries; {} when there is none yet; None when the file is there but damaged."""
    path = trust_file()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else None


def trusted_list() -> dict[str, dict[str, Any]]:
    """The trust list (empty when there is none yet; a damaged one trusts nothing, and writing to it is refused)."""
    return _read() or {}


def _writable() -> dict[str, dict[str, Any]]:
    entries = _read()
    if entries is None:
        raise CheckpointError(f"{trust_file()}: the trust list is damaged (not a JSON object of sha256 entries); "
                              "repair it or move it aside, then trust the code again")
    return entries


def is_trusted(code: UserCode) -> bool:
    return bool(_allow_all or getattr(_allow, "on", False) or (code.sha256 and code.sha256 in trusted_list()))


def add(code: UserCode, why: str) -> bool:
    """Put the code's sha256 on the trust list (and its file among the places it is trusted at); False when both
    were there already (or there is no source)."""
    if not code.sha256:
        return False
    entries = _writable()
    entry = entries.get(code.sha256)
    if entry is not None:
        if code.file in trusted_files(entry) or not code.file:
            return False
        entry["files"] = [*trusted_files(entry), code.file]
    else:
        entries[code.sha256] = {"ref": code.ref, "file": code.file, "files": [code.file] if code.file else [],
                                "added": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "why": why}
    try:
        trust_file().parent.mkdir(parents=True, exist_ok=True)
        write_json(trust_file(), entries)
    except OSError as exc:
        raise CheckpointError(f"{trust_file()}: cannot write the trust list ({exc.strerror or exc})") from None
    return True


def trusted_files(entry: dict[str, Any]) -> list[str]:
    """The paths an entry's code was trusted at (older entries hold one, as "file")."""
    files = entry.get("files")
    return [str(f) for f in files] if isinstance(files, list) else [str(entry.get("file", ""))]


def remove(sha256: str) -> bool:
    entries = _writable()
    if sha256 not in entries:
        return False
    del entries[sha256]
    write_json(trust_file(), entries)
    return True


def require(code: UserCode, source: str) -> None:
    """Refuse, in one line, to run code that has not been trusted (naming the file, the class and the sha256)."""
    if not is_trusted(code):
        raise UntrustedCodeError(
            f"{source}: its model is code ({code.display}, sha256 {code.sha256[:16]}...) that has not been trusted "
            "here; read it (`digitlab trust RUN --show`), then `digitlab trust RUN` or pass --trust-code")


@contextlib.contextmanager
def allowing(on: bool = True) -> Iterator[None]:
    """`--trust-code` for the duration of one command (this thread)."""
    before = getattr(_allow, "on", False)
    _allow.on = before or on
    try:
        yield
    finally:
        _allow.on = before


def allow_for_process() -> None:
    """`digitlab serve --trust-code`: every model the server loads may run its recorded code."""
    global _allow_all
    _allow_all = True
