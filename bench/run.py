"""The speed suite: every figure side by side in one run, on this machine. `make bench` / `make bench-quick` build
the comparison venvs and run it; by hand:

    python bench/run.py [--data-dir DIR] [--quick | --smoke] [--repeats N] [--isolate] [--mindspore PY] [--json]
                        [--only loader,recipes,fast,memory]

1. loader    digitlab's TensorLoader vs torchvision's datasets.MNIST + DataLoader (bench/loader.py).
2. recipes   each tutorial recipe, one epoch on every side, back to back (in this process; --isolate: each run in a
             fresh process; --repeats N: N interleaved runs per side, medians): the seed's own MindSpore
             program where there is one (quickstart: seed 000, lenet5: seed 002; bench/mindspore_seeds.py in
             MindSpore's venv), the torchvision tutorial way (dataset + DataLoader + a loop that reads loss.item()
             every step as the seeds do), the same loop written plainly over in-memory tensors (bench/sides.py), and
             digitlab. Seconds per epoch (with its test pass), accuracy, the ratios, and the recipe's FLOP floor:
             forward+backward FLOPs per epoch (torch's FlopCounterMode) / this machine's float32 matmul throughput.
             --quick times 100 steps of each instead of whole epochs (no accuracy); --smoke 5 steps on tiny random
             data (the suite's own check, tests/bench). A side whose venv is missing is skipped and named.
3. fast      time to 99.0% / 99.5% (--targets): fast and fast-float32 (the same seeds with train.amp=false), strong,
             pytorch-example (strong-float32 too, on request), over several seeds (median, min-max), as training
             wall time from the first step and as the whole process.
4. memory    peak RSS of a full-MNIST training process (the quickstart recipe).

torchvision does not import beside the torch 2.13.0 CPU wheel, and MindSpore 2.10 needs numpy<2: the Makefile's
bench targets build .venv-bench (torch 2.14.1 + torchvision 0.29.1 + digitlab) and .venv-bench/mindspore.
Never part of the test suite.
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

import sides  # bench/sides.py
import torch
import torch.nn.functional as F

from digitlab.data.sources import load_dataset
from digitlab.models import get_model, model_spec
from digitlab.recipes import load_recipe

HERE = Path(__file__).resolve().parent
# the seeds' own MindSpore programs (bench/mindspore_seeds.py), by the recipe that reproduces each
MINDSPORE_PROGRAMS = {"quickstart": "quickstart", "lenet5": "lenet5"}
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


def _ratio(a: dict | None, b: dict | None) -> float | None:
    if not a or not b or "seconds_per_epoch" not in a or "seconds_per_epoch" not in b:
        return None
    return round(a["seconds_per_epoch"] / b["seconds_per_epoch"], 2)


def _median_run(runs: list[dict]) -> dict | None:
    """The run with the median seconds per epoch (the lower middle of an even count); None when there is none."""
    if not runs:
        return None
    failed = [r for r in runs if "error" in r]
    good = sorted((r for r in runs if "error" not in r), key=lambda r: r["seconds_per_epoch"])
    return good[(len(good) - 1) // 2] if good else failed[0]


def bench_recipes(dataset, recipes: list[str], max_steps: int, epochs: int, tmp: Path, ms_python: str | None,
                  skipped: list[str], floor: bool = True, repeats: int = 1, isolate: bool = False) -> dict:
    """Each recipe's sides back to back: digitlab, the plain loop, the torchvision tutorial way (in this process,
    or each run in a fresh one with isolate) and (quickstart, lenet5) the seed's MindSpore program (its own venv);
    seconds per epoch, accuracy, ratios, FLOP floor. repeats > 1: digitlab, the plain loop and the torchvision way
    each run that many times, interleaved; each side's figure is its median run (the lower middle one of an even
    count), every run's seconds are kept in the row (`<side>_runs`, None for a failed run) and every failure in
    `<side>_errors`. isolate: no side inherits another's leftovers (allocator, caches, threads)."""
    gflops = matmul_gflops() if floor else 0.0
    tv = sides.torchvision_available()
    if not tv:
        skipped.append("torchvision side: torchvision does not import in this Python (make bench builds "
                       ".venv-bench with torch 2.14.1 + torchvision 0.29.1)")
    ms_root = None
    if any(r in MINDSPORE_PROGRAMS for r in recipes):
        if ms_python and Path(ms_python).exists():
            ms_root = sides.write_mindspore_layout(dataset, tmp / "mindspore-data")
        else:
            skipped.append(f"MindSpore side: no MindSpore venv at {ms_python or '(none given)'} (make bench builds "
                           ".venv-bench/mindspore with mindspore==2.10.0 and numpy<2)")
    rows = []
    for recipe in recipes:
        config = load_recipe(recipe).config
        runs: dict[str, list[dict]] = {"digitlab": [], "plain": [], "torchvision": []}
        for r in range(repeats):  # the sides interleaved, in turn first and last, so a slow minute hits all sides
            order = [name for name in sides.SIDES if tv or name != "torchvision"]
            for name in order if r % 2 == 0 else order[::-1]:
                runs[name].append(sides.run_side(name, recipe, dataset, epochs, max_steps, tmp, isolate))
        ours, plain, theirs = (_median_run(runs[k]) for k in ("digitlab", "plain", "torchvision"))
        ms = None  # once: its epoch is 20-130x longer than digitlab's, so its own spread hardly moves the ratio
        if ms_root is not None and recipe in MINDSPORE_PROGRAMS:
            ms = sides.run_mindspore(ms_python, MINDSPORE_PROGRAMS[recipe], ms_root, max_steps)
        row = {"recipe": recipe, "model": config.model.name, "batch_size": config.train.batch_size, "epochs": epochs,
               "steps": max_steps or None}
        for name, side in (("mindspore", ms), ("torchvision", theirs), ("plain", plain), ("digitlab", ours)):
            if side is None:
                continue
            failed = [x["error"] for x in runs.get(name, []) if "error" in x]
            if failed:  # every failure is kept, also when the median run is a good one
                row[f"{name}_errors"] = failed
            if "error" in side:
                row[f"{name}_error"] = side["error"]
                continue
            row[f"{name}_s_per_epoch"] = round(side["seconds_per_epoch"], 2)
            row[f"{name}_acc"] = side["accuracy"]
            if len(runs.get(name, [])) > 1:  # a failed run is None here
                row[f"{name}_runs"] = [None if "error" in x else round(x["seconds_per_epoch"], 3) for x in runs[name]]
        row["x_vs_mindspore"] = _ratio(ms, ours)  # how many times faster digitlab is
        row["x_vs_torchvision"] = _ratio(theirs, ours)
        row["digitlab_over_plain"] = _ratio(ours, plain)  # <= 1.0: no slower than the plain loop
        if floor:
            per_step = step_flops(config.model.name, config.train.batch_size)
            steps = sides.steps_per_epoch(config, len(dataset.train_labels))
            row["flop_floor_s_per_epoch"] = round(per_step * steps / (gflops * 1e9), 2)
            if "seconds_per_epoch" in ours:
                row["x_floor"] = round(ours["seconds_per_epoch"] / row["flop_floor_s_per_epoch"], 2)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return {"matmul_gflops": round(gflops, 1), "recipes": rows}


