"""Your own data, measured: a model trained on MNIST read digits written by other people, before and after a
fine-tune on part of them; and how long a 10,000-image folder takes to load, first time and cached.

    python bench/own_data.py [--base RUN] [--work DIR] [--seeds 3] [--test-sizes 0.5 0.9]

The other people's digits: scikit-learn's bundled `load_digits` (UCI optdigits' test set: 1,797 digits by 13
writers, 8x8 blocks counting the "on" pixels of a 32x32 NIST bitmap, 0..16). Each is written out as a PNG: the
counts scaled to 0-255 (x * 255 / 16, rounded), white ink on black, upscaled bilinearly to 32x32 (the bitmap's
own size); the folder dataset then puts every image through predict's preprocessing (crop to the ink, fit 20x20,
centre in 28x28). An 8x8 count image upscaled is blurrier and blockier than any MNIST digit: a domain shift, on
top of the new hands. No writer ids ship with it, so the split is by digit, not by writer: the same 13 people
write both halves.

The 10,000-image folder: MNIST's test set written as 28x28 PNGs in <label>/ folders. scikit-learn comes with
mlxtend (the `offline` extra).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_optdigits(folder: Path) -> int:
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (counts, label) in enumerate(zip(digits.images, digits.target)):
        pixels = np.round(counts * 255.0 / 16.0).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((32, 32), Image.Resampling.BILINEAR)
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        image.save(folder / str(label) / f"{i:04d}.png")
    return len(digits.target)


def write_mnist_test(folder: Path) -> int:
    from digitlab.data.sources import load_dataset

    ds = load_dataset("mnist", strict=True)
    for i, (image, label) in enumerate(zip(ds.test_images, ds.test_labels)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / str(label) / f"{i:05d}.png")
    return len(ds.test_labels)


def accuracy(run: Path, images: np.ndarray, labels: np.ndarray) -> float:
    from digitlab.inference import class_probabilities, load_model

    model, ckpt = load_model(run, "cpu")
    predicted = class_probabilities(model, ckpt.info, images, "cpu").argmax(1)
    return round(100.0 * float((predicted == labels).mean()), 2)


def train_base(work: Path) -> Path:
    import digitlab
    from digitlab.recipes import resolve_config

    run = work / "runs" / "mnist-fast"
    if not (run / "summary.json").exists():
        shutil.rmtree(run, ignore_errors=True)
        digitlab.train(resolve_config("fast", values={"train.device": "cpu", "data.strict": True}), run_dir=run)
    return run


def fine_tune_runs(base: Path, folder: Path, work: Path, test_size: float, seeds: int, scratch: bool) -> dict:
    import digitlab
    from digitlab.data.sources import load_dataset
    from digitlab.evaluation import evaluate
    from digitlab.recipes import resolve_config
    from digitlab.training.finetune import base_values, origin

    ds = load_dataset("folder", folder, test_size=test_size)
    before = accuracy(base, ds.test_images, ds.test_labels)
    rows = []
    for seed in range(seeds):
        run = work / "runs" / f"ft-{test_size:g}-s{seed}"
        shutil.rmtree(run, ignore_errors=True)
        values = {**base_values(origin(str(base))), "train.init_from": str(base), "data.dataset": "folder",
                  "data.data_dir": str(folder), "data.test_size": test_size, "train.device": "cpu",
                  "train.seed": seed, "train.loss_plot": False}
        summary = digitlab.train(resolve_config("fine-tune", values=values), run_dir=run)
        row = {"seed": seed, "after": summary["final_test_acc"], "train_seconds": summary["train_seconds"],
               "mnist_test_after": round(evaluate(run, dataset="mnist", device="cpu")["accuracy"], 2)}
        if scratch:  # the control: the same recipe and architecture from fresh weights, on the same part
            values = {k: v for k, v in values.items() if k != "train.init_from"}
            fresh_dir = work / "runs" / f"{run.name}-scratch"
            shutil.rmtree(fresh_dir, ignore_errors=True)
            fresh = digitlab.train(resolve_config("fine-tune", values=values), run_dir=fresh_dir)
            row["from_scratch"] = fresh["final_test_acc"]
        rows.append(row)
    return {"test_size": test_size, "n_fine_tune": len(ds.train_labels), "n_evaluated": len(ds.test_labels),
            "before": before, "runs": rows, "split": ds.provenance()["split"]}


def folder_load(folder: Path, repeats: int = 3) -> dict:
    from digitlab.data.folder import HashIndex, cache_path, digest, scan
    from digitlab.data.sources import load_dataset

    entries, _, stray = scan(folder)
    cache_path(digest(entries, stray)).unlink(missing_ok=True)  # a first load: no arrays, no hashes kept
    HashIndex(folder).file.unlink(missing_ok=True)
    start = time.perf_counter()
    first = load_dataset("folder", folder)
    first_s = time.perf_counter() - start
    assert not first.extra["cache"]["hit"]
    cached = []
    for _ in range(repeats):
        start = time.perf_counter()
        again = load_dataset("folder", folder)
        cached.append(time.perf_counter() - start)
        assert again.extra["cache"]["hit"]
    return {"images": len(first.train_labels) + len(first.test_labels), "first_s": round(first_s, 2),
            "cached_s": [round(s, 3) for s in cached], "cached_median_s": round(statistics.median(cached), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="a run trained on MNIST (default: train the fast recipe into --work)")
    parser.add_argument("--work", default="build/own-data-bench")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test-sizes", type=float, nargs="+", default=[0.5, 0.9])
    parser.add_argument("--skip-load", action="store_true", help="skip the 10,000-image folder timing")
    parser.add_argument("--skip-fine-tune", action="store_true", help="only the 10,000-image folder timing")
    parser.add_argument("--scratch", action="store_true", help="also train each from fresh weights (the control)")
    args = parser.parse_args()
    work = Path(args.work)
    optdigits = work / "optdigits"
    if not optdigits.is_dir():
        write_optdigits(optdigits)
    result = {}
    if not args.skip_fine_tune:
        base = Path(args.base) if args.base else train_base(work)
        result = {"base": str(base), "base_mnist_test": json.loads((base / "summary.json").read_text())["final_test_acc"],
                  "fine_tune": [fine_tune_runs(base, optdigits, work, t, args.seeds, args.scratch)
                                for t in args.test_sizes]}
    if not args.skip_load:
        mnist10k = work / "mnist-test-png"
        if not mnist10k.is_dir():
            write_mnist_test(mnist10k)
        result["folder_load"] = folder_load(mnist10k)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
