"""Hostile class 1: concurrency. Two `train` into one run at once (one wins, the other says so, the folder holds one
run); `train --resume` of a run another process is still training (refused while it lives, accepted once it is
gone, even after SIGKILL); two `data fetch --from` into one fresh data home; `runs rm` of a run `serve` serves (the
next request is a 404 naming it, never a 500); a checkpoint replaced while `serve` holds its model (the next request
answers with the new weights); a run finishing while `serve` lists it."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from digitlab.errors import ConfigError
from digitlab.runlock import RunLock, claim_new_run_dir
from digitlab.serve.app import create_app
from tests.hostile.conftest import assert_nothing_lost, assert_ok, assert_one_line_error, hashes, invoke, train_args
from tests.serve.conftest import live_server
from tests.test_preprocess import png_bytes, stroke_image

DIGIT = png_bytes(stroke_image())
SRC = str(Path(__file__).resolve().parents[2] / "src")


def spawn(*args: str | Path, env: dict | None = None) -> subprocess.Popen:
    full = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "digitlab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full, stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s: {err[-500:]}")
    return proc.returncode, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def one_run_in(folder: Path) -> None:
    """The folder holds one run, not two mixed: one config, each step logged once, a finished status."""
    steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()
             if json.loads(line).get("kind") == "step"]
    assert steps and len(steps) == len(set(steps)), steps
    assert json.loads((folder / "run.json").read_text())["status"] in ("finished", "stopped")  # stopped: --max-steps
    assert json.loads((folder / "summary.json").read_text())["run"] == folder.name


# ------------------------------------------------------------------------------------- train x train
def test_run_lock_is_exclusive_and_released(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    held = RunLock(folder, "--resume")
    with pytest.raises(ConfigError, match="another process"):
        RunLock(folder, "--resume")
    held.release()
    RunLock(folder, "--resume").release()


def test_claiming_a_folder_another_process_has_just_filled_is_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.toml").write_text("")  # what the winner of a race writes first
    with pytest.raises(ConfigError, match="not empty|another process"):
        claim_new_run_dir(None, folder, "")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--name", "--run-dir"])
def test_two_trains_into_one_run_at_once(idx_dir, tmp_path, how):
    runs_root = tmp_path / "runs"
    target = ["--name", "same"] if how == "--name" else ["--run-dir", runs_root / "same"]
    if how == "--run-dir":
        (runs_root / "same").mkdir(parents=True)  # an empty folder made ready: both see it empty
    args = ["train", "--dataset", "idx", "--data-dir", idx_dir, "--device", "cpu", "--max-steps", "3", *target]
    env = {"DIGITLAB_RUNS": str(runs_root), "DIGITLAB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    procs = [spawn(*args, env=env) for _ in range(2)]
    results = [finish(p) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    loser = next(err for code, _, err in results if code != 0)
    line = error_line(loser)
    assert "already exists" in line or "another process" in line or "not empty" in line, line
    one_run_in(runs_root / "same")


@pytest.mark.slow
def test_resume_while_another_process_trains_is_refused_until_it_is_gone(idx_dir, tmp_path):
    run = tmp_path / "run"
    trainer = spawn(*train_args(idx_dir, run, "--epochs", "200", "--batch-size", "8", "--ckpt-every", "5"),
                    env={"OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 90
        while not (run / "checkpoints" / "resume.safetensors").exists():
            assert trainer.poll() is None and time.monotonic() < deadline, trainer.stderr.read() if trainer.stderr else ""
            time.sleep(0.2)
        before_cfg = (run / "config.toml").read_bytes()
        result = invoke("train", "--resume", run, "--data-dir", idx_dir, "--device", "cpu")
        line = assert_one_line_error(result, "another process", str(trainer.pid))
        assert "--resume" in line and (run / "config.toml").read_bytes() == before_cfg
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(30)
    # gone (and killed: nothing released the lock but the kernel): now --resume goes on
    resumed = invoke("train", "--resume", run, "--data-dir", idx_dir, "--device", "cpu", "--max-steps", "1")
    assert "another process" not in (resumed.stderr or "")


# ------------------------------------------------------------------------------------- data fetch x data fetch
REAL_MNIST = Path("/root/.cache/digitlab/mnist") if Path("/root/.cache/digitlab/mnist").is_dir() else \
    Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_MNIST / "train-images-idx3-ubyte.gz").exists(), reason="no MNIST copy on this machine")
def test_two_fetch_from_into_one_fresh_data_home(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "DIGITLAB_OFFLINE": "1"}
    before = hashes(REAL_MNIST)
    procs = [spawn("data", "fetch", "mnist", "--from", REAL_MNIST, "--json", env=env) for _ in range(2)]
    results = [finish(p, 240) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    info = subprocess.run([sys.executable, "-m", "digitlab", "data", "info", "mnist", "--strict-data", "--json"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC, **env}, timeout=120)
    assert info.returncode == 0, info.stderr
    installed = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "idx" in p.name]
    assert len(installed) == 4 and not [p for p in (tmp_path / "cache").rglob("*.tmp-*")], installed
    assert_nothing_lost(before, REAL_MNIST)


# ------------------------------------------------------------------------------------- serve x the runs it serves
def post(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=DIGIT, headers={"Host": "localhost", "Content-Type": "image/png"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def get(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_runs_rm_while_serve_serves_it(trained, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained, root / "doomed")
    with live_server(create_app(root)) as port:
        assert post(port, "/api/predict?run=doomed")[0] == 200  # loaded and cached
        assert_ok(invoke("runs", "rm", "doomed", "--root", root, "--yes"))
        for path in ("/api/predict?run=doomed", "/api/predict"):
            status, body = post(port, path)
            assert status in (404, 409), (path, status, body)
            assert "doomed" in body["detail"] or "no trained runs" in body["detail"]
        status, body = get(port, "/api/runs/doomed")
        assert status == 404 and "doomed" in body["detail"]
        assert get(port, "/api/runs")[1]["runs"] == []


def test_checkpoint_replaced_while_serve_holds_its_model(trained, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained, root / "live")
    with live_server(create_app(root)) as port:
        status, first = post(port, "/api/predict?run=live")
        assert status == 200 and max(first["probabilities"]) > 0.2
        for ckpt in (root / "live" / "checkpoints").glob("*.safetensors"):  # new weights, written as digitlab does
            with safe_open(str(ckpt), "pt") as fh:
                meta = dict(fh.metadata())
            state = {k: v.zero_() for k, v in load_file(str(ckpt)).items()}
            tmp = ckpt.with_name("." + ckpt.name + ".new")
            save_file(state, str(tmp), metadata=meta)
            os.replace(tmp, ckpt)
        status, second = post(port, "/api/predict?run=live")
        assert status == 200
        assert second["probabilities"] == pytest.approx([0.1] * 10, abs=1e-4)  # all-zero weights: no preference


@pytest.mark.slow
def test_run_finishing_while_serve_lists_it(idx_dir, tmp_path):
    root = tmp_path / "runs"
    with live_server(create_app(root)) as port:
        trainer = spawn(*train_args(idx_dir, root / "growing", "--epochs", "3", "--ckpt-every", "3"),
                        env={"OMP_NUM_THREADS": "1"})
        answers = []
        while trainer.poll() is None:
            status, body = get(port, "/api/runs")
            assert status == 200, body
            answers.append([r.get("status") for r in body["runs"]])
            if body["runs"]:
                assert post(port, "/api/predict?run=growing")[0] in (200, 404, 409)
            time.sleep(0.1)
        assert trainer.returncode == 0, trainer.stderr.read()
        final = get(port, "/api/runs")[1]["runs"]
        assert [r["status"] for r in final] == ["finished"] and len(answers) >= 3
        assert post(port, "/api/predict?run=growing")[0] == 200
