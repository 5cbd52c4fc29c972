"""Who trains a run folder now: an exclusive flock on the folder itself (RunLock), taken by `train` on the folder it
has just made (claim_new_run_dir) and by `train --resume`. Two commands training one run at once are how run folders
get mixed: with the lock, one trains and the other is refused in one line. The kernel drops the lock when its process
ends however it ends (SIGKILL included), so a lock never outlives its trainer and nothing needs cleaning up.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from digitlab.errors import ConfigError
from digitlab.runs import json_or_empty, new_run_dir


class RunLock:
    """This process trains the run folder: an exclusive flock on the folder itself. The kernel drops it when the
    process ends however it ends (SIGKILL included), so a lock never outlives its trainer. `release()` when done."""

    def __init__(self, run_dir: Path, what: str) -> None:
        self.fd: int | None = None
        try:
            fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return  # not openable as a folder: the caller's own checks say so
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = json_or_empty(run_dir / "run.json")
            raise ConfigError(f"{what} {run_dir}: another process (pid {info.get('pid', '?')}) is training this run "
                              "now; wait for it to end, or stop it first") from None
        except OSError:
            pass  # a filesystem without flock (some network mounts): go on unlocked, as before
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def claim_new_run_dir(name: str | None, run_dir: str | os.PathLike | None, recipe: str) -> tuple[Path, RunLock]:
    """new_run_dir, then held (RunLock) and checked still empty under the lock: of two `train --run-dir D` started at
    once, one trains and the other is refused; neither folder is mixed."""
    path = new_run_dir(name, run_dir, recipe)
    lock = RunLock(path, "--run-dir" if run_dir else "--name")
    if any(path.iterdir()):
        lock.release()
        raise ConfigError(f"--run-dir {path}: another process has just started a run in this folder; choose another")
    return path, lock
