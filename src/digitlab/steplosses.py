"""losses.f32: every step's training loss of a run, kept whatever log_every is (seed 001's loss_history); and
PendingLosses, the steps' losses on the device until they are appended there.

Little-endian float32, entry i = global step i + 1. The training loop appends at each checkpoint (append-only: earlier
steps are never rewritten); a resumed run first cuts the file to the steps its checkpoint holds. NaN marks a step
whose loss was never recorded (a run from before this file existed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from digitlab.errors import CheckpointError
from digitlab.io import atomic_write, read_limited

LOSSES_FILE = "losses.f32"
MAX_LOSSES_BYTES = 4 << 30  # 4 bytes a step


def read_step_losses(run_dir: Path) -> np.ndarray:
    """Every step's training loss, (steps,) float32 (empty if the run has none yet); a torn last entry is dropped."""
    path = Path(run_dir) / LOSSES_FILE
    if not path.exists():
        return np.zeros(0, dtype=np.float32)
    data = read_limited(path, MAX_LOSSES_BYTES, CheckpointError)  # a device or a pipe here is refused, not read
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


class PendingLosses:
    """Per-step loss scalars kept on their device, not read back, in preallocated float32 chunks of CHUNK slots.

    Why slots and not a list of the loss tensors: a thousand small tensors that outlive their step, each allocated
    among the step's large temporaries, fragment the CPU heap, so every step's matmul outputs land on fresh pages
    (measured on the quickstart recipe: 8-31k page faults an epoch against 3k, 3-4% of the epoch's time;
    docs/benchmarks.md, "Speed, round four"). Writing a slot is one small device copy; the loss tensor itself dies
    with its step.
    """

    CHUNK = 1024

    def __init__(self) -> None:
        self._chunks: list[torch.Tensor] = []  # each (CHUNK,) float32 on the losses' device; only the last is partly filled
        self._filled = 0  # slots used in the last chunk

    def __len__(self) -> int:
        return (len(self._chunks) - 1) * self.CHUNK + self._filled if self._chunks else 0

    def append(self, loss: torch.Tensor) -> None:
        """Keep one step's loss (a 0-dim device tensor; nothing is read back)."""
        if not self._chunks or self._filled == self.CHUNK:
            self._chunks.append(torch.empty(self.CHUNK, dtype=torch.float32, device=loss.device))
            self._filled = 0
        self._chunks[-1][self._filled] = loss.detach()  # a value, never a part of the step's graph
        self._filled += 1

    def values(self, start: int = 0) -> torch.Tensor:
        """The kept losses from index `start` on, (len - start,) float32 on their device."""
        if not self._chunks:
            return torch.zeros(0)
        first = min(start // self.CHUNK, len(self._chunks) - 1)  # chunks wholly before `start` are not copied
        kept = self._chunks[first:]
        whole = kept[0] if len(kept) == 1 else torch.cat(kept)
        return whole[start - first * self.CHUNK : len(self) - first * self.CHUNK]

    def clear(self) -> None:
        """Forget every kept loss; the first chunk stays allocated for the steps to come."""
        del self._chunks[1:]
        self._filled = 0
