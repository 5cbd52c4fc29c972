"""Two hosts for real (network namespaces, as root): DDP time per epoch, a node's death, a sweep on PostgreSQL.

    sudo python bench/scale_out.py [--what ddp,death,sweep] [--repeats 3]

Uses the tests' hosts (tests/hosts.py) and PostgreSQL server (tests/postgres.py), so run it from the repository
root with digitlab importable (PYTHONPATH=src). Prints one line per measurement; run by hand, never in the suite.

    ddp     `digitlab train` on mnist-sample (4,000 training digits), mlp, 3 epochs, batch 64, one thread per
            process: 1 process on one host against torchrun's static form on two hosts (1 process each);
            train_seconds / epochs from each summary.json, and the whole command's wall time
    death   a 2-host run (c10d form); the node without the run folder is killed (SIGKILL of every process on it:
            its sockets close) or its link is taken down (nothing closes: power loss); seconds until the other
            node's torchrun exits, with train.dist_timeout 10 and with the default 60
    sweep   12 trials (random sampler, no pruning, mnist-sample limited to 2,000 digits, 1 epoch) on PostgreSQL on
            host 0, with 1 worker host and with 2; wall time from the start to the last worker's exit
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.hosts import Hosts  # noqa: E402
from tests.postgres import Postgres  # noqa: E402

PY = sys.executable
TRAIN = ["--dataset", "mnist-sample", "--device", "cpu", "--model", "mlp", "--epochs", "3", "--batch-size", "64",
         "--set", "train.loss_plot=false", "--set", "train.threads=1", "--json"]


def env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src"), **extra}


def torchrun(net, rank: int, form: list[str], args: list[str], tmp: Path, tag: str):
    cmd = [PY, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", *form, "-m", "digitlab",
           "train", *args]
    return net.popen(rank, cmd, env=env(), stdout=open(tmp / f"{tag}{rank}.out", "w"),  # noqa: SIM115
                     stderr=open(tmp / f"{tag}{rank}.err", "w"))  # noqa: SIM115


def per_epoch(run: Path) -> float:
    summary = json.loads((run / "summary.json").read_text())
    return summary["train_seconds"] / summary["epochs"]


def ddp(tmp: Path, repeats: int) -> None:
    with Hosts(2) as net:
        for k in range(repeats):
            start = time.monotonic()
            done = net.run(0, [PY, "-m", "digitlab", "train", *TRAIN, "--run-dir", str(tmp / f"one{k}")], env=env(),
                           timeout=600)
            one_wall = time.monotonic() - start
            assert done.returncode == 0, done.stderr[-1500:]
            start = time.monotonic()
            procs = [torchrun(net, r, ["--node-rank", str(r), "--master-addr", net.addr(0), "--master-port", "29530"],
                              [*TRAIN, "--run-dir", str(tmp / f"two{k}-{r}")], tmp, f"ddp{k}-") for r in range(2)]
            for p in procs:
                p.wait(600)
            two_wall = time.monotonic() - start
            assert [p.returncode for p in procs] == [0, 0], (tmp / f"ddp{k}-0.err").read_text()[-1500:]
            print(f"ddp round {k}: 1 process {per_epoch(tmp / f'one{k}'):.2f} s/epoch ({one_wall:.1f} s wall), "
                  f"2 hosts {per_epoch(tmp / f'two{k}-0'):.2f} s/epoch ({two_wall:.1f} s wall)", flush=True)


def death(tmp: Path, repeats: int) -> None:
    cases = [("kill", 10)] * repeats + [("cable", 10)] * repeats + [("cable", 60)]
    for k, (how, timeout) in enumerate(cases):
        with Hosts(2) as net:
            tag = f"death{k}-"
            args = [*TRAIN[:TRAIN.index("--epochs")], "--epochs", "50", *TRAIN[TRAIN.index("--epochs") + 2:],
                    "--set", "train.ckpt_every=10", "--set", f"train.dist_timeout={timeout}"]
            procs = [torchrun(net, r, ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"{net.addr(0)}:29400",
                                       *(["--rdzv-conf", "is_host=1"] if r == 0 else [])],
                              [*args, "--run-dir", str(tmp / f"{tag}{r}")], tmp, tag) for r in range(2)]
            while not glob.glob(str(tmp / f"{tag}*" / "checkpoints" / "resume.safetensors")):
                time.sleep(0.1)
            main = 0 if (tmp / f"{tag}0").exists() else 1
            if how == "cable":
                net.cable(1 - main, up=False)
            net.kill_host(1 - main)
            start = time.monotonic()
            procs[main].wait(600)
            took = time.monotonic() - start
            said = [line for line in (tmp / f"{tag}{main}.err").read_text().splitlines() if line.startswith("error:")]
            print(f"death {how} (train.dist_timeout={timeout}): the other node's torchrun exited after {took:.1f} s "
                  f"(rc {procs[main].returncode}): {said[0][:110] if said else 'no error line'}", flush=True)


def sweep(tmp: Path, repeats: int) -> None:
    for k in range(repeats):
        for workers in (1, 2):
            with Hosts(3) as net:
                server = Postgres(net, 0)
                args = ["sweep", "--recipe", "quickstart", "--dataset", "mnist-sample", "--device", "cpu",
                        "--param", "optim.lr=log:0.01:0.3", "--sampler", "random", "--pruner", "none", "--trials", "12",
                        "--epochs", "1", "--set", "model.name=mlp", "--set", "data.limit=2000",
                        "--set", "train.loss_plot=false", "--name", "bench", "--storage", server.url, "--json"]
                start = time.monotonic()
                procs = [net.popen(h, [PY, "-m", "digitlab", *args, "--root", str(tmp / f"sw{k}-{workers}-{h}")],
                                   env=env(), stdout=open(tmp / f"sw{k}-{workers}-{h}.out", "w"),  # noqa: SIM115
                                   stderr=open(tmp / f"sw{k}-{workers}-{h}.err", "w"))  # noqa: SIM115
                         for h in range(1, workers + 1)]
                for p in procs:
                    p.wait(900)
                wall = time.monotonic() - start
                ran = [len(list((tmp / f"sw{k}-{workers}-{h}" / "bench").glob("trial-*"))) for h in range(1, workers + 1)]
                server.close()
                print(f"sweep round {k}: {workers} worker host(s): 12 trials in {wall:.1f} s wall "
                      f"(trials per host {ran}, rc {[p.returncode for p in procs]})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="ddp,death,sweep")
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scale-out-") as folder:
        for what in opts.what.split(","):
            {"ddp": ddp, "death": death, "sweep": sweep}[what](Path(folder), opts.repeats)


if __name__ == "__main__":
    main()
