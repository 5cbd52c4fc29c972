"""The process around the commands: --version, a reader that closes the pipe, a deliberate stop (SIGTERM)."""

import json
import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

import digitlab
from digitlab.cli import app
from digitlab.runs import MetricsLog

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"digitlab {digitlab.__version__} (torch ")
    assert "Python" in result.stdout


def train_process(idx_dir, name: str, stdout, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "digitlab", "train", "--dataset", "idx", "--data-dir", str(idx_dir),
                             "--device", "cpu", "--epochs", "500", "--name", name, "--set", "train.log_every=1"],
                            stdout=stdout, stderr=stderr, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_train_piped_into_head_is_not_a_failure(idx_dir, isolated_env):
    # `digitlab train ... | head -c 600`: head leaves after 600 bytes; the run is saved, not failed
    train = train_process(idx_dir, "piped", subprocess.PIPE)
    head = subprocess.run(["head", "-c", "600"], stdin=train.stdout, capture_output=True, timeout=120)
    train.stdout.close()
    stderr = train.stderr.read().decode()
    assert train.wait(timeout=120) == 141, stderr
    assert len(head.stdout) == 600
    assert "error" not in stderr.lower() and "Traceback" not in stderr and "Exception ignored" not in stderr
    run = json.loads((isolated_env / "runs" / "piped" / "run.json").read_text())
    assert run["status"] == "interrupted" and run["reason"] == "output closed"
    assert (isolated_env / "runs" / "piped" / "checkpoints" / "resume.safetensors").exists()


def test_sigterm_stop_prints_a_plain_line_and_exits_130(idx_dir, isolated_env):
    train = train_process(idx_dir, "stopped", subprocess.DEVNULL)
    metrics = isolated_env / "runs" / "stopped" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and len(MetricsLog.objects(metrics)) < 3:
        time.sleep(0.05)
    train.send_signal(signal.SIGTERM)
    stderr = train.communicate(timeout=120)[1].decode()
    assert train.returncode == 130
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "(SIGTERM) at step" in lines[-1] and "saved. Resume with: digitlab train --resume" in lines[-1]
    assert "error:" not in stderr and "Traceback" not in stderr
