"""Loader throughput: digitlab's TensorLoader vs torchvision's datasets.MNIST + DataLoader, in one run.

One shuffled, normalized, batch-64 pass over the 60,000 training images, on the CPU. digitlab's figure is training's
own path (training/setup.py split_loader) and includes its one-off preparation of the whole split (numpy uint8 -> a
uint8 NCHW tensor -> normalized once into float32), so the comparison is end to end from arrays in memory; the uint8
path (per-batch normalization, what a split above setup.FLOAT_SPLIT_LIMIT uses) is reported beside it. torchvision's
is its best over num_workers 0 and 2.

    python bench/loader.py --data-dir ../shared/data/mnist [--json]
    python bench/loader.py --dataset fashion-mnist [--json]      # Debian's copy, same shapes

torchvision is needed only here: `pip install torch==2.14.1 torchvision==0.29.1` in a separate venv
(see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from digitlab.data.loader import TensorLoader, prepare_images
from digitlab.data.sources import STEMS, load_dataset
from digitlab.data.transforms import Normalize

BATCH = 64


def bench_digitlab(ds, per_batch: bool = False, repeats: int = 3) -> dict:
    """Best of `repeats`: training's path (the split normalized once), or (per_batch) uint8 + Normalize per batch."""
    best_total, best_pass = float("inf"), float("inf")
    labels = torch.as_tensor(ds.train_labels)
    norm = Normalize(ds.mean, ds.std)
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = prepare_images(ds.train_images)  # uint8 (N, 1, 28, 28)
        if not per_batch:
            x = norm(x)  # float32, once for the split
        t1 = time.perf_counter()
        loader = TensorLoader(x, labels, batch_size=BATCH, shuffle=True, seed=0, transform=norm if per_batch else None)
        n = 0
        for _xb, yb in loader:
            n += len(yb)
        t2 = time.perf_counter()
        assert n == len(labels)
        best_total, best_pass = min(best_total, t2 - t0), min(best_pass, t2 - t1)
    n = len(labels)
    return {"img_s": n / best_total, "img_s_pass_only": n / best_pass, "seconds": best_total}


def torchvision_root(ds) -> Path:
    """A temporary torchvision-layout root (<root>/<Class>/raw/, decompressed) from the verified files."""
    root = Path(tempfile.mkdtemp(prefix="dl-bench-"))
    # your own IDX files (dataset "idx", e.g. run.py --smoke) are read the MNIST way
    folder = {"fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}.get(ds.name, "MNIST")
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for role, path in ds.files.items():
        data = Path(path).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        (raw / STEMS[role]).write_bytes(data)
    return root


def bench_torchvision(ds, workers: int) -> dict:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "kmnist": datasets.KMNIST}[ds.name]
    root = torchvision_root(ds)
    try:
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((ds.mean,), (ds.std,))])
        train = cls(str(root), train=True, transform=tf, download=False)
        loader = DataLoader(train, batch_size=BATCH, shuffle=True, num_workers=workers)
        t0 = time.perf_counter()
        n = 0
        for _xb, yb in loader:
            n += len(yb)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"img_s": n / seconds, "seconds": seconds, "num_workers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ds = load_dataset(args.dataset, args.data_dir, strict=True)
    ours, uint8 = bench_digitlab(ds), bench_digitlab(ds, per_batch=True)
    theirs = [bench_torchvision(ds, w) for w in (0, 2)]
    best = max(theirs, key=lambda r: r["img_s"])
    result = {
        "digitlab_img_s": round(ours["img_s"]),
        "torchvision_img_s": round(best["img_s"]),
        "ratio": round(ours["img_s"] / best["img_s"], 1),
        "digitlab_pass_only_img_s": round(ours["img_s_pass_only"]),
        "digitlab_uint8_img_s": round(uint8["img_s"]),
        "digitlab_uint8_pass_only_img_s": round(uint8["img_s_pass_only"]),
        "torchvision": [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in theirs],
        "dataset": ds.name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"digitlab    {result['digitlab_img_s']:>12,} img/s (incl. one-off preparation; "
              f"pass only {result['digitlab_pass_only_img_s']:,})")
        print(f"  uint8     {result['digitlab_uint8_img_s']:>12,} img/s (per-batch normalization; "
              f"pass only {result['digitlab_uint8_pass_only_img_s']:,})")
        for r in result["torchvision"]:
            print(f"torchvision {round(r['img_s']):>12,} img/s (num_workers={r['num_workers']})")
        print(f"ratio       {result['ratio']:>12}x")


if __name__ == "__main__":
    main()
