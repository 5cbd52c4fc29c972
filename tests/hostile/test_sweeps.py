"""Hostile class 2: sweeps under faults. Sweep files with an empty choice list, a log range at or below zero, a
reversed int range, an unknown key, a duplicate parameter, wrong types, `trials = 0`; `--trials 0` and negative;
`sweep show` on what is not a sweep; the study database truncated, emptied or not a database (show and --resume:
one line, the file left as it was); the sweep parent SIGKILLed mid-trial, then `--resume`; one `--jobs 2` worker
SIGKILLed; the disk filling up during a sweep (a small tmpfs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.conftest import assert_ok, assert_one_line_error, hashes, invoke

SRC = str(Path(__file__).resolve().parents[2] / "src")


def tiny(idx_dir: Path) -> list[str]:
    return ["--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu", "--epochs", "1",
            "--set", "data.limit=200", "--set", "data.val_size=40", "--set", "train.batch_size=32"]


FILES = {
    "empty-choice-list": ('[params]\n"model.name" = []\n', "at least two choices"),
    "log-range-at-zero": ('[params]\n"optim.lr" = "log:0:1"\n', "above zero"),
    "log-range-below-zero": ('[params]\n"optim.lr" = "log:-1:1"\n', "above zero"),
    "reversed-int-range": ('[params]\n"train.batch_size" = "int:64:8"\n', "range is empty"),
    "unknown-sweep-key": ('[params]\n"optim.lr" = "log:1e-3:1e-1"\n[sweep]\nbogus = 1\n', "bogus"),
    "unknown-table": ('[params]\n"optim.lr" = "log:1e-3:1e-1"\n[extra]\nx = 1\n', "extra"),
    "unknown-param-key": ('[params]\n"optim.nope" = "log:1e-3:1e-1"\n', "optim.nope"),
    "duplicate-param": ('[params]\n"optim.lr" = "log:1e-3:1e-1"\n"optim.lr" = "0.1,0.2"\n', "not valid TOML"),
    "duplicate-dotted-and-quoted": ('[params]\n"optim.lr" = "0.1,0.2"\noptim.lr = "0.3,0.4"\n', "junk.toml"),
    "trials-zero": ('[params]\n"optim.lr" = "0.1,0.2"\n[sweep]\ntrials = 0\n', "at least one trial"),
    "trials-negative": ('[params]\n"optim.lr" = "0.1,0.2"\n[sweep]\ntrials = -5\n', "at least one trial"),
    "trials-text": ('[params]\n"optim.lr" = "0.1,0.2"\n[sweep]\ntrials = "many"\n', "whole number"),
    "seed-float": ('[params]\n"optim.lr" = "0.1,0.2"\n[sweep]\nseed = 1.5\n', "whole number"),
    "sampler-number": ('[params]\n"optim.lr" = "0.1,0.2"\n[sweep]\nsampler = 3\n', "sampler"),
    "params-not-a-table": ('params = "optim.lr=0.1,0.2"\n', "junk.toml"),
    "not-toml": ("[params\n", "not valid TOML"),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_junk_sweep_files_are_refused_before_any_trial(idx_dir, tmp_path, case):
    text, words = FILES[case]
    junk = tmp_path / "junk.toml"
    junk.write_text(text)
    result = invoke("sweep", "--file", junk, *tiny(idx_dir), "--root", tmp_path / "out", "--name", "s")
    assert_one_line_error(result, words)
    assert not list((tmp_path / "out").glob("s/trial-*"))


@pytest.mark.parametrize("args,words", [
    (["--trials", "0"], "--trials"), (["--trials", "-3"], "--trials"),
    (["--param", "optim.lr=0.1,0.2", "--param", "optim.lr=0.3,0.4"], "twice"),
    (["--param", "model.name="], "two choices"), (["--param", "train.batch_size=int:64:8"], "range is empty"),
])
def test_bad_sweep_options(idx_dir, tmp_path, args, words):
    base = [] if "--param" in args else ["--param", "optim.lr=0.1,0.2"]
    result = invoke("sweep", *base, *args, *tiny(idx_dir), "--root", tmp_path, "--name", "s")
    assert_one_line_error(result, words)
    assert not (tmp_path / "s" / "trial-000").exists()


@pytest.mark.parametrize("what", ["empty-folder", "run-folder", "a-file", "missing", "dev-null"])
def test_sweep_show_on_what_is_not_a_sweep(trained, tmp_path, what):
    target = {"empty-folder": tmp_path, "run-folder": trained, "a-file": tmp_path / "f.txt",
              "missing": tmp_path / "nope", "dev-null": Path("/dev/null")}[what]
    if what == "a-file":
        target.write_text("x")
    assert_one_line_error(invoke("sweep", "show", target), "not a sweep")


@pytest.fixture(scope="module")
def finished_sweep(idx_dir, tmp_path_factory) -> Path:
    """A two-trial grid sweep (about 3 s), made once for the module; tests copy it before damaging it."""
    root = tmp_path_factory.mktemp("sweeps")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIGITLAB_OFFLINE", "1")
        result = invoke("sweep", "--param", "optim.lr=0.05,0.1", "--sampler", "grid", "--pruner", "none",
                        *tiny(idx_dir), "--root", root, "--name", "done")
    assert_ok(result)
    return root / "done"


@pytest.mark.parametrize("damage", ["truncated", "emptied", "not-a-database", "a-folder"])
def test_damaged_study_database(finished_sweep, tmp_path, damage):
    import shutil

    folder = shutil.copytree(finished_sweep, tmp_path / "s")
    db = folder / "study.db"
    if damage == "truncated":
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    elif damage == "emptied":
        db.write_bytes(b"")
    elif damage == "not-a-database":
        db.write_text("I am a text file\n" * 100)
    else:
        db.unlink()
        db.mkdir()
    before = hashes(folder)
    for args in (["sweep", "show", folder], ["sweep", "--resume", folder, "--trials", "3"]):
        assert_one_line_error(invoke(*args))
        assert not list(folder.glob("trial-002"))
    if damage != "emptied":  # an empty file is a valid empty SQLite database: Optuna may write its tables into it
        assert hashes(folder) == before


def spawn(*args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "digitlab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", **(env or {})})


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.communicate()[1][-800:]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def trained_a_step(trial: Path) -> bool:
    try:
        return '"kind": "step"' in (trial / "metrics.jsonl").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_parent_killed_mid_trial_then_resume(idx_dir, tmp_path):
    grid = ["--param", "optim.lr=0.02,0.05,0.1", "--sampler", "grid", "--pruner", "none"]
    proc = spawn("sweep", *grid, *tiny(idx_dir), "--set", "train.log_every=1", "--root", tmp_path, "--name", "s")
    try:
        wait_for(lambda: trained_a_step(tmp_path / "s" / "trial-000"), proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    result = invoke("sweep", "--resume", tmp_path / "s", "--json")
    assert_ok(result)
    data = json.loads(result.stdout)
    assert data["counts"].get("complete") == 3, data["counts"]  # the killed trial does not count: all 3 points ran
    assert sorted(t["params"]["optim.lr"] for t in data["trials"] if t["state"] == "complete") == [0.02, 0.05, 0.1]
    states = {t["trial"]: t["state"] for t in data["trials"]}
    assert states[0] in ("failed", "fail"), states


@pytest.mark.slow
def test_one_of_two_workers_killed(idx_dir, tmp_path):
    grid = ["--param", "optim.lr=0.02,0.05,0.1,0.2", "--sampler", "grid", "--pruner", "none", "--jobs", "2"]
    proc = spawn("sweep", *grid, *tiny(idx_dir), "--set", "train.log_every=1", "--root", tmp_path, "--name", "s")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    try:
        wait_for(lambda: any(trained_a_step(t) for t in (tmp_path / "s").glob("trial-*")), proc)
        workers = children.read_text().split()
        assert len(workers) == 2
        os.kill(int(workers[0]), signal.SIGKILL)
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the sweep hung after one of its workers was killed")
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and len(lines) == 1 and "worker" in lines[0], err[-800:]
    assert "Traceback" not in err
    result = invoke("sweep", "--resume", tmp_path / "s", "--json")
    assert_ok(result)
    assert json.loads(result.stdout)["counts"].get("complete") == 4


@pytest.mark.slow
def test_disk_full_during_a_sweep(idx_dir, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        result = invoke("sweep", "--param", "optim.lr=0.05,0.1,0.2", "--sampler", "grid", "--pruner", "none",
                        *tiny(idx_dir), "--root", mount, "--name", "s")
        line = assert_one_line_error(result)
        assert "space" in line.lower() or "full" in line.lower(), line
        assert not [p for p in mount.rglob("*.tmp-*")]  # no torn temporary file left behind
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
