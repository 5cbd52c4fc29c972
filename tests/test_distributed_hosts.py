"""torchrun across two hosts (network namespaces joined by a bridge; tests/hosts.py), gloo on CPU.

Both of the README's forms, in one run (each torchrun start costs seconds on a busy 2-core box): it starts in the
c10d form (`--rdzv-endpoint`, node 0 told to host the store), launched by `digitlab torchrun` (torchrun's own
launcher, failures in one line); each host has its own --run-dir (as if on its own
disk) and only rank 0's is made. The other node is killed mid-run: rank 0 ends within train.dist_timeout with one
line. Its last checkpoint is resumed by one process, and by two nodes in the static form (`--master-addr` of node
0); both end with the weights of one process trained without a break (float tolerance). An endpoint nobody
listens on fails within the rendezvous timeout, in one line. GLOO_SOCKET_IFNAME is never set here: digitlab picks
the interface.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time

import pytest

from digitlab.training.engine import resume, train
from tests import hosts as hostsmod
from tests.test_distributed import ARGS, assert_same_weights, single_config

WHY = hostsmod.unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY is not None, reason=WHY or "")]

LONG = [*ARGS[:ARGS.index("--epochs")], "--epochs", "12", *ARGS[ARGS.index("--epochs") + 2:],
        "--set", "train.ckpt_every=4", "--set", "train.loss_plot=false", "--set", "train.threads=1"]  # 96 steps
TIMEOUT = 10  # train.dist_timeout for these runs (the default is 60 s)


@pytest.fixture
def net():
    with hostsmod.Hosts(2) as made:
        yield made


def env() -> dict:
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("digitlab").__file__)))
    base = {k: v for k, v in os.environ.items() if k != "GLOO_SOCKET_IFNAME"}
    return {**base, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, base.get("PYTHONPATH", "")])}


def static_form(net, rank: int, port: int = 29511) -> list[str]:
    return ["--node-rank", str(rank), "--master-addr", net.addr(0), "--master-port", str(port)]


def c10d_form(net, rank: int) -> list[str]:
    # the endpoint is node 0's address, not its hostname: node 0 must be told that it hosts the store
    return ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"{net.addr(0)}:29400",
            *(["--rdzv-conf", "is_host=1"] if rank == 0 else [])]


TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # what `torchrun` runs
DIGITLAB_TORCHRUN = [sys.executable, "-m", "digitlab", "torchrun"]  # the same, failures in one line


def launch(net, tmp_path, form, digitlab_args, tag: str, launcher=TORCHRUN):
    """torchrun on both hosts; returns the two Popen objects (stdout/stderr in files under tmp_path)."""
    procs = []
    for rank in range(2):
        module = ["-m", "digitlab"] if launcher is TORCHRUN else []
        cmd = [*launcher, "--nnodes", "2", "--nproc-per-node", "1", *form(net, rank), *module, "train",
               *digitlab_args(rank)]
        out = open(tmp_path / f"{tag}-{rank}.out", "w")  # noqa: SIM115 (closed with the process)
        err = open(tmp_path / f"{tag}-{rank}.err", "w")  # noqa: SIM115
        procs.append(net.popen(rank, cmd, stdout=out, stderr=err, env=env()))
    return procs


def wait(procs, seconds: float = 120) -> None:
    for p in procs:
        p.wait(seconds)


def text(tmp_path, tag: str, rank: int, stream: str = "err") -> str:
    return (tmp_path / f"{tag}-{rank}.{stream}").read_text()


def fresh_args(idx_dir, tmp_path, args):
    return lambda rank: [*args, "--data-dir", str(idx_dir), "--run-dir", str(tmp_path / f"disk{rank}" / "run")]


def test_c10d_form_node_death_then_resume(net, idx_dir, tmp_path):
    args = fresh_args(idx_dir, tmp_path, [*LONG, "--set", f"train.dist_timeout={TIMEOUT}"])
    procs = launch(net, tmp_path, c10d_form, args, "c10d", launcher=DIGITLAB_TORCHRUN)
    start = time.monotonic()
    while not glob.glob(str(tmp_path / "disk*" / "run" / "checkpoints" / "resume.safetensors")):
        assert time.monotonic() - start < 90 and all(p.poll() is None for p in procs), text(tmp_path, "c10d", 0)[-2000:]
        time.sleep(0.1)
    # c10d numbers the nodes itself: find which host got rank 0 (the one whose disk has the run)
    main = 0 if (tmp_path / "disk0" / "run").exists() else 1
    assert not (tmp_path / f"disk{1 - main}" / "run").exists()
    net.kill_host(1 - main)  # the node without the run folder dies: every process on it, at once
    killed = time.monotonic()
    procs[main].wait(TIMEOUT + 30)
    took = time.monotonic() - killed
    assert procs[main].returncode != 0 and took < TIMEOUT + 30
    said = text(tmp_path, "c10d", main)
    lines = [line for line in said.splitlines() if line.startswith("error:")]
    # the worker's line first; when the dead node also hosted the c10d store, the launcher's line on that follows
    assert 1 <= len(lines) <= 2 and "lost contact with another process of the run" in lines[0], lines
    assert "Traceback" not in said and "frame #" not in said
    run = tmp_path / f"disk{main}" / "run"
    assert (run / "checkpoints" / "resume.safetensors").is_file()

    train(single_config(idx_dir, "train.epochs=12", "train.threads=1", "train.loss_plot=false"), run_dir=tmp_path / "single")
    one = tmp_path / "one-process"
    shutil.copytree(run, one)
    assert resume(one)["steps"] == 96  # one process continues what two nodes started
    assert_same_weights(one, tmp_path / "single")

    # two nodes again (the static form); every node reads the run folder (here: one filesystem; on real machines
    # a shared one or a copy), only rank 0 writes it
    again = launch(net, tmp_path, lambda n, r: static_form(n, r, 29512),
                   lambda rank: ["--resume", str(run), "--json"], "again")
    wait(again)
    assert [p.returncode for p in again] == [0, 0], text(tmp_path, "again", 0)[-2000:] + text(tmp_path, "again", 1)[-2000:]
    assert_same_weights(run, tmp_path / "single")


def test_an_endpoint_nobody_listens_on_fails_in_bounded_time_in_one_line(net, tmp_path):
    """Node 1's address, where nothing listens, in both forms at once (`digitlab torchrun`): one line each, within
    the rendezvous timeout asked for; the c10d form's says how a node at the endpoint hosts the store."""
    forms = {"c10d": ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"{net.addr(1)}:29400", "--rdzv-conf", "read_timeout=3"],
             "static": ["--node-rank", "1", "--master-addr", net.addr(1), "--master-port", "29401",
                        "--rdzv-conf", "timeout=3"]}
    start = time.monotonic()
    procs = {form: net.popen(0, [*DIGITLAB_TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", *args,
                                 "train", "--dataset", "mnist-sample"],
                             env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for form, args in forms.items()}
    for form, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0 and time.monotonic() - start < 60, form
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: torchrun: rendezvous at"), lines
        port = "29400" if form == "c10d" else "29401"
        assert f"({net.addr(1)}, {port})" in lines[0] and ("is_host=1" in lines[0]) == (form == "c10d"), lines
