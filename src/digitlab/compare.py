"""Compare runs side by side (a table sorted by accuracy + overlaid curves), or train recipes to compare."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

from digitlab import runs
from digitlab.config import with_overrides
from digitlab.errors import ConfigError

COLUMNS = ["run", "recipe", "model", "params", "epochs", "best_test_acc", "final_test_acc", "final_test_loss",
           "train_seconds", "images_per_second", "data", "data_source", "status"]


def compare_runs(targets: list[str | os.PathLike], plot_out: str | os.PathLike | None = None) -> list[dict]:
    """Rows (one per run) sorted by best test accuracy, best first; optionally the overlay plot."""
    if not targets:
        raise ConfigError("name at least one run folder to compare")
    folders = [runs.resolve_run(t) for t in targets]
    rows = [runs.run_row(f) for f in folders]
    rows.sort(key=lambda r: -(r["best_test_acc"] if r["best_test_acc"] is not None else -1))
    if plot_out:
        from digitlab.plots import overlay_runs

        overlay_runs([(f"{f.name} ({runs.run_row(f)['model']})", runs.MetricsLog.read(f / "metrics.jsonl"))
                      for f in folders], plot_out)
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def train_recipes(recipes: list[str], overrides: list[str] | None = None, reporter=None, progress=None) -> list[Path]:
    """Train each recipe with the same data and seed (and any overrides, e.g. train.epochs=3)."""
    from digitlab.recipes import load_recipe
    from digitlab.training.engine import train

    if len(recipes) < 1:
        raise ConfigError("--recipes: name at least one recipe")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folders = []
    dataset = None
    for name in recipes:
        config = with_overrides(load_recipe(name).config, overrides)
        summary = train(config, name=f"compare-{stamp}-{name}", reporter=reporter, dataset=dataset, progress=progress)
        folders.append(Path(summary["run_dir"]))
        if dataset is None:  # load (and verify) the data once; every recipe then sees the same arrays
            from digitlab.data.sources import load_dataset

            dataset = load_dataset(config.data.dataset, config.data.data_dir or None, strict=config.data.strict)
    return folders


