"""What every lesson is built from: the `Lesson` entry, the `Board` a lesson prints and plots on, the result.

A lesson is a plain function `run(board, **options) -> dict` (its key figures). It prints with `board.print`
(the same arguments as Python's print, so the code reads like the course's) and saves figures with
`board.save(fig, "name.png")`. The board hands each finished line to `emit` as it is produced (the CLI streams
them), keeps them for the result, and writes figures with the one atomic writer. Library code never prints.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from digitlab.io import atomic_save

Emit = Callable[[str], None]


@dataclass(frozen=True)
class Lesson:
    name: str  # what `digitlab lesson run NAME` takes
    title: str
    teaches: str  # one line: what a learner sees happen
    section: str  # the seed section it follows (seed 003, a PyTorch course's notes)
    run: Callable[..., dict]  # run(board, **options) -> key figures (JSON-able)
    options: tuple[str, ...] = ()  # the keyword options `run` takes beyond the board
    small: bool = True  # tiny tensors only: run on one CPU thread (see one_thread)


@dataclass(frozen=True)
class LessonResult:
    name: str
    lines: tuple[str, ...]  # everything the lesson printed, one entry per line
    files: tuple[str, ...]  # figures (and other files) written, as paths
    figures: dict[str, Any] = field(default_factory=dict)  # the key numbers, JSON-able

    def to_dict(self) -> dict:
        return {"name": self.name, "figures": self.figures, "files": list(self.files), "lines": list(self.lines)}


class Board:
    """Where a lesson prints and plots: lines go to `emit` as they complete; figures go to `out_dir`."""

    def __init__(self, out_dir: str | os.PathLike, emit: Emit | None = None, device: torch.device | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.emit = emit
        self.device = device if device is not None else torch.device("cpu")
        self.lines: list[str] = []
        self.files: list[str] = []
        self._partial = ""  # text printed with end="" that waits for its newline

    def print(self, *args: Any, sep: str = " ", end: str = "\n") -> None:
        """Exactly what Python's print would write (str() of each argument), split into lines."""
        buf = io.StringIO()
        print(*args, sep=sep, end=end, file=buf)  # formatting only: the text goes to the board, not stdout
        text = self._partial + buf.getvalue()
        *done, self._partial = text.split("\n")
        for line in done:
            self.lines.append(line)
            if self.emit is not None:
                self.emit(line)

    def flush(self) -> None:
        if self._partial:
            self.print()

    def save(self, fig, name: str) -> Path:
        """Write a matplotlib Figure as out_dir/name (atomically) and close it."""
        path = self.out_dir / name
        atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
        self.files.append(str(path))
        return path


def figure(*args, **kwargs):
    """A matplotlib Figure that needs no display and no pyplot state (safe in servers and threads)."""
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's global generator for a lesson and put the caller's generator state back afterwards, so a
    lesson prints the same numbers every time without disturbing anything else in the process."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def one_thread():
    """torch on one CPU thread for the duration, then the caller's count back. Tensors of a few hundred numbers
    gain nothing from more threads, and on a busy machine waiting for them made the diabetes lesson's DataLoader
    part 25x slower (24 s instead of 0.9 s for 20 epochs on 2 shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
