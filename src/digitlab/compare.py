"""Compare runs side by side (a table sorted by accuracy + overlaid curves), or train recipes to compare."""

from __future__ import annotations

import os
import time
from pathlib import Path

from digitlab import runs, steplosses
from digitlab.errors import ConfigError, DigitlabError
from digitlab.records import RunRow


def compare_runs(targets: list[str | os.PathLike], plot_out: str | os.PathLike | None = None,
                 x: str = "epochs") -> list[RunRow]:
    """Rows (one per run) sorted by best test accuracy, best first; optionally the overlay plot (x: steps, epochs or
    images seen)."""
    if not targets:
        raise ConfigError("name at least one run folder to compare")
    folders = [runs.resolve_run(t) for t in targets]
    rows = [runs.safe_run_row(f) for f in folders]  # a damaged run is listed as such, the others as usual
    if plot_out:
        plot_runs(folders, plot_out, rows, x=x)
    return sorted(rows, key=lambda r: -(r.best_test_acc if r.best_test_acc is not None else -1))


def batch_size(folder: Path) -> int:
    """The run's (global) batch size from its config.toml, for an x axis of images seen."""
    from digitlab import config as cfgmod

    try:
        return int(cfgmod.load_toml(folder / "config.toml").get("train", {}).get("batch_size", 0)) or 1
    except (DigitlabError, TypeError, ValueError, AttributeError) as exc:
        raise DigitlabError(f"{folder / 'config.toml'}: no readable train.batch_size ({exc}); --x images needs it; "
                            "use --x steps or --x epochs") from None


def plot_runs(folders: list[Path], out: str | os.PathLike, rows: list[RunRow] | None = None, x: str = "epochs",
              title: str = "") -> Path:
    """Overlay the runs' curves in one figure, labelled "run (model)"; rows may be passed when already read."""
    from digitlab.curves import X_UNITS, Series, overlay_runs, with_every_step

    if x not in X_UNITS:
        raise ConfigError(f"--x {x}: choose {', '.join(X_UNITS)}")
    rows = rows or [runs.safe_run_row(f) for f in folders]
    series = [Series(f"{f.name} ({row.model})",
                     with_every_step(runs.MetricsLog.read(f / "metrics.jsonl"), steplosses.read_step_losses(f)),
                     batch_size(f) if x == "images" else 1) for f, row in zip(folders, rows)]
    if not any(s.records for s in series):
        raise DigitlabError("these runs have logged nothing yet")
    return overlay_runs(series, out, x=x, title=title)


def train_recipes(recipes: list[str], overrides: list[str] | None = None, reporter=None, progress=None,
                  values: dict | None = None) -> list[Path]:
    """Train each recipe with the same data and seed: typed `values` by "section.key" (e.g. {"train.epochs": 3};
    None = the recipe's own) then `--set`-style overrides, applied to every recipe."""
    from digitlab.recipes import resolve_config
    from digitlab.training.engine import train
    from digitlab.training.setup import check_config

    if len(recipes) < 1:
        raise ConfigError("--recipes: name at least one recipe")
    from digitlab.data.sources import load_dataset

    stamp = time.strftime("%Y%m%d-%H%M%S")
    # every config is resolved (bad names and values refused) before anything trains
    configs = [check_config(resolve_config(name, values=values, overrides=overrides)) for name in recipes]
    first = configs[0].data
    # load (and verify) the data once; every recipe then trains on the same arrays
    dataset = load_dataset(first.dataset, first.data_dir or None, strict=first.strict, progress=progress,
                           test_size=first.test_size)
    folders = []
    for name, config in zip(recipes, configs):
        summary = train(config, name=f"compare-{stamp}-{name}", reporter=reporter, dataset=dataset)
        folders.append(Path(summary.run_dir))
    return folders


