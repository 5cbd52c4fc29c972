"""Hostile class 3: kills at chosen moments. Each case trains in a child process that kills itself at one precise
point (tests/hostile/killer.py), then checks what was saved and continues with --resume: the history in
metrics.jsonl is whole (every step and epoch once, in order, with the values an uninterrupted run logs), the final
weights are bit-identical to the uninterrupted run's, and no checkpoint is ever torn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from digitlab import checkpoint
from digitlab.runs import MetricsLog, run_status
from tests.hostile.conftest import assert_nothing_lost, assert_ok, assert_one_line_error, hashes, invoke

KILLER = Path(__file__).with_name("killer.py")
# 2 epochs of 10 steps (600 examples, batch 64), resume checkpoints every 4 steps, one thread so the killed child,
# the resumed run and the reference run do the same float arithmetic
ARGS = ("--dataset", "idx", "--device", "cpu", "--epochs", "2", "--batch-size", "64", "--lr", "0.05",
        "--set", "optim.momentum=0.9", "--set", "train.log_every=1", "--threads", "1")


def args(idx_dir: Path, run: Path, *extra: str) -> list[str]:
    return ["train", *ARGS, "--data-dir", str(idx_dir), "--run-dir", str(run), "--ckpt-every", "4", *extra]


def child(moment: str | None, cli_args: list[str], expect: int = 0) -> subprocess.CompletedProcess:
    """digitlab in a fresh process (killing itself at `moment`, when given). Every run of this module trains in a
    fresh process started with one thread, so that all do the same float arithmetic: within the test process, state
    other tests leave behind can change the last bits of a loss."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIGITLAB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[2] / "src"), str(Path(__file__).parents[2])])}  # this tree, not an installed copy
    command = [str(KILLER), moment, "--"] if moment else ["-m", "digitlab"]
    proc = subprocess.run([sys.executable, *command, *cli_args], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == expect, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    return proc


def killed(moment: str, cli_args: list[str], expect: int = -signal.SIGKILL) -> subprocess.CompletedProcess:
    return child(moment, cli_args, expect)


def resumed(run: Path) -> None:
    child(None, ["train", "--resume", str(run)])


@pytest.fixture(scope="module")
def reference(idx_dir, tmp_path_factory) -> Path:
    """The same run, never interrupted."""
    run = tmp_path_factory.mktemp("reference") / "run"
    child(None, args(idx_dir, run))
    return run


def history(run: Path) -> list[tuple]:
    """What an uninterrupted run would also log: (kind, step, epoch, loss / test accuracy and loss)."""
    out = []
    for r in MetricsLog.objects(run / "metrics.jsonl"):
        if r["kind"] == "step":
            out.append(("step", r["step"], r["epoch"], r["loss"]))
        elif r["kind"] == "epoch":
            out.append(("epoch", r["step"], r["epoch"], r["test_acc"], r["test_loss"]))
    return out


def assert_same_as_reference(run: Path, reference: Path) -> None:
    assert history(run) == history(reference)  # whole: no step or epoch lost, none twice
    for name in ("last.safetensors", "best.safetensors"):
        mine, theirs = load_file(str(run / "checkpoints" / name)), load_file(str(reference / "checkpoints" / name))
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 2 and summary["steps"] == 20
    assert run_status(run) == "finished"


MOMENTS = ["after-epoch-record:1", "after-weights:1", "mid-resume-write:2", "at-step:7", "after-epoch-record:2"]


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_then_resume_is_whole_and_bit_identical(idx_dir, tmp_path, reference, moment):
    run = tmp_path / "run"
    killed(moment, args(idx_dir, run))
    assert run_status(run) == "interrupted"
    for name in ("last.safetensors", "best.safetensors", "resume.safetensors"):  # never torn, whatever the moment
        if (run / "checkpoints" / name).exists():
            checkpoint.read_weights(run / "checkpoints" / name)
    listed = invoke("runs", "--root", tmp_path, "--json")
    assert_ok(listed)
    assert [r["status"] for r in json.loads(listed.stdout)] == ["interrupted"]
    resumed(run)
    assert_same_as_reference(run, reference)


def test_sigterm_saves_then_resume_is_bit_identical(idx_dir, tmp_path, reference):
    run = tmp_path / "run"
    proc = killed("sigterm-at-step:7", args(idx_dir, run), expect=130)
    said = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and "--resume" in said[0], proc.stderr  # one line saying how to go on
    assert checkpoint.read_resume_header(run / "checkpoints" / "resume.safetensors")[1]["global_step"] == 7
    assert run_status(run) == "interrupted"
    resumed(run)
    assert_same_as_reference(run, reference)


def test_killed_between_summary_and_final_status_can_be_finished(idx_dir, tmp_path, reference):
    run = tmp_path / "run"
    killed("before-final-status", args(idx_dir, run))
    assert (run / "summary.json").exists() and run_status(run) == "interrupted"
    weights = hashes(run / "checkpoints")
    resumed(run)  # the work is complete: the run is only closed
    assert run_status(run) == "finished"
    assert_nothing_lost(weights, run / "checkpoints")
    assert_same_as_reference(run, reference)


def test_killed_before_any_checkpoint_refuses_resume_in_one_line(idx_dir, tmp_path):
    run = tmp_path / "run"
    killed("at-step:2", args(idx_dir, run)[:-2])  # no --ckpt-every: nothing saved before the first epoch ends
    assert run_status(run) == "interrupted"
    before = hashes(run)
    assert_one_line_error(invoke("train", "--resume", run), "resume.safetensors")
    assert_nothing_lost(before, run)


def test_a_torn_metrics_line_does_not_spoil_the_resume(idx_dir, tmp_path, reference):
    """A kill in the middle of a metrics.jsonl line (a half-written record) is dropped on resume."""
    run = tmp_path / "run"
    killed("after-resume-step:8", args(idx_dir, run))
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"kind": "step", "step": 9, "epo')
    resumed(run)
    assert_same_as_reference(run, reference)


def test_truncate_after_drops_records_of_epochs_the_checkpoint_has_not_completed(tmp_path):
    """The runs.py half of the after-epoch-record:2 fix: a checkpoint at step 20 that completed 1 epoch does not hold
    epoch 2's record, though it was logged at step 20 too."""
    path = tmp_path / "metrics.jsonl"
    records = [{"kind": "step", "step": 10, "epoch": 1}, {"kind": "epoch", "step": 10, "epoch": 1},
               {"kind": "step", "step": 20, "epoch": 2}, {"kind": "epoch", "step": 20, "epoch": 2},
               {"kind": "step", "step": 21, "epoch": 3}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"kind": "st')  # and a torn last line
    MetricsLog.truncate_after(path, 20, epochs_done=1)
    assert MetricsLog.objects(path) == records[:3]
    MetricsLog.truncate_after(path, 20)  # without it: by step alone, as before
    assert MetricsLog.objects(path) == records[:3]
