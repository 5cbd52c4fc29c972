"""A sweep on a real PostgreSQL server on another host: hosts from tests/hosts.py, the server from tests/postgres.py.

Host 0 runs the server; hosts 1 and 2 run `digitlab sweep --storage postgresql://...` with the same --name (each
with its own --root, as if on its own disk); host 3 has nothing until it continues the sweep with
`--resume DIR --storage URL`. Each host has its own hostname, so a dead trial is found by the heartbeat
(DIGITLAB_SWEEP_HEARTBEAT=1: failed 4 s after its worker went silent), not by a local process check.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import hosts as hostsmod
from tests import postgres

WHY = hostsmod.unavailable() or postgres.unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY is not None, reason=WHY or "")]
TRIALS = 6
GRACE = 4  # 4 x DIGITLAB_SWEEP_HEARTBEAT


@pytest.fixture
def net():
    with hostsmod.Hosts(4) as made:
        yield made


@pytest.fixture
def server(net):
    made = postgres.Postgres(net, host=0)
    yield made
    made.close()


def env() -> dict:
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("digitlab").__file__)))
    return {**os.environ, "OMP_NUM_THREADS": "1", "DIGITLAB_SWEEP_HEARTBEAT": "1",
            "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def digitlab(*args) -> list[str]:
    return [sys.executable, "-m", "digitlab", *args]


def sweep_args(idx_dir, root, url) -> list[str]:
    return ["sweep", "--recipe", "quickstart", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
            "--param", "optim.lr=log:0.01:0.3", "--sampler", "random", "--pruner", "none", "--trials", str(TRIALS),
            "--epochs", "1", "--set", "model.name=mlp", "--set", "data.limit=300", "--set", "train.batch_size=16",
            "--set", "train.loss_plot=false", "--name", "pg", "--root", str(root), "--storage", url, "--json"]


def trial_dirs(root):
    return sorted((root / "pg").glob("trial-*"))


def test_two_workers_a_killed_one_and_a_third_host_share_one_study(net, server, idx_dir, tmp_path):
    disks = [tmp_path / f"disk{i}" for i in range(4)]
    workers = {i: net.popen(i, digitlab(*sweep_args(idx_dir, disks[i], server.url)), env=env(),
                            stdout=open(tmp_path / f"w{i}.out", "w"), stderr=open(tmp_path / f"w{i}.err", "w"))  # noqa: SIM115
               for i in (1, 2)}
    start = time.monotonic()
    while not trial_dirs(disks[2]):  # host 2's first trial has started: kill it mid-trial
        assert time.monotonic() - start < 90 and workers[2].poll() is None, (tmp_path / "w2.err").read_text()[-2000:]
        time.sleep(0.05)
    net.kill(workers[2])  # SIGKILL: no chance to mark anything
    killed_at = time.monotonic()
    killed_run = trial_dirs(disks[2])[-1].name
    while not trial_dirs(disks[1]):
        assert time.monotonic() - start < 90 and workers[1].poll() is None, (tmp_path / "w1.err").read_text()[-2000:]
        time.sleep(0.05)
    net.kill(workers[1], signal.SIGINT)  # host 1 is stopped too (Ctrl-C): the study is left unfinished
    workers[1].wait(60)
    workers[2].wait(10)
    time.sleep(max(0.0, GRACE + 1 - (time.monotonic() - killed_at)))  # host 2's heartbeat is now overdue

    # host 3 has no folder: it makes one from the study and finishes it
    done = net.run(3, digitlab("sweep", "--resume", str(disks[3] / "pg"), "--storage", server.url, "--json"),
                   env=env(), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    shown = net.run(1, digitlab("sweep", "show", str(disks[1] / "pg"), "--json"), env=env(), timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert json.loads(shown.stdout)["counts"] == result["counts"]  # any host reads the same study

    counts = result["counts"]
    assert counts.get("complete", 0) == TRIALS and not counts.get("pruned") and not counts.get("running")
    rows = {r["trial"]: r for r in result["trials"]}
    killed = int(killed_run.split("-")[1])
    assert rows[killed]["state"] == "fail"  # the SIGKILLed worker's trial: failed, not counted
    assert counts.get("fail", 0) >= 1
    # every complete trial ran once, on exactly one host, and finished there
    for number, row in rows.items():
        where = [d for d in disks if (d / "pg" / row["run"]).is_dir()]
        assert len(where) == (1 if row["state"] == "complete" else len(where)), (number, where)
        if row["state"] == "complete":
            assert (where[0] / "pg" / row["run"] / "summary.json").is_file()
    assert any((disks[3] / "pg" / rows[n]["run"]).is_dir() for n in rows if rows[n]["state"] == "complete")
    assert server.password not in done.stdout + done.stderr


def test_a_database_that_cannot_be_reached_is_one_line(net, server, idx_dir, tmp_path):
    """A wrong password, and a host where no server runs (refused), each one line without the password."""
    urls = {"password authentication failed": server.url.replace(server.password, "not-the-password"),
            "refused": server.url.replace(net.addr(0), net.addr(3))}
    procs = {sign: net.popen(1, digitlab(*sweep_args(idx_dir, tmp_path / sign.split()[0], url)), env=env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for sign, url in urls.items()}
    for sign, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        lines = [line for line in err.splitlines() if line.strip()]
        assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: --storage postgresql://"), lines
        assert sign in lines[0] and "not-the-password" not in lines[0] and server.password not in lines[0]
