"""The registries a sweep picks from by name: metrics (what a trial's value is), samplers, pruners.

Adding one is one function and one registry entry; `check_spec` refuses unknown names before anything starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from digitlab.errors import ConfigError
from digitlab.sweep.params import Param, SweepSpec


@dataclass(frozen=True)
class Metric:
    record_key: str  # the field of an epoch's records.EvalRecord that holds it
    direction: str  # "maximize" | "minimize"

    def best(self, values: list[float]) -> float:
        return max(values) if self.direction == "maximize" else min(values)


METRICS = {"val_acc": Metric("val_acc", "maximize"), "val_loss": Metric("val_loss", "minimize")}


def _tpe(spec: SweepSpec, seed: int):
    import optuna

    # Optuna's default is 10 random trials before TPE models anything; a short sweep keeps a third of its budget.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, spec.trials // 3)))


def _random(spec: SweepSpec, seed: int):
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _grid(spec: SweepSpec, seed: int):
    import optuna

    # Grid ids index a seeded shuffle of the grid: every worker must shuffle alike, so the sweep's seed, not `seed`.
    return optuna.samplers.GridSampler({p.key: p.grid() for p in spec.params}, seed=spec.seed)


SAMPLERS = {"tpe": _tpe, "random": _random, "grid": _grid}


def _median():
    import optuna

    # Prune a trial whose epoch score is below the median of earlier trials at that epoch, once 3 trials finished.
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def _no_pruner():
    import optuna

    return optuna.pruners.NopPruner()


PRUNERS = {"median": _median, "none": _no_pruner}


def check_spec(spec: SweepSpec) -> None:
    for label, value, registry in (("--sampler", spec.sampler, SAMPLERS), ("--metric", spec.metric, METRICS),
                                   ("--pruner", spec.pruner, PRUNERS)):
        if value not in registry:
            raise ConfigError(f"{label} '{value}': choose one of {', '.join(registry)}")
    if spec.trials < 1:
        raise ConfigError(f"--trials {spec.trials}: a sweep needs at least one trial")
    if spec.sampler == "grid":
        grid_size(spec.params)  # raises for a float range with no step


def grid_size(params: tuple[Param, ...]) -> int:
    return math.prod(len(p.grid()) for p in params)


def target_trials(spec: SweepSpec) -> int:
    """How many trials the sweep finishes: --trials, or the whole grid when that is smaller."""
    return min(spec.trials, grid_size(spec.params)) if spec.sampler == "grid" else spec.trials
