"""The speed suite: every figure side by side in one run, on this machine.

    python bench/run.py --data-dir ../shared/data/mnist [--quick] [--json] [--only loader,recipes,fast,memory]

1. loader    digitlab's TensorLoader vs torchvision's datasets.MNIST + DataLoader (bench/loader.py).
2. recipes   each tutorial recipe: digitlab's seconds per epoch and accuracy vs the same model, loss, optimizer,
             batch size and epochs written the tutorial way (torchvision dataset + DataLoader, a plain loop that
             reads loss.item() every step as the seeds do), in the same run; the ratio; and the recipe's FLOP
             floor: forward+backward FLOPs per epoch (torch's FlopCounterMode) / this machine's float32 matmul
             throughput. --quick times 100 steps of each instead of whole epochs (no accuracy).
3. fast      time to 99.0% / 99.5%: the fast and strong recipes vs pytorch-example, over several seeds (median,
             min-max), as training wall time from the first step (data loaded) and as the whole process.
4. memory    peak RSS of a full-MNIST training process (the quickstart recipe).

Needs torchvision for 1 and 2 (a separate venv: see docs/benchmarks.md). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from digitlab import config as cfgmod
from digitlab.data.sources import load_dataset
from digitlab.models import get_model, model_spec
from digitlab.recipes import load_recipe
from digitlab.training.engine import train
from digitlab.training.losses import make_loss
from digitlab.training.optim import make_optimizer, make_scheduler

HERE = Path(__file__).resolve().parent
TUTORIAL_RECIPES = ["quickstart", "quickstart-deep", "lenet5", "mlp-sgd", "mlp-5layer", "cnn-small", "pytorch-example"]


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """This machine's float32 matrix throughput through torch (the FLOP floor's denominator)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def step_flops(model_name: str, batch: int) -> float:
    """Forward + backward FLOPs of one training step (convolutions and matmuls, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    size = model_spec(model_name).input_size
    model = get_model(model_name)
    x, y = torch.randn(batch, 1, size, size), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x).float(), y).backward()
    return float(counter.get_total_flops())


def tutorial_way(recipe: str, data_dir: str, epochs: int, max_steps: int) -> dict:
    """The recipe written as the tutorials write it: torchvision dataset + DataLoader + a plain loop."""
    from loader import torchvision_root  # bench/loader.py
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    config = load_recipe(recipe).config
    ds = load_dataset("mnist", data_dir, strict=True)
    root = torchvision_root(ds)
    spec = model_spec(config.model.name)
    steps = [transforms.ToTensor()]
    if spec.input_size != 28:
        steps.insert(0, transforms.Resize((spec.input_size, spec.input_size)))
    if config.data.normalize:
        steps.append(transforms.Normalize((ds.mean,), (ds.std,)))
    tf = transforms.Compose(steps)
    train_set = datasets.MNIST(str(root), train=True, transform=tf)
    test_set = datasets.MNIST(str(root), train=False, transform=tf)
    loader = DataLoader(train_set, batch_size=config.train.batch_size, shuffle=config.data.shuffle,
                        drop_last=config.data.drop_last, num_workers=0)
    test_loader = DataLoader(test_set, batch_size=config.data.eval_batch_size, num_workers=0)
    torch.manual_seed(config.train.seed)
    model = get_model(config.model.name)
    loss_fn = make_loss(config.loss)
    optimizer = make_optimizer(model.parameters(), config.optim)
    scheduler = make_scheduler(optimizer, config.schedule, epochs * len(loader), len(loader))
    step, t0, acc = 0, time.perf_counter(), None
    for _ in range(epochs):
        model.train()
        running = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()  # the seeds read the loss back every step
            step += 1
            if max_steps and step >= max_steps:
                break
        if max_steps and step >= max_steps:
            break
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        acc = 100.0 * correct / len(test_set)
    seconds = time.perf_counter() - t0
    per_epoch = seconds / step * len(loader) if max_steps else seconds / epochs
    return {"seconds_per_epoch": per_epoch, "accuracy": acc, "steps": step, "steps_per_epoch": len(loader)}


def digitlab_way(recipe: str, dataset, epochs: int, max_steps: int, tmp: Path) -> dict:
    config = load_recipe(recipe).config
    over = [f"train.epochs={epochs}", "train.log_every=100000"]
    if max_steps:
        over.append(f"train.max_steps={max_steps}")
    config = cfgmod.with_overrides(config, over)
    summary = train(config, run_dir=tmp / f"{recipe}-{time.time_ns()}", dataset=dataset)
    steps_per_epoch = -(-summary["n_train"] // config.train.batch_size)
    per_epoch = summary["train_seconds"] / summary["steps"] * steps_per_epoch if max_steps else \
        summary["train_seconds"] / epochs
    return {"seconds_per_epoch": per_epoch, "accuracy": summary["final_test_acc"] if not max_steps else None}


def bench_recipes(data_dir: str, quick: bool, epochs: int, tmp: Path) -> dict:
    gflops = matmul_gflops()
    dataset = load_dataset("mnist", data_dir, strict=True)
    rows = []
    for recipe in TUTORIAL_RECIPES:
        config = load_recipe(recipe).config
        max_steps = 100 if quick else 0
        ours = digitlab_way(recipe, dataset, epochs, max_steps, tmp)
        theirs = tutorial_way(recipe, data_dir, epochs, max_steps)
        per_step = step_flops(config.model.name, config.train.batch_size)
        floor = per_step * theirs["steps_per_epoch"] / (gflops * 1e9)
        rows.append({
            "recipe": recipe, "model": config.model.name, "batch_size": config.train.batch_size, "epochs": epochs,
            "digitlab_s_per_epoch": round(ours["seconds_per_epoch"], 2),
            "tutorial_s_per_epoch": round(theirs["seconds_per_epoch"], 2),
            "speedup": round(theirs["seconds_per_epoch"] / ours["seconds_per_epoch"], 2),
            "digitlab_acc": ours["accuracy"], "tutorial_acc": theirs["accuracy"],
            "flop_floor_s_per_epoch": round(floor, 2),
            "x_floor": round(ours["seconds_per_epoch"] / floor, 2),
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"matmul_gflops": round(gflops, 1), "recipes": rows}


def timed_process(args: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "digitlab", *args, "--json"], capture_output=True, text=True,
                         check=True)
    return time.perf_counter() - t0, json.loads(out.stdout)


def bench_fast(data_dir: str, seeds: int, tmp: Path, quick: bool) -> dict:
    results = {}
    plans = [("fast", 99.0, []), ("strong", 99.5, []), ("pytorch-example", 99.0, ["--set", "train.target_acc=99.0"])]
    if quick:
        plans = plans[:1]
    for recipe, target, extra in plans:
        rows = []
        # the slow references get 3 seeds (the minimum); the fast recipe gets all of them
        for seed in range(seeds if recipe == "fast" else min(seeds, 3)):
            wall, summary = timed_process(["train", "-r", recipe, "--data-dir", data_dir, "--seed", str(seed),
                                           "--run-dir", str(tmp / f"{recipe}-{seed}-{time.time_ns()}"), *extra])
            rows.append({"seed": seed, "acc": summary["final_test_acc"], "train_seconds": summary["train_seconds"],
                         "process_seconds": round(wall, 2), "epochs": summary["epochs"]})
            print(json.dumps({"recipe": recipe, **rows[-1]}), file=sys.stderr, flush=True)
        accs = [r["acc"] for r in rows]
        times = [r["train_seconds"] for r in rows]
        results[recipe] = {
            "target": target, "runs": rows, "mean_acc": round(statistics.mean(accs), 3), "min_acc": min(accs),
            "reached_target": sum(a >= target for a in accs), "median_train_seconds": statistics.median(times),
            "train_seconds_range": [min(times), max(times)],
            "median_process_seconds": statistics.median(r["process_seconds"] for r in rows),
        }
    return results


def bench_memory(data_dir: str, tmp: Path) -> dict:
    """Peak RSS of a quickstart training process, measured in a fresh child so no earlier run is counted."""
    code = ("import resource, subprocess, sys; subprocess.run([sys.executable, '-m', 'digitlab', 'train', '-r', "
            f"'quickstart', '--data-dir', {data_dir!r}, '--run-dir', {str(tmp / f'mem-{time.time_ns()}')!r}], "
            "check=True, capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {"recipe": "quickstart", "peak_rss_mb": round(int(out.stdout.strip()) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="Full MNIST (e.g. ../shared/data/mnist)")
    parser.add_argument("--quick", action="store_true", help="100 steps per recipe, 1 seed: under 3 minutes")
    parser.add_argument("--epochs", type=int, default=1, help="Epochs per recipe, both ways (full mode)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", default="loader,recipes,fast,memory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "digitlab-bench"
    tmp.mkdir(parents=True, exist_ok=True)
    parts = args.only.split(",")
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                               f"{torch.get_num_threads()} threads", "date": time.strftime("%Y-%m-%d"),
                    "command": " ".join(sys.argv), "quick": args.quick}
    if "loader" in parts:
        out = subprocess.run([sys.executable, str(HERE / "loader.py"), "--data-dir", args.data_dir, "--json"],
                             capture_output=True, text=True, check=True)
        report["loader"] = json.loads(out.stdout)
        print(json.dumps(report["loader"]), file=sys.stderr, flush=True)
    if "recipes" in parts:
        report.update(bench_recipes(args.data_dir, args.quick, args.epochs, tmp))
    if "fast" in parts:
        report["time_to_target"] = bench_fast(args.data_dir, 1 if args.quick else args.seeds, tmp, args.quick)
    if "memory" in parts:
        report["memory"] = bench_memory(args.data_dir, tmp)
    print(json.dumps(report, indent=2) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
