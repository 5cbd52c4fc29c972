"""`--jobs N`: N worker processes of digitlab itself (`python -m digitlab sweep worker DIR --index K`), each
running trials from the same study until the sweep has its number. Processes, not threads: each trial's
training owns its interpreter, its signal handlers and its torch threads (CPU cores are split evenly).

The parent only watches: it polls the study for finished trials (report.summarize) and keeps each worker's
last stderr lines, so a worker that fails can be reported with its own error line.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Worker:
    index: int
    process: subprocess.Popen
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))  # last stderr lines

    def last_error(self) -> str:
        lines = [line for line in self.tail if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        return (errors or lines or [f"exit code {self.process.returncode}"])[-1]


def _drain(worker: Worker) -> None:
    assert worker.process.stderr is not None
    for line in worker.process.stderr:
        worker.tail.append(line.rstrip("\n"))


def spawn(sweep_dir: str | os.PathLike, jobs: int) -> list[Worker]:
    """Start `jobs` worker processes on the sweep; torch threads split the machine's cores between them."""
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:  # two workers on two cores: one thread each, not two fighting over both
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    workers = []
    for index in range(jobs):
        cmd = [sys.executable, "-m", "digitlab", "sweep", "worker", str(Path(sweep_dir)), "--index", str(index)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=env)
        worker = Worker(index, proc)
        threading.Thread(target=_drain, args=(worker,), daemon=True).start()
        workers.append(worker)
    return workers


def running(workers: list[Worker]) -> bool:
    return any(w.process.poll() is None for w in workers)


def stop(workers: list[Worker], wait_seconds: float = 60.0) -> None:
    """Ask each live worker to stop like Ctrl-C does (finish the step, mark the trial failed), then wait.

    A Ctrl-C at the terminal reaches the workers too (one process group): give them a moment to stop on that
    before signalling again (a second SIGINT stops a worker without waiting for its step to finish).
    """
    for w in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            w.process.wait(5)
    for w in workers:
        if w.process.poll() is None:
            w.process.send_signal(signal.SIGINT)
    for w in workers:
        try:
            w.process.wait(wait_seconds)
        except subprocess.TimeoutExpired:
            w.process.terminate()
            w.process.wait()
