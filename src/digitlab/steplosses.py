"""losses.f32: every step's training loss of a run, kept whatever log_every is (seed 001's loss_history).

Little-endian float32, entry i = global step i + 1. The training loop appends at each checkpoint (append-only: earlier
steps are never rewritten); a resumed run first cuts the file to the steps its checkpoint holds. NaN marks a step
whose loss was never recorded (a run from before this file existed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from digitlab.io import atomic_write

LOSSES_FILE = "losses.f32"


def read_step_losses(run_dir: Path) -> np.ndarray:
    """Every step's training loss, (steps,) float32 (empty if the run has none yet); a torn last entry is dropped."""
    path = Path(run_dir) / LOSSES_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return np.zeros(0, dtype=np.float32)
    return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").astype(np.float32)


def append_step_losses(run_dir: Path, values: np.ndarray) -> None:
    """Append losses (float32) and make them durable; appending never rewrites earlier steps."""
    with open(Path(run_dir) / LOSSES_FILE, "ab") as fh:
        fh.write(np.ascontiguousarray(values, dtype="<f4").tobytes())
        fh.flush()
        os.fsync(fh.fileno())


def truncate_step_losses(run_dir: Path, steps: int) -> None:
    """Make the file hold exactly `steps` losses before a resumed run appends: drop the steps its checkpoint does not
    hold; pad with NaN (unknown) where earlier steps were never recorded (a run from before this file existed)."""
    path = Path(run_dir) / LOSSES_FILE
    size = path.stat().st_size if path.exists() else 0
    if size > 4 * steps:
        atomic_write(path, path.read_bytes()[: 4 * steps])
    elif size < 4 * steps:
        append_step_losses(run_dir, np.full(steps - size // 4, np.nan, dtype=np.float32))
