"""Where things live on disk: the data folder and the runs folder."""

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
