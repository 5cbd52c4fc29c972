"""The comparison sides of bench/run.py's side-by-side table besides digitlab:

    digitlab_way(recipe, dataset, ...)      the recipe through digitlab.train
    tutorial_way(recipe, dataset, ...)      the torchvision tutorial way: datasets.MNIST + DataLoader + a plain loop
    plain_loop(recipe, dataset, ...)        the recipe's loop written plainly over in-memory float tensors
    write_mindspore_layout(dataset, root)   MindSpore's MNIST_Data/{train,test}/ from the verified IDX files
    run_mindspore(python, program, ...)     one of the seeds' MindSpore programs (bench/mindspore_seeds.py) in its
                                            own venv, as a child process; None when that venv is missing
    format_table(rows)                      bench/run.py's side-by-side table as text
    run_side(name, recipe, dataset, ...)    one of the first three, in this process or in a fresh one (isolate);
                                            `python bench/sides.py SIDE RECIPE --data-dir DIR` is that fresh process

Each side reports seconds per epoch (the epoch's training plus its test pass, data already in memory) and the test
accuracy after it; with max_steps, the seconds of that many steps scaled to a whole epoch plus one whole test pass
(no accuracy then).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import digitlab
from digitlab import config as cfgmod
from digitlab.data.transforms import resize_pad
from digitlab.io import atomic_write
from digitlab.losses import make_loss
from digitlab.models import get_model, model_spec
from digitlab.recipes import load_recipe
from digitlab.training.optim import make_optimizer, make_scheduler

HERE = Path(__file__).resolve().parent
LOG_EVERY = 100  # the tutorials read the loss back (to print it) every 100 steps


def _floats(images, size: int, mean: float, std: float) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, S, S) float32, normalized once for the whole split (the plain way)."""
    x = resize_pad(torch.as_tensor(images), size=size if size != images.shape[-1] else 0)
    return ((x.float() / 255.0) - mean) / std


def steps_per_epoch(config, n: int) -> int:
    """Batches in an epoch of n examples under the recipe's batch size and drop_last (what TensorLoader yields)."""
    b = config.train.batch_size
    return n // b if config.data.drop_last else -(-n // b)


def plain_optimizer(model, optim_config) -> torch.optim.Optimizer:
    """The recipe's optimizer as a plain loop writes it (torch.optim.X(model.parameters(), ...)): torch's default
    implementation, not the fused one digitlab's factory picks."""
    opt = make_optimizer(model.parameters(), optim_config)
    if not opt.defaults.get("fused"):
        return opt
    import inspect

    accepted = inspect.signature(type(opt)).parameters  # defaults can hold keys the constructor does not take
    kwargs = {k: v for k, v in opt.defaults.items() if k != "fused" and k in accepted}
    return type(opt)(model.parameters(), **kwargs)


def plain_loop(recipe: str, dataset, epochs: int = 1, max_steps: int = 0, overrides: list[str] | None = None) -> dict:
    """The recipe's model, loss, optimizer, batch size and order, trained by the loop anyone would write first:
    whole splits as float tensors in memory, a slice (or a randperm gather) per batch, loss.item() every 100
    steps, one no_grad test pass per epoch in batches of data.eval_batch_size, torch's default optimizer
    implementation. Same initial weights as digitlab (torch.manual_seed(train.seed) before the model is built)."""
    config = cfgmod.with_overrides(load_recipe(recipe).config, overrides or [])
    spec = model_spec(config.model.name)
    d, t = config.data, config.train
    mean, std = (dataset.mean, dataset.std) if d.normalize else (0.0, 1.0)
    x = _floats(dataset.train_images, spec.input_size, mean, std)
    y = torch.as_tensor(dataset.train_labels, dtype=torch.long)
    xt = _floats(dataset.test_images, spec.input_size, mean, std)
    yt = torch.as_tensor(dataset.test_labels, dtype=torch.long)
    torch.manual_seed(t.seed)
    model = get_model(config.model.name, num_classes=10)
    loss_fn = make_loss(config.loss)
    optimizer = plain_optimizer(model, config.optim)
    n, b = len(y), t.batch_size
    per_epoch_steps = steps_per_epoch(config, n)
    scheduler = None
    if config.schedule.name != "constant":  # a plain loop has no scheduler unless the recipe needs one
        scheduler = make_scheduler(optimizer, config.schedule, epochs * per_epoch_steps, per_epoch_steps)
    gen = torch.Generator().manual_seed(t.seed)
    step, acc, train_s, test_s = 0, None, 0.0, 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen) if d.shuffle else None
        for i in range(per_epoch_steps):
            if order is None:
                xb, yb = x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]
            else:
                idx = order[i * b:(i + 1) * b]
                xb, yb = x[idx], y[idx]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if i % LOG_EVERY == 0:
                loss.item()
            step += 1
            if max_steps and step >= max_steps:
                break
        t1 = time.perf_counter()
        model.eval()
        correct = 0
        with torch.no_grad():
            for j in range(0, len(yt), d.eval_batch_size):
                correct += int((model(xt[j:j + d.eval_batch_size]).argmax(1) == yt[j:j + d.eval_batch_size]).sum())
        acc = 100.0 * correct / len(yt)
        train_s, test_s = train_s + t1 - t0, test_s + time.perf_counter() - t1
        if max_steps and step >= max_steps:
            break
    return {"seconds_per_epoch": per_epoch(train_s, test_s, step, per_epoch_steps, epochs, max_steps),
            "accuracy": None if max_steps else round(acc, 2), "steps": step, "steps_per_epoch": per_epoch_steps,
            "train_s": train_s, "test_s": test_s}


