"""Run `digitlab ARGS...` and kill this very process at a chosen moment (the crash-safety battery's driver).

    python tests/hostile/killer.py MOMENT -- digitlab-args...

MOMENT is one of (N counts from 1):
    after-epoch-record:N   SIGKILL right after epoch N's record reaches metrics.jsonl, before its checkpoints
    after-weights:N        SIGKILL after epoch N's last/best checkpoints, before its resume checkpoint
    after-resume-step:N    SIGKILL right after the resume checkpoint written at global step N
    mid-resume-write:N     SIGKILL half-way through writing the Nth resume checkpoint (a torn temporary file)
    before-final-status    SIGKILL after summary.json is written, before run.json says how the run ended
    at-step:N              SIGKILL after optimizer step N, whatever was saved
    sigterm-at-step:N      SIGTERM to itself after step N (the loop stops, saves, and exits 130)
The patches wrap digitlab's own functions; nothing else about the run changes.
"""

from __future__ import annotations

import os
import signal
import sys


def die(sig: int = signal.SIGKILL) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), sig)


def install(moment: str) -> None:
    from digitlab import io, runs
    from digitlab.training import book, loop

    what, _, n = moment.partition(":")
    n = int(n or 0)
    if what == "after-epoch-record":
        real_log = book.RunBook.log

        def log(self, record):
            real_log(self, record)
            if record.kind == "epoch" and record.epoch == n:
                die()
        book.RunBook.log = log
    elif what == "after-weights":
        real_weights = book.RunBook.save_weights

        def save_weights(self, s, test_acc, best):
            real_weights(self, s, test_acc, best)
            if s.state.epoch == n:
                die()
        book.RunBook.save_weights = save_weights
    elif what == "after-resume-step":
        real_resume = book.RunBook.save_resume

        def save_resume(self, s):
            real_resume(self, s)
            if s.state.global_step == n:
                die()
        book.RunBook.save_resume = save_resume
    elif what == "mid-resume-write":
        from digitlab import checkpoint

        real_write, count = checkpoint.atomic_write, [0]

        def torn_write(path, data):
            if str(path).endswith("resume.safetensors"):
                count[0] += 1
                if count[0] == n:  # the bytes start landing in the temporary file, then the process dies
                    with open(io.temporary_name(path), "wb") as fh:
                        fh.write(data[: len(data) // 2])
                    die()
            return real_write(path, data)
        checkpoint.atomic_write = torn_write
    elif what == "before-final-status":
        real_status = runs.set_status

        def set_status(run_dir, status, **extra):
            if status in ("finished", "stopped"):
                die()
            real_status(run_dir, status, **extra)
        runs.set_status = set_status
    elif what in ("at-step", "sigterm-at-step"):
        real_step, steps = loop.train_step, [0]

        def train_step(*args, **kwargs):
            loss = real_step(*args, **kwargs)
            steps[0] += 1
            if steps[0] == n:
                die(signal.SIGTERM if what == "sigterm-at-step" else signal.SIGKILL)
            return loss
        loop.train_step = train_step
    else:
        raise SystemExit(f"unknown moment {moment!r}")


if __name__ == "__main__":
    moment, sep, *args = sys.argv[1:]
    assert sep == "--"
    install(moment)
    from digitlab.cli import app

    sys.exit(app(args, prog_name="digitlab"))
