"""Where digitlab's training loop spends time beyond the model: microseconds per step, one process, interleaved.

    python bench/loop_overhead.py [--data-dir DIR] [--recipe quickstart] [--steps 600] [--repeats 5]

Variants, each `--steps` steps from a fresh Session (same model, optimizer, loader and data), run in turn (the order
reversed every other round, so a slow minute hits them all) and reported as the median microseconds per step:

    run_epoch        digitlab's own loop (training/loop.py), bookkeeping and all
    train_step       only loop.train_step over the same loader: no losses kept, no epoch sum, no reporter (SGD's
                     update inside backward where the run would do that: training/inbackward.py)
    bare             the four lines anyone writes, over the same Session objects (loader, net, optimizer, scheduler),
                     the update after backward
    plain            bench/sides.py's plain loop: its own float tensors and torch's default optimizer

run_epoch - train_step is the bookkeeping's cost; train_step - bare the step function's (with the in-backward update's
gain); bare - plain what digitlab's loader (one gather from the split normalized once) and fused optimizer step cost
or save. `bare` and `plain` are float32 NCHW loops: compare like with like only for recipes without
train.channels_last / train.amp (the tutorial MLPs, e.g. quickstart). Run by hand, never in the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sides  # bench/sides.py
import torch

from digitlab import config as cfgmod
from digitlab import distributed
from digitlab.data.sources import load_dataset
from digitlab.recipes import load_recipe
from digitlab.training import loop
from digitlab.training.report import Reporter
from digitlab.training.setup import check_config, open_session, prepare_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="Full MNIST (default: digitlab's data home)")
    parser.add_argument("--recipe", default="quickstart")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dataset = load_dataset("mnist", args.data_dir, strict=True)
    n = args.steps
    config = check_config(cfgmod.with_overrides(load_recipe(args.recipe).config,
                                                ["train.log_every=100000", f"train.max_steps={n}"]))
    device = torch.device("cpu")
    data = prepare_data(config, device, dataset)
    tmp = Path(tempfile.mkdtemp(prefix="digitlab-loop-"))

    def session():
        folder = tmp / f"run-{time.time_ns()}"
        folder.mkdir()
        s = open_session(config, folder, device, distributed.from_env(), data)
        s.data.train.set_epoch(0, 0)
        return s

    def run_epoch() -> float:
        s = session()
        with loop.StopFlag() as stop:
            t = time.perf_counter()
            loop.run_epoch(s, Reporter(), stop)
            return time.perf_counter() - t

    def train_step() -> float:
        s = session()
        args_ = (s.loss_fn, s.stepper, s.scheduler, s.config.optim.grad_clip, s.config.train.channels_last,
                 s.precision.bf16)
        t = time.perf_counter()
        for i, (x, y) in enumerate(s.data.train):
            if i >= n:
                break
            loop.train_step(s.net, x, y, *args_)
        return time.perf_counter() - t

    def bare() -> float:
        s = session()
        if s.in_backward:  # the four lines step the optimizer themselves
            s.in_backward.remove()
        t = time.perf_counter()
        for i, (x, y) in enumerate(s.data.train):
            if i >= n:
                break
            loss = s.loss_fn(s.net(x), y)
            s.optimizer.zero_grad()
            loss.backward()
            s.optimizer.step()
            s.scheduler.step()
        return time.perf_counter() - t

    def plain() -> float:
        return sides.plain_loop(args.recipe, dataset, 1, n)["train_s"]

    variants = {"run_epoch": run_epoch, "train_step": train_step, "bare": bare, "plain": plain}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.repeats):
        for name in list(variants) if r % 2 == 0 else list(variants)[::-1]:
            times[name].append(variants[name]() / n * 1e6)
    print(f"{args.recipe}: {n} steps x {args.repeats} rounds, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; microseconds per step, median (every round)")
    for name, values in times.items():
        print(f"  {name:11s} {statistics.median(values):7.0f}   {[round(v) for v in values]}")


if __name__ == "__main__":
    main()