def per_epoch(train_s: float, test_s: float, steps: int, steps_per_epoch: int, epochs: int, max_steps: int) -> float:
    """Seconds per epoch with its test pass. Capped runs (max_steps): the steps' time scaled to a whole epoch, plus
    one whole test pass (a capped run still tests once, on the whole test split)."""
    if max_steps:
        return train_s / max(steps, 1) * steps_per_epoch + test_s
    return (train_s + test_s) / epochs


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # not installed, or built for another torch (it then fails to import)
        return False
    return True


def tutorial_way(recipe: str, ds, epochs: int, max_steps: int) -> dict:
    """The recipe written as the tutorials write it: torchvision dataset + DataLoader + a plain loop."""
    from loader import torchvision_root  # bench/loader.py
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    config = load_recipe(recipe).config
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
    optimizer = plain_optimizer(model, config.optim)  # torch.optim.X(...) as the tutorials write it
    scheduler = make_scheduler(optimizer, config.schedule, epochs * len(loader), len(loader))
    step, acc, train_s, test_s = 0, None, 0.0, 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
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
        t1 = time.perf_counter()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        acc = round(100.0 * correct / len(test_set), 2)
        train_s, test_s = train_s + t1 - t0, test_s + time.perf_counter() - t1
        if max_steps and step >= max_steps:
            break
    shutil.rmtree(root, ignore_errors=True)
    return {"seconds_per_epoch": per_epoch(train_s, test_s, step, len(loader), epochs, max_steps),
            "accuracy": None if max_steps else acc, "steps": step, "steps_per_epoch": len(loader)}


def digitlab_way(recipe: str, dataset, epochs: int, max_steps: int, tmp: Path) -> dict:
    """The recipe through digitlab.train (log_every out of the way); seconds from its summary."""
    config = load_recipe(recipe).config
    over = [f"train.epochs={epochs}", "train.log_every=100000"]
    if max_steps:
        over.append(f"train.max_steps={max_steps}")
    config = cfgmod.with_overrides(config, over)
    summary = digitlab.train(config, run_dir=tmp / f"{recipe}-{time.time_ns()}", dataset=dataset)
    # train_seconds = the steps + the test passes; images_per_second is over the steps alone
    step_s = summary["steps"] * config.train.batch_size / summary["images_per_second"]
    test_s = max(summary["train_seconds"] - step_s, 0.0)
    per_epoch_steps = steps_per_epoch(config, summary["n_train"])
    return {"seconds_per_epoch": per_epoch(step_s, test_s, summary["steps"], per_epoch_steps, epochs, max_steps),
            "accuracy": summary["final_test_acc"] if not max_steps else None, "train_s": step_s, "test_s": test_s}


SIDES = ("digitlab", "plain", "torchvision")