def _data_args(data_dir: str | None) -> list[str]:
    return ["--data-dir", data_dir] if data_dir else []


def timed_process(args: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "digitlab", *args, "--json"], capture_output=True, text=True,
                         check=True)
    return time.perf_counter() - t0, json.loads(out.stdout)


def _runs_summary(rows: list[dict], target: float) -> dict:
    accs = [r["acc"] for r in rows]
    times = [r["train_seconds"] for r in rows]
    return {"target": target, "runs": rows, "mean_acc": round(statistics.mean(accs), 3), "min_acc": min(accs),
            "reached_target": sum(a >= target for a in accs), "median_train_seconds": statistics.median(times),
            "train_seconds_range": [min(times), max(times)],
            "median_process_seconds": statistics.median(r["process_seconds"] for r in rows)}


def bench_fast(data_dir: str | None, seeds: int, tmp: Path, quick: bool, targets: list[str]) -> dict:
    """Time to 99.0% / 99.5%. A target named NAME-float32 runs each seed of NAME again right after, with
    train.amp=false, so bf16 (where the recipe asks for it and the CPU computes it) and float32 share a run."""
    results = {}
    base = {"fast": (99.0, []), "strong": (99.5, []), "pytorch-example": (99.0, ["--set", "train.target_acc=99.0"])}
    plans = []  # NAME or NAME-float32 (the recipe with train.amp=false), in the order asked
    for name in targets:
        target, extra = base[name.removesuffix("-float32")]
        plans.append((name, target, extra + (["--set", "train.amp=false"] if name.endswith("-float32") else [])))
    plans = plans[:2 if quick else None]
    rows: dict[str, list[dict]] = {name: [] for name, _, _ in plans}
    for seed in range(seeds):
        for name, _target, extra in plans:
            if not name.startswith("fast") and seed >= 3:  # the slow references get 3 seeds (the minimum)
                continue
            recipe = name.removesuffix("-float32")
            wall, summary = timed_process(["train", "-r", recipe, *_data_args(data_dir), "--seed", str(seed),
                                           "--run-dir", str(tmp / f"{name}-{seed}-{time.time_ns()}"), *extra])
            row = {"seed": seed, "acc": summary["final_test_acc"], "train_seconds": summary["train_seconds"],
                   "process_seconds": round(wall, 2), "epochs": summary["epochs"],
                   "precision": summary.get("precision", "float32" if "train.amp=false" in extra else "see config")}
            rows[name].append(row)
            print(json.dumps({"recipe": name, **row}), file=sys.stderr, flush=True)
    for name, target, _ in plans:
        results[name] = _runs_summary(rows[name], target)
    for name in list(results):
        if f"{name}-float32" in results:
            results[name]["x_float32_time"] = round(results[name]["median_train_seconds"]
                                                    / results[f"{name}-float32"]["median_train_seconds"], 3)
    return results


