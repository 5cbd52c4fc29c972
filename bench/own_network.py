"""Your own network against the built-in one it copies: the same recipe, seeds and data, run in turn.

    python bench/own_network.py [--data-dir DIR] [--seeds 3] [--epochs 3] [--threads 1]

Pairs, each trained with `digitlab train --recipe RECIPE --json` in a fresh process per run (the order of the two
sides alternating from seed to seed, so a slow minute hits both):

    quickstart   --model mlp            vs  --model examples/quickstart_network.py:Network (the quick start's
                                            Network ported to PyTorch, loaded from the user's file)
    deep         --model mlp-deep       vs  --model mlp --set model.hidden=[512,1024,512,128] (the recipe
                 (quickstart-deep)          quickstart-deep, as an architecture setting)

Prints each run's final test accuracy and train_seconds (summary.json: first step to the end of the last epoch),
then per pair the median time ratio (user side / built-in side) and the accuracies. Run by hand, never in the suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAIRS = {
    "quickstart": ("quickstart", ["--model", "mlp"], ["--model", f"{REPO}/examples/quickstart_network.py:Network"]),
    "deep": ("quickstart-deep", ["--model", "mlp-deep"], ["--model", "mlp", "--set", "model.hidden=[512,1024,512,128]"]),
}


def run(recipe: str, side: list[str], seed: int, args, folder: Path) -> dict:
    cmd = [sys.executable, "-m", "digitlab", "train", "--recipe", recipe, *side, "--seed", str(seed),
           "--epochs", str(args.epochs), "--threads", str(args.threads), "--run-dir", str(folder), "--json",
           "--set", "train.loss_plot=false", *(["--data-dir", args.data_dir] if args.data_dir else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    return {"acc": summary["final_test_acc"], "s": summary["train_seconds"], "params": summary["params"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pairs", default="quickstart,deep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.pairs.split(","):
            recipe, builtin, own = PAIRS[name]
            rows: dict[str, list[dict]] = {"builtin": [], "own": []}
            for seed in range(args.seeds):
                order = [("builtin", builtin), ("own", own)]
                for label, side in order if seed % 2 == 0 else order[::-1]:
                    r = run(recipe, side, seed, args, Path(tmp) / f"{name}-{label}-{seed}")
                    rows[label].append(r)
                    print(f"{name:10s} seed {seed} {label:7s} {' '.join(side):60s} acc {r['acc']:.2f}%  "
                          f"{r['s']:.2f} s  {r['params']:,} params", flush=True)
            ratio = statistics.median(o["s"] / b["s"] for o, b in zip(rows["own"], rows["builtin"]))
            accs = {k: [r["acc"] for r in v] for k, v in rows.items()}
            print(f"{name}: time ratio own/built-in, median of {args.seeds} seeds: {ratio:.3f}; accuracy built-in "
                  f"{accs['builtin']}, own {accs['own']}; identical: {accs['builtin'] == accs['own']}", flush=True)


if __name__ == "__main__":
    main()