def run_side(name: str, recipe: str, dataset, epochs: int, max_steps: int, tmp: Path, isolate: bool = False) -> dict:
    """One side's run: in this process, or (isolate) in a fresh Python process of its own that loads the same
    verified files, so what ran before in this process (allocator state, caches, threads) cannot favour a side."""
    if isolate:
        cmd = [sys.executable, str(HERE / "sides.py"), name, recipe, "--dataset", dataset.requested, "--data-dir",
               dataset.path, "--epochs", str(epochs), "--max-steps", str(max_steps), "--tmp", str(tmp)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            return {"error": f"exit {out.returncode}: {(out.stderr.strip().splitlines() or ['no output'])[-1][:300]}"}
        return json.loads(lines[-1])
    if name == "digitlab":
        return digitlab_way(recipe, dataset, epochs, max_steps, tmp)
    if name == "plain":
        return plain_loop(recipe, dataset, epochs, max_steps)
    return tutorial_way(recipe, dataset, epochs, max_steps)


def main() -> None:
    """`python bench/sides.py SIDE RECIPE ...`: one side's run in this fresh process, its result as one JSON line."""
    import argparse

    from digitlab.data.sources import load_dataset

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("side", choices=SIDES)
    parser.add_argument("recipe")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    args = parser.parse_args()
    dataset = load_dataset(args.dataset, args.data_dir, strict=True)
    print(json.dumps(run_side(args.side, args.recipe, dataset, args.epochs, args.max_steps, Path(args.tmp))))


# ------------------------------------------------------------------------------------------------ MindSpore
MS_SPLITS = {"train": ("train_images", "train_labels"), "test": ("test_images", "test_labels")}


def write_mindspore_layout(dataset, root: Path) -> Path:
    """root/MNIST_Data/{train,test}/ with the four decompressed IDX files MindSpore's MnistDataset reads, written
    from the files digitlab verified (dataset.files: role -> path). Files already there with the right content
    are kept. Returns root/MNIST_Data."""
    from digitlab.data.catalog import STEMS

    missing = [r for roles in MS_SPLITS.values() for r in roles if r not in dataset.files]
    if missing:
        raise SystemExit(f"the MindSpore side needs the IDX files on disk; {dataset.name} has none for {missing}")
    target = root / "MNIST_Data"
    for split, roles in MS_SPLITS.items():
        for role in roles:
            raw = Path(dataset.files[role]).read_bytes()
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            out = target / split / STEMS[role]
            if not (out.exists() and out.stat().st_size == len(data) and out.read_bytes() == data):
                out.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(out, data)
    return target


def run_mindspore(python: str | None, program: str, data_root: Path, max_steps: int = 0,
                  timeout: float = 1800) -> dict | None:
    """Run bench/mindspore_seeds.py PROGRAM in MindSpore's venv; its last stdout line is a JSON result.
    None when `python` is missing (the venv has not been built)."""
    if not python or not Path(python).exists():
        return None
    cmd = [python, str(HERE / "mindspore_seeds.py"), program, "--data", str(data_root)]
    if max_steps:
        cmd += ["--steps", str(max_steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {"error": f"exit {out.returncode}: {tail}"}
    return json.loads(lines[-1])


def format_table(rows: list[dict]) -> str:
    """The side-by-side table: seconds per epoch (accuracy after it) for each side, then the ratios."""
    def cell(row: dict, side: str) -> str:
        if f"{side}_error" in row:
            return "failed"
        sec = row.get(f"{side}_s_per_epoch")
        if sec is None:
            return "-"
        acc = row.get(f"{side}_acc")
        return f"{sec:.2f}" + (f" ({acc:.2f}%)" if acc is not None else "")

    def ratio(value) -> str:
        return "-" if value is None else f"{value:.2f}x"

    head = ["recipe", "MindSpore s/ep", "torchvision s/ep", "plain loop s/ep", "digitlab s/ep", "vs MindSpore",
            "vs torchvision", "digitlab/plain"]
    body = [[r["recipe"], cell(r, "mindspore"), cell(r, "torchvision"), cell(r, "plain"), cell(r, "digitlab"),
             ratio(r.get("x_vs_mindspore")), ratio(r.get("x_vs_torchvision")), ratio(r.get("digitlab_over_plain"))]
            for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body])


if __name__ == "__main__":
    main()
