"""Hyper-parameter sweeps on Optuna: vary config keys, train each trial as an ordinary run, report the best.

    new_sweep(recipe, params, trials, ...) -> Path    check everything, make the sweep folder and its study
    new_sweep_from(request) -> Path                   the same from a resolved SweepRequest (request.py: the
                                                      CLI's options laid over a sweep file)
    run_worker(sweep_dir, events)                     run trials here until the sweep has its number
    report.summarize(sweep_dir) -> SweepResult        the sorted rows, counts, best trial (on validation)
    report.write_outputs(result)                      best.toml + params.png, history.png, importance.png

params.py parses what to vary, request.py merges what is asked with a sweep file, choices.py holds the
metric/sampler/pruner registries, study.py owns the Optuna study and the trial loop, workers.py the --jobs
processes, report.py the results.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from digitlab import config as cfgmod
from digitlab import paths
from digitlab.errors import ConfigError
from digitlab.sweep.params import Param, SweepFile, SweepSpec, bundled_sweeps, load_sweep_file, parse_params
from digitlab.sweep.request import SweepRequest
from digitlab.sweep.study import SweepEvents, create_sweep, fail_dead_trials, load_sweep, run_worker

VAL_FRACTION = 12  # with data.val_size unset, a sweep validates on 1/12 of the training set (5,000 of 60,000)


def default_val_size(base: cfgmod.Config) -> int:
    """A twelfth of the training examples the config keeps (after data.classes / data.limit)."""
    import digitlab
    from digitlab.data.loader import select

    d = base.data
    dataset = digitlab.load_dataset(d.dataset, d.data_dir or None, strict=d.strict, test_size=d.test_size)
    _, labels = select(dataset.train_images, dataset.train_labels, d.classes, d.limit)
    return max(1, len(labels) // VAL_FRACTION)


def trust_own_network(base: cfgmod.Config) -> None:
    """A sweep of the user's own network, set up by this user: its file goes on the trust list, since the workers
    (and a later `--resume`) read it from the sweep's base config, and run it only when it is trusted."""
    from digitlab.models import trust, user

    if user.is_user_ref(base.model.name):
        trust.add(user.read_code(base.model.name, base.model.args), "swept")


def new_sweep(recipe: str, params: list[str], trials: int, *, overrides: list[str] | None = None,
              config_file: str | os.PathLike | None = None, sampler: str = "tpe", metric: str = "val_acc",
              pruner: str = "median", seed: int = 0, name: str | None = None, root: str | os.PathLike | None = None,
              storage: str = "", values: dict | None = None, file_overrides: list[str] | None = None) -> Path:
    """Validate the recipe, overrides and every parameter value, then create the sweep folder and its study."""
    return new_sweep_from(SweepRequest(
        recipe=recipe, params=tuple(params), trials=trials, sampler=sampler, metric=metric, pruner=pruner, seed=seed,
        name=name, root=root, storage=storage, overrides=tuple(overrides or ()), config_file=config_file,
        values=dict(values or {}), file_overrides=tuple(file_overrides or ())))


RESOLVED = ("recipe", "trials", "sampler", "metric", "pruner", "seed", "storage")  # what .over() always fills


def new_sweep_from(request: SweepRequest) -> Path:
    """new_sweep from a resolved request (`request.over(sweep_file_or_None)`)."""
    missing = [f for f in RESOLVED if getattr(request, f) is None]
    if missing:
        raise ValueError(f"SweepRequest.{missing[0]} is not set: resolve the request with .over(sweep_file) first")
    import digitlab
    from digitlab.sweep.study import require_optuna

    require_optuna()

    from digitlab.recipes import resolve_config

    r = request
    # recipe <- --config <- the sweep file's [set] <- typed options (--dataset, --epochs, ...) <- --set
    base = resolve_config(r.recipe, r.config_file, None, list(r.file_overrides))
    base = cfgmod.with_overrides(cfgmod.with_values(base, dict(r.values), origin="option"), list(r.overrides))
    digitlab.check_config(base)
    trust_own_network(base)
    parsed = parse_params(list(r.params))
    from digitlab.sweep.params import check_params

    check_params(base, parsed)
    name = r.name or f"sweep-{r.recipe}-{time.strftime('%Y%m%d-%H%M%S')}"
    if problem := paths.folder_name_problem(name):
        raise ConfigError(f"--name {name!r}: not a sweep name ({problem})")
    spec = SweepSpec(name, r.recipe, parsed, r.trials, r.sampler, r.metric, r.pruner, r.seed, r.storage)
    from digitlab.sweep.choices import check_spec

    check_spec(spec)  # before the data loads: a bad sampler name should not wait for that
    folder = Path(r.root) if r.root else paths.runs_root()
    if base.data.val_size == 0:
        base = replace(base, data=replace(base.data, val_size=default_val_size(base)))
    return create_sweep(spec, base, folder / name)


__all__ = ["Param", "SweepEvents", "SweepFile", "SweepRequest", "SweepSpec", "bundled_sweeps", "create_sweep",
           "fail_dead_trials", "load_sweep", "load_sweep_file", "new_sweep", "new_sweep_from", "parse_params",
           "run_worker"]