def bench_memory(data_dir: str | None, tmp: Path) -> dict:
    """Peak RSS of a quickstart training process, measured in a fresh child so no earlier run is counted."""
    code = ("import resource, subprocess, sys; subprocess.run([sys.executable, '-m', 'digitlab', 'train', '-r', "
            f"'quickstart', *{_data_args(data_dir)!r}, '--run-dir', {str(tmp / f'mem-{time.time_ns()}')!r}], "
            "check=True, capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {"recipe": "quickstart", "peak_rss_mb": round(int(out.stdout.strip()) / 1024, 1)}


def smoke_dataset(tmp: Path):
    """Tiny random IDX files (256 train / 128 test digits) for --smoke: exercises every side in seconds."""
    from digitlab.data import idx

    folder = tmp / f"smoke-{time.time_ns()}"
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for stem, n in (("train", 256), ("t10k", 128)):
        idx.write(folder / f"{stem}-images-idx3-ubyte", torch.randint(0, 256, (n, 28, 28), generator=gen,
                                                                      dtype=torch.uint8).numpy())
        idx.write(folder / f"{stem}-labels-idx1-ubyte", torch.randint(0, 10, (n,), generator=gen,
                                                                      dtype=torch.uint8).numpy())
    return load_dataset("idx", str(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="Full MNIST (default: digitlab's data home)")
    parser.add_argument("--quick", action="store_true", help="100 steps per recipe, 1 seed: a few minutes")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny random data, 5 steps of quickstart and lenet5 on each side there is: seconds")
    parser.add_argument("--epochs", type=int, default=1, help="Epochs per recipe, every side (full mode)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per side in the recipes part, interleaved; each side's median is reported")
    parser.add_argument("--isolate", action="store_true",
                        help="each side's run in a fresh process of its own (the recipes part)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--recipes", default=",".join(TUTORIAL_RECIPES), help="comma-separated tutorial recipes")
    parser.add_argument("--targets", default="fast,fast-float32,strong,pytorch-example",
                        help="time-to-target runs (fast-float32: fast with train.amp=false)")
    parser.add_argument("--mindspore", default=None, help="MindSpore venv's python (make bench builds one)")
    parser.add_argument("--only", default="loader,recipes,fast,memory")
    parser.add_argument("--json", action="store_true", help="the whole report as JSON instead of the table")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "digitlab-bench"
    tmp.mkdir(parents=True, exist_ok=True)
    parts = ["recipes"] if args.smoke else args.only.split(",")
    recipes = list(MINDSPORE_PROGRAMS) if args.smoke else args.recipes.split(",")
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                               f"{torch.get_num_threads()} threads", "date": time.strftime("%Y-%m-%d"),
                    "load_average": [round(v, 2) for v in os.getloadavg()], "command": " ".join(sys.argv),
                    "quick": args.quick, "smoke": args.smoke, "skipped": []}
    if "loader" in parts:
        out = subprocess.run([sys.executable, str(HERE / "loader.py"), *_data_args(args.data_dir), "--json"],
                             capture_output=True, text=True, check=True)
        report["loader"] = json.loads(out.stdout)
        print(json.dumps(report["loader"]), file=sys.stderr, flush=True)
    if "recipes" in parts:
        dataset = smoke_dataset(tmp) if args.smoke else load_dataset("mnist", args.data_dir, strict=True)
        max_steps = 5 if args.smoke else 100 if args.quick else 0
        report.update(bench_recipes(dataset, recipes, max_steps, args.epochs, tmp, args.mindspore, report["skipped"],
                                    floor=not args.smoke, repeats=max(args.repeats, 1), isolate=args.isolate))
    if "fast" in parts:
        report["time_to_target"] = bench_fast(args.data_dir, 1 if args.quick else args.seeds, tmp, args.quick,
                                              args.targets.split(","))
    if "memory" in parts:
        report["memory"] = bench_memory(args.data_dir, tmp)
    report["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['machine']}; {report['date']}; load average {report['load_average']} -> "
          f"{report['load_average_end']}")
    for note in report["skipped"]:
        print(f"skipped: {note}")
    if "recipes" in report:
        steps = "100 steps" if args.quick else "5 steps, random data" if args.smoke else f"{args.epochs} epoch(s)"
        print(f"\nSeconds per epoch incl. its test pass (accuracy after it), {steps}; ratios: how many times faster "
              "digitlab is; digitlab/plain <= 1.00 means no slower than the plain loop")
        print(sides.format_table(report["recipes"]))
    for name, r in report.get("time_to_target", {}).items():
        print(f"\n{name}: mean {r['mean_acc']}% (min {r['min_acc']}%), {r['reached_target']}/{len(r['runs'])} "
              f"reached {r['target']}%, median {r['median_train_seconds']} s of training"
              + (f", {r['x_float32_time']}x the float32 time" if "x_float32_time" in r else ""))
    if "memory" in report:
        print(f"\npeak RSS (quickstart): {report['memory']['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
