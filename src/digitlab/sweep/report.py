"""A sweep's results: the trial rows sorted by the metric, the best configuration as TOML, and the PNG plots.

    summarize(sweep_dir) -> SweepResult   rows, counts, best trial (by its validation value only) and,
                                          read from its run folder, the test accuracy of that trial's best epoch
    write_outputs(result, sweep_dir)      best.toml (loadable by `digitlab train --config`), params.png
                                          (metric vs each parameter), history.png (value per trial and
                                          best so far), importance.png (Optuna's parameter importances)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from digitlab import config as cfgmod  # noqa: E402
from digitlab import io  # noqa: E402
from digitlab.errors import ConfigError  # noqa: E402
from digitlab.runs import MetricsLog  # noqa: E402
from digitlab.sweep.choices import METRICS, target_trials  # noqa: E402
from digitlab.sweep.params import SweepSpec, apply_all  # noqa: E402
from digitlab.sweep.study import is_dead, load_sweep, open_study  # noqa: E402

STATE_ORDER = {"complete": 0, "pruned": 1, "running": 2, "interrupted": 3, "fail": 4, "waiting": 5}


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # complete | pruned | running | interrupted (running, but its process on this host is gone) | fail
    value: float | None  # the metric (validation): a complete trial's best epoch, a pruned one's last report
    params: dict
    run: str  # run folder name under the sweep folder
    epochs: int
    outcome: str  # complete / pruned after epoch N / diverged: ...
    seconds: float | None  # wall time of the trial (training + evaluation + writing)
    best_epoch: int | None = None  # the epoch whose validation score is the trial's value

    def to_dict(self) -> dict:
        return {"trial": self.number, "state": self.state, "value": self.value, "params": self.params,
                "run": self.run, "epochs": self.epochs, "outcome": self.outcome, "seconds": self.seconds,
                "best_epoch": self.best_epoch}


@dataclass(frozen=True)
class SweepResult:
    name: str
    folder: str
    metric: str
    direction: str
    target: int
    rows: tuple[TrialRow, ...]  # sorted: complete by the metric, then pruned by the metric, then the rest
    counts: dict  # state -> number of trials
    best: TrialRow | None  # the best complete trial, chosen on the validation metric
    best_test_acc: float | None  # that trial's test accuracy at its best validation epoch (percent)
    spec: SweepSpec

    def to_dict(self) -> dict:
        return {"name": self.name, "folder": self.folder, "metric": self.metric, "direction": self.direction,
                "target": self.target, "counts": self.counts, "best": self.best.to_dict() if self.best else None,
                "best_test_acc": self.best_test_acc, "trials": [r.to_dict() for r in self.rows]}


def row_for(trial) -> TrialRow:
    """An Optuna FrozenTrial as a table row."""
    state = trial.state.name.lower()
    if state == "running" and is_dead(trial):
        state = "interrupted"  # the next worker or --resume marks it failed
    value = trial.value
    if value is None and state == "pruned" and trial.intermediate_values:  # its last report
        value = trial.intermediate_values[max(trial.intermediate_values)]
    seconds = None
    if trial.datetime_start and trial.datetime_complete:
        seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    attrs = trial.user_attrs
    return TrialRow(trial.number, state, value, dict(trial.params), attrs.get("run", f"trial-{trial.number:03d}"),
                    int(attrs.get("epochs", len(trial.intermediate_values))), attrs.get("outcome", state), seconds,
                    attrs.get("best_epoch"))


def _sort_key(row: TrialRow, sign: float) -> tuple:
    value = row.value if row.value is not None and math.isfinite(row.value) else math.inf * sign
    return (STATE_ORDER.get(row.state, 9), -sign * value, row.number)


def test_acc_at_best_epoch(run_dir: Path, epoch: int | None) -> float | None:
    """The test accuracy the run logged at `epoch` (the one its validation score chose)."""
    records = [r for r in MetricsLog.read(run_dir / "metrics.jsonl") if r.kind == "epoch"]
    for r in records:
        if r.epoch == epoch:
            return r.test_acc
    return None


def summarize(sweep_dir: str | os.PathLike) -> SweepResult:
    sweep_dir = Path(sweep_dir)
    spec, _ = load_sweep(sweep_dir)
    study = open_study(spec, sweep_dir)
    metric = METRICS[spec.metric]
    sign = 1.0 if metric.direction == "maximize" else -1.0
    trials = study.get_trials(deepcopy=False)
    rows = tuple(sorted((row_for(t) for t in trials), key=lambda r: _sort_key(r, sign)))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    best = next((r for r in rows if r.state == "complete" and r.value is not None), None)
    best_test = None
    if best is not None:
        best_test = test_acc_at_best_epoch(sweep_dir / best.run, best.best_epoch)
    return SweepResult(spec.name, str(sweep_dir), spec.metric, metric.direction, target_trials(spec), rows, counts,
                       best, best_test, spec)


@dataclass(frozen=True)
class Group:
    """The complete trials sharing one value of a parameter (e.g. one model over several seeds)."""

    value: object
    n: int
    mean: float
    std: float  # sample standard deviation (n-1); 0 for one trial
    low: float
    high: float
    test_mean: float | None  # test accuracy at each trial's best validation epoch, read after the fact
    test_std: float | None

    def to_dict(self) -> dict:
        return {"value": self.value, "n": self.n, "mean": self.mean, "std": self.std, "min": self.low,
                "max": self.high, "test_mean": self.test_mean, "test_std": self.test_std}


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


def groups(result: SweepResult, key: str) -> list[Group]:
    """Mean and spread of the metric per value of `key` over complete trials, best mean first (`show --by`)."""
    from digitlab.errors import ConfigError

    if key not in {p.key for p in result.spec.params}:
        raise ConfigError(f"--by {key}: not a swept key; choose one of {', '.join(p.key for p in result.spec.params)}")
    by: dict = {}
    for r in result.rows:
        if r.state == "complete" and r.value is not None:
            by.setdefault(r.params[key], []).append(r)
    out = []
    for value, rows in by.items():
        mean, std = _mean_std([r.value for r in rows])
        tests = [t for t in (test_acc_at_best_epoch(Path(result.folder) / r.run, r.best_epoch) for r in rows)
                 if t is not None]
        test_mean, test_std = _mean_std(tests) if tests else (None, None)
        vals = [r.value for r in rows]
        out.append(Group(value, len(rows), mean, std, min(vals), max(vals), test_mean, test_std))
    sign = -1 if result.direction == "maximize" else 1
    return sorted(out, key=lambda g: sign * g.mean)


# ------------------------------------------------------------------------------------------- files
def best_config_toml(result: SweepResult) -> str:
    """The best trial's own resolved config (its run folder's config.toml) under a header saying where from."""
    assert result.best is not None
    run_config = Path(result.folder) / result.best.run / "config.toml"
    if run_config.is_file():
        raw = io.read_limited(run_config, cfgmod.MAX_TOML_BYTES, ConfigError)  # a trial's record: a few KB
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{run_config}: not UTF-8 text; the trial's config.toml is damaged") from None
    else:  # the trial ran on another machine sharing the study (--storage): rebuild its config from ours
        _, base = load_sweep(result.folder)
        text = cfgmod.dumps(apply_all(base, result.spec.params, result.best.params))
    params = ", ".join(f"{k}={v}" for k, v in result.best.params.items())
    header = (f"# Best trial of sweep '{result.name}': {result.best.run}, {result.metric} {result.best.value:.4g} "
              f"(validation split, data.val_size)\n# with {params}\n"
              "# Train it again: digitlab train --config best.toml (add --set data.val_size=0 to use all training data)\n")
    return header + text


def _scale(result: SweepResult, key: str) -> str:
    param = next((p for p in result.spec.params if p.key == key), None)
    return "log" if param is not None and param.log else "linear"


def plot_params(result: SweepResult, out: Path) -> Path:
    """The metric against each swept parameter; pruned trials hollow (their last epoch's value)."""
    keys = [p.key for p in result.spec.params]
    cols = min(len(keys), 3)
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        param = next(p for p in result.spec.params if p.key == key)
        categories = [str(c) for c in param.choices]
        for state, style in (("complete", {"color": "C0"}), ("pruned", {"facecolors": "none", "edgecolors": "C1"})):
            pts = [(r.params[key], r.value) for r in result.rows
                   if r.state == state and r.value is not None and key in r.params]
            if not pts:
                continue
            xs = [categories.index(str(x)) if param.kind == "choice" else x for x, _ in pts]
            ax.scatter(xs, [y for _, y in pts], label=state, s=28, **style)
        if param.kind == "choice":
            ax.set_xticks(range(len(categories)), categories, rotation=20)
            ax.set_xlim(-0.5, len(categories) - 0.5)
        else:
            ax.set_xscale(_scale(result, key))
        ax.set_xlabel(key)
        ax.set_ylabel(result.metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"sweep {result.name}: {result.metric} (validation) per parameter", fontsize=10)
    return _save(fig, out)


def plot_history(result: SweepResult, out: Path) -> Path:
    """Each trial's value in trial order, and the best so far."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    done = sorted((r for r in result.rows if r.value is not None and r.state in ("complete", "pruned")),
                  key=lambda r: r.number)
    for state, style in (("complete", {"color": "C0"}), ("pruned", {"facecolors": "none", "edgecolors": "C1"})):
        pts = [(r.number, r.value) for r in done if r.state == state]
        if pts:
            ax.scatter(*zip(*pts), label=state, s=28, **style)
    best, xs, ys = None, [], []
    pick = max if result.direction == "maximize" else min
    for r in done:
        if r.state == "complete":
            best = r.value if best is None else pick(best, r.value)
        if best is not None:
            xs.append(r.number)
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(result.metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"sweep {result.name}: optimisation history", fontsize=10)
    return _save(fig, out)


def importances(result: SweepResult) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA by default) over complete trials; {} when too few to judge."""
    import optuna

    complete = [r for r in result.rows if r.state == "complete"]
    if len(complete) < 2 or len(result.spec.params) == 0:
        return {}
    study = open_study(result.spec, Path(result.folder))
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}  # e.g. every complete trial has the same value


def plot_importance(result: SweepResult, values: dict[str, float], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.5 * max(len(values), 1)))
    keys = list(values)[::-1]
    ax.barh(keys, [values[k] for k in keys], color="C2")
    ax.set_xlabel("importance (Optuna PED-ANOVA, normalised to sum to 1)")
    ax.set_title(f"sweep {result.name}: parameter importance", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    io.atomic_save(out, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return out


def write_outputs(result: SweepResult) -> list[Path]:
    """best.toml and the plots in the sweep folder; the importance plot only when there is something to rank."""
    folder = Path(result.folder)
    written = []
    if result.best is not None:
        written.append(io.atomic_write(folder / "best.toml", best_config_toml(result)))
    if any(r.value is not None for r in result.rows):
        written += [plot_params(result, folder / "params.png"), plot_history(result, folder / "history.png")]
        values = importances(result)
        if values:
            written.append(plot_importance(result, values, folder / "importance.png"))
    return written
