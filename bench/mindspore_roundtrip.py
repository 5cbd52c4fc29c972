"""The proof, with real MindSpore, that `digitlab export --format mindspore` files load into the seeds' own networks
and score there what digitlab scores, and that the way back gives the same accuracy again.

    python bench/mindspore_roundtrip.py --mindspore .venv-bench/mindspore/bin/python [--data-dir DIR]
                                        [--epochs 1] [--recipes quickstart,lenet5] [--json]

`make bench-mindspore` runs it (digitlab's .venv here, MindSpore's venv for bench/mindspore_load.py). Per recipe
(quickstart: seed 000's Network, lenet5: seed 002's LeNet5; quickstart-deep: seed 001's Network_new on request):
  1. train it with digitlab for --epochs on full MNIST (the data home, or --data-dir), and `digitlab eval` it;
  2. `digitlab export RUN --format mindspore`;
  3. in MindSpore: the seed's class, load_checkpoint + load_param_into_net (nothing may stay unloaded), the seed's
     own test pipeline on MNIST's test set, save_checkpoint (bench/mindspore_load.py);
  4. `digitlab import-mindspore` of MindSpore's file, and `digitlab eval` of that run.
It passes when MindSpore's accuracy is within 0.1 point of digitlab eval's and the round trip's eval equals the
first one; it prints a table (and --json the whole record) and exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sides  # noqa: E402 (bench/sides.py: MindSpore's MNIST_Data layout from the verified IDX files)

import digitlab  # noqa: E402
from digitlab import config as cfgmod  # noqa: E402
from digitlab.data.sources import load_dataset  # noqa: E402
from digitlab.export import export_model  # noqa: E402
from digitlab.interop.mindspore import import_checkpoint  # noqa: E402
from digitlab.recipes import load_recipe  # noqa: E402

TOLERANCE = 0.1  # points of accuracy between MindSpore's test pass and digitlab eval


def train_export(recipe: str, dataset, epochs: int, tmp: Path) -> dict:
    """Train the recipe, eval it, export it; the figures and paths for MindSpore's side."""
    config = cfgmod.with_overrides(load_recipe(recipe).config, [f"train.epochs={epochs}", "train.log_every=100000"])
    run = tmp / f"{recipe}-run"
    summary = digitlab.train(config, run_dir=run, dataset=dataset)
    ev = digitlab.evaluate(run, data_dir=dataset.path, strict_data=True)
    ckpt = tmp / f"{recipe}.ckpt"
    exported = export_model(run, "mindspore", ckpt, data_dir=dataset.path)
    return {"recipe": recipe, "model": config.model.name, "epochs": epochs, "steps": summary["steps"],
            "run": str(run), "ckpt": str(ckpt), "resave": str(tmp / f"{recipe}-mindspore.ckpt"),
            "digitlab_acc": ev["accuracy"], "digitlab_images": ev["n"], "export_check": exported["max_abs_diff"]}


def run_mindspore(python: str, data_root: Path, jobs: list[dict], tmp: Path) -> list[dict]:
    job = tmp / "job.json"
    job.write_text(json.dumps([{"program": j["recipe"], "ckpt": j["ckpt"], "resave": j["resave"]} for j in jobs]))
    out = subprocess.run([python, str(HERE / "mindspore_load.py"), "--data", str(data_root), "--job", str(job)],
                         capture_output=True, text=True, timeout=3600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("[")]
    if out.returncode != 0 or not lines:
        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"MindSpore's side failed (exit {out.returncode}):\n{tail}")
    return json.loads(lines[-1])


def round_trip(row: dict, dataset, tmp: Path) -> None:
    """import-mindspore of MindSpore's own save_checkpoint file, then digitlab eval of it."""
    summary = import_checkpoint(row["resave"], row["model"], tmp / f"{row['recipe']}-back")
    ev = digitlab.evaluate(summary["run_dir"], data_dir=dataset.path, strict_data=True)
    row["round_trip_acc"], row["round_trip_unmapped"] = ev["accuracy"], summary["unmapped"]


def verdict(row: dict) -> list[str]:
    """What failed for this row (empty: it passed)."""
    fails = []
    if row["param_not_load"] or row["ckpt_not_load"]:
        fails.append(f"not loaded: {row['param_not_load']} / {row['ckpt_not_load']}")
    if abs(row["mindspore_acc"] - row["digitlab_acc"]) > TOLERANCE:
        fails.append(f"MindSpore {row['mindspore_acc']} vs digitlab {row['digitlab_acc']}")
    if "mindspore_acc_all" in row and abs(row["mindspore_acc_all"] - row["digitlab_acc"]) > TOLERANCE:
        fails.append(f"MindSpore on all 10,000 {row['mindspore_acc_all']} vs digitlab {row['digitlab_acc']}")
    if row["round_trip_acc"] != row["digitlab_acc"]:
        fails.append(f"round trip {row['round_trip_acc']} vs {row['digitlab_acc']}")
    return fails


def table(rows: list[dict]) -> str:
    head = ["recipe", "MindSpore class", "digitlab eval", "MindSpore (seed's test)", "MindSpore (all 10,000)",
            "round trip eval", "unloaded", "same bytes", "result"]
    body = [[r["recipe"], r["cell"], f"{r['digitlab_acc']:.2f}% ({r['digitlab_images']})",
             f"{r['mindspore_acc']:.2f}% ({r['mindspore_images']})",
             f"{r['mindspore_acc_all']:.2f}%" if "mindspore_acc_all" in r else "(same pass)",
             f"{r['round_trip_acc']:.2f}%", str(len(r["param_not_load"]) + len(r["ckpt_not_load"])),
             "yes" if r["resaved_identical_bytes"] else "no", "pass" if not r["fails"] else "FAIL"] for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mindspore", required=True, help="MindSpore venv's python (make bench-mindspore builds one)")
    parser.add_argument("--data-dir", default=None, help="MNIST's IDX files (default: digitlab's data home)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--recipes", default="quickstart,lenet5", help="of quickstart, quickstart-deep, lenet5")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not Path(args.mindspore).exists():
        raise SystemExit(f"{args.mindspore}: no MindSpore venv; `make bench-mindspore` builds .venv-bench/mindspore")
    dataset = load_dataset("mnist", args.data_dir, strict=True)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="digitlab-ms-") as name:
        tmp = Path(name)
        root = sides.write_mindspore_layout(dataset, tmp / "mindspore-data")
        jobs = [train_export(recipe, dataset, args.epochs, tmp) for recipe in args.recipes.split(",")]
        results = run_mindspore(args.mindspore, root, jobs, tmp)
        rows = []
        for job, ms in zip(jobs, results):
            row = {**job, **ms}
            round_trip(row, dataset, tmp)
            row["fails"] = verdict(row)
            rows.append(row)
    report = {"rows": rows, "data": dataset.provenance(), "seconds": round(time.time() - started, 1)}
    print(json.dumps(report, indent=2, default=str) if args.json else table(rows))
    if any(r["fails"] for r in rows):
        for r in rows:
            for fail in r["fails"]:
                print(f"FAIL {r['recipe']}: {fail}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
