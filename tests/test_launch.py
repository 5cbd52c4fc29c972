"""`digitlab torchrun`: torchrun's own parser and launcher, digitlab's command after the options, failures in one line."""

import os
import subprocess
import sys

import pytest

from digitlab.launch import parse
from tests import hosts
from tests.test_distributed import free_port


def test_the_first_word_after_the_options_is_digitlabs_command():
    args = parse(["--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.1", "--master-port", "29500",
                  "train", "--recipe", "best", "--set", "train.dist_timeout=30"])
    assert args.module and args.training_script == "digitlab" and args.nnodes == "2" and args.node_rank == 1
    assert args.training_script_args == ["train", "--recipe", "best", "--set", "train.dist_timeout=30"]


@pytest.mark.slow
@pytest.mark.skipif(hosts.unavailable() is None, reason="run on two hosts by tests/test_distributed_hosts.py here")
def test_a_port_nobody_listens_on_is_one_line_within_the_timeout():
    """Node 1 of 2 on loopback, its node 0 never started: the static rendezvous gives up after its timeout (where
    the tests cannot make hosts; where they can, the two-host test covers both forms)."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TORCH_CPP_LOG_LEVEL", None)
    done = subprocess.run([sys.executable, "-m", "digitlab", "torchrun", "--nnodes", "2", "--node-rank", "1",
                           "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port),
                           "--rdzv-conf", "timeout=2", "train", "--dataset", "mnist-sample"],
                          capture_output=True, text=True, timeout=120, env=env)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: torchrun: rendezvous at 127.0.0.1:{port} (static, node rank 1) failed"), lines


@pytest.mark.slow
def test_a_worker_error_is_the_workers_own_line_and_exit_code(idx_dir):
    done = subprocess.run([sys.executable, "-m", "digitlab", "torchrun", "--nnodes", "1", "--nproc-per-node", "1",
                           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "train", "--dataset", "idx",
                           "--data-dir", str(idx_dir), "--model", "nope"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: model.name 'nope'"), lines


def test_a_usage_mistake_is_one_line():
    from digitlab.errors import ConfigError

    with pytest.raises(ConfigError, match="unrecognized arguments: --bogus"):
        parse(["--bogus", "3", "train"])
    with pytest.raises(ConfigError, match="no digitlab command after torchrun's options"):
        parse(["--nnodes", "2"])
