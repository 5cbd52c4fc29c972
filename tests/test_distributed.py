"""torchrun + DDP on CPU (gloo over 127.0.0.1): two processes == one process with the same global batch."""

import json
import os
import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

from digitlab import config as cfgmod
from digitlab.recipes import load_recipe
from digitlab.training.engine import resume, train

ARGS = ["--dataset", "idx", "--device", "cpu", "--model", "mlp", "--epochs", "2", "--batch-size", "32",
        "--lr", "0.05", "--set", "optim.momentum=0.9", "--set", "data.limit=256", "--set", "train.log_every=1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(idx_dir, run, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           "-m", "digitlab", "train", *ARGS, "--data-dir", str(idx_dir), "--run-dir", str(run), "--json", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def single_config(idx_dir, *extra):
    return cfgmod.with_overrides(load_recipe("quickstart").config, [
        "data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "model.name=mlp", "train.epochs=2",
        "train.batch_size=32", "optim.lr=0.05", "optim.momentum=0.9", "data.limit=256", "train.log_every=1",
        *extra])


def assert_same_weights(a, b):
    wa = load_file(str(a / "checkpoints" / "last.safetensors"))
    wb = load_file(str(b / "checkpoints" / "last.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert not k.startswith("module."), k
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), (k, (wa[k] - wb[k]).abs().max())


def test_two_processes_match_one(idx_dir, tmp_path):
    result = torchrun(idx_dir, tmp_path / "ddp")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # only rank 0 prints the summary
    assert summary["world_size"] == 2 and summary["steps"] == 16
    train(single_config(idx_dir), run_dir=tmp_path / "single")
    assert_same_weights(tmp_path / "ddp", tmp_path / "single")
    rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in rows if r["kind"] == "step"]) == 16  # rank 0 alone wrote metrics


def test_resume_with_a_different_number_of_processes(idx_dir, tmp_path):
    result = torchrun(idx_dir, tmp_path / "ddp", "--max-steps", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = resume(tmp_path / "ddp")  # one process continues what two started
    assert resumed["steps"] == 16
    train(single_config(idx_dir), run_dir=tmp_path / "single")
    assert_same_weights(tmp_path / "ddp", tmp_path / "single")


def test_gloo_interface_is_left_alone_on_one_host(monkeypatch):
    from digitlab import distributed

    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert distributed.choose_gloo_interface() is None and "GLOO_SOCKET_IFNAME" not in os.environ
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "eth7")  # the user's choice wins
    assert distributed.choose_gloo_interface() == "eth7"


def test_a_lost_peer_reads_as_one_line():
    from digitlab import distributed

    exc = RuntimeError("[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [10.0.0.2]:5: "
                       "Connection reset by peer. This is typically caused by a remote worker hanging\nmore")
    assert distributed.is_peer_failure(exc) and not distributed.is_peer_failure(ValueError("bad"))
    line = str(distributed.lost_peer(distributed.Dist(1, 2, 0), exc, 7, 60, "runs/x"))
    assert "\n" not in line and "pair.cc" not in line and "Connection reset by peer" in line and "step 7" in line
