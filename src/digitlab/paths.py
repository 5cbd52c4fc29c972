"""Where things live on disk: the data folder and the runs folder; what a run or sweep folder may be named; whether a
process recorded in a run or a sweep is still alive."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache dir for digitlab: $XDG_CACHE_HOME/digitlab, else ~/.cache/digitlab."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "digitlab"


def data_home() -> Path:
    """Where downloads go: $DIGITLAB_DATA if set, else the cache dir."""
    env = os.environ.get("DIGITLAB_DATA")
    return Path(env).expanduser() if env else cache_dir()


def runs_root() -> Path:
    """Where run folders go by default: $DIGITLAB_RUNS if set, else ./runs."""
    return Path(os.environ.get("DIGITLAB_RUNS") or "runs")


NAME_MAX = 255  # bytes in one path component on the filesystems people use


def folder_name_problem(name: str) -> str | None:
    """Why `name` cannot be one folder under the runs folder (a run or sweep name), or None when it can: the one rule
    that `--name`, sweep names and the server's run names all follow."""
    if not name or name in (".", ".."):
        return "it must name a folder"
    if "/" in name or "\\" in name or "\x00" in name:
        return "no path separators (or NUL) in a name"
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        return f"longer than {NAME_MAX} bytes"
    return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs (one we may not signal counts as alive; 0 or nonsense: not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
