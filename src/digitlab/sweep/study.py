"""The Optuna study behind a sweep: create or reopen it, and run its trials in this process (one worker).

    SWEEP/                      the sweep folder (what `digitlab sweep --resume` and `sweep show` take)
      sweep.json  base.toml     the SweepSpec and the base config every trial starts from
      study.db                  the Optuna study (SQLite; or any database given as --storage URL)
      trial-000/ trial-001/     one ordinary run folder per trial (its parameters are in its config.toml)

Each trial trains through the public `digitlab.train` on a validation split carved from the training set; its
value is the best per-epoch validation metric (the epoch `best.safetensors` holds), never a test figure. A
Reporter passes each epoch's validation score to `trial.report` and stops the run when Optuna prunes it.

Several workers (processes, or machines sharing one database) may run one study. A lock (storage.StudyLock: a
file in the sweep folder, and on PostgreSQL an advisory lock in the database) makes "count the trials, start the
next one" atomic for all workers, so a sweep never runs more trials than asked (nor a grid point twice). A worker
that dies leaves its trial RUNNING: the next worker to start (or `--resume`) marks it FAIL when its process is gone
from this host, and Optuna's heartbeat does the same after the grace period (storage.heartbeat) for workers on
other machines. Failed trials are not counted. `adopt_sweep` makes a sweep folder on a machine that has none from
what the study itself holds (`--resume DIR --storage URL`).
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from dataclasses import replace
from pathlib import Path

from digitlab import config as cfgmod
from digitlab import io, paths
from digitlab.config import Config
from digitlab.errors import ConfigError, TrainingError, TrainingInterrupted
from digitlab.records import EvalRecord
from digitlab.sweep.choices import METRICS, PRUNERS, SAMPLERS, Metric, check_spec, target_trials
from digitlab.sweep.params import Param, SweepSpec, apply_all
from digitlab.sweep.storage import StudyLock, open_storage, redact, require_optuna, storage_url  # noqa: F401
from digitlab.training.report import Reporter


# ------------------------------------------------------------------------------------------- folder and storage
def create_sweep(spec: SweepSpec, base: Config, sweep_dir: str | os.PathLike) -> Path:
    """Make the sweep folder and its study; refuses a folder that already holds anything (use resume)."""
    optuna = require_optuna()

    sweep_dir = Path(sweep_dir)
    check_spec(spec)
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise ConfigError(f"{sweep_dir}: folder exists and is not empty; choose another --name or "
                          f"continue it with: digitlab sweep --resume {sweep_dir}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    spec = replace(spec, study_name=spec.study_name or spec.name)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by digitlab, once
    study = optuna.create_study(storage=open_storage(storage_url(spec, sweep_dir)), study_name=spec.study_name,
                                direction=METRICS[spec.metric].direction, load_if_exists=bool(spec.storage))
    # What is swept, kept in the study itself: another machine joining it (--storage, same --name) must agree.
    shared = {"params": [p.to_dict() for p in spec.params], "metric": spec.metric, "base": cfgmod.to_dict(base)}
    held = study.user_attrs.get("sweep")
    if held is None:
        study.set_user_attr("sweep", json.loads(json.dumps(shared)))
        # the whole spec, less the URL (and its password): what `--resume DIR --storage URL` rebuilds a folder from
        study.set_user_attr("spec", {**spec.to_dict(), "storage": ""})
    elif held != json.loads(json.dumps(shared)):
        sweep_dir.rmdir()
        raise ConfigError(f"--storage {redact(spec.storage)}: study '{spec.study_name}' already sweeps other parameters or "
                          "another base config; use the same recipe, --param and --set on every machine, or a new --name")
    io.atomic_write(sweep_dir / "base.toml", cfgmod.dumps(base))
    io.write_json(sweep_dir / "sweep.json", spec.to_dict())
    return sweep_dir


def load_sweep(sweep_dir: str | os.PathLike) -> tuple[SweepSpec, Config]:
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "sweep.json").is_file():
        raise ConfigError(f"{sweep_dir}: not a sweep folder (no sweep.json); `digitlab sweep --name NAME` makes one")
    from digitlab.runs import read_json

    spec = SweepSpec.from_dict(read_json(sweep_dir / "sweep.json"))
    base = cfgmod.from_dict(cfgmod.load_toml(sweep_dir / "base.toml"), str(sweep_dir / "base.toml"))
    return spec, base


def adopt_sweep(sweep_dir: str | os.PathLike, storage: str) -> Path:
    """`--resume DIR --storage URL` on a machine without DIR: make the folder from the study named DIR's name
    (what its first machine stored in it), so this machine can finish the study."""
    optuna = require_optuna()

    sweep_dir = Path(sweep_dir)
    if (sweep_dir / "sweep.json").is_file():
        raise ConfigError(f"--resume {sweep_dir}: this folder already holds a sweep; drop --storage (its URL is in "
                          "sweep.json)")
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise ConfigError(f"--resume {sweep_dir}: folder exists, is not empty and holds no sweep.json")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.load_study(study_name=sweep_dir.name, storage=open_storage(storage))
    except KeyError:
        raise ConfigError(f"--resume {sweep_dir} --storage {redact(storage)}: no study named '{sweep_dir.name}' there "
                          "(the folder's name is the study's: the sweep's --name)") from None
    raw, shared = study.user_attrs.get("spec"), study.user_attrs.get("sweep")
    if raw is None or shared is None:
        raise ConfigError(f"--storage {redact(storage)}: study '{sweep_dir.name}' was not made by this version of "
                          "`digitlab sweep`; run the sweep's own command on this machine instead")
    spec = replace(SweepSpec.from_dict(raw), storage=storage)
    base = cfgmod.from_dict(shared["base"], f"study {sweep_dir.name}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    io.atomic_write(sweep_dir / "base.toml", cfgmod.dumps(base))
    io.write_json(sweep_dir / "sweep.json", spec.to_dict())
    return sweep_dir


def raise_trials(sweep_dir: str | os.PathLike, trials: int) -> SweepSpec:
    """`--resume DIR --trials N`: change how many trials the sweep finishes (sweep.json is rewritten)."""
    spec, _ = load_sweep(sweep_dir)
    spec = replace(spec, trials=trials)
    check_spec(spec)
    open_study(spec, Path(sweep_dir))  # a study that cannot be opened: refused before sweep.json changes
    io.write_json(Path(sweep_dir) / "sweep.json", spec.to_dict())
    return spec


def open_study(spec: SweepSpec, sweep_dir: Path, sampler=None):
    optuna = require_optuna()

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by digitlab, once
    try:
        return optuna.load_study(study_name=spec.study_name or spec.name, storage=open_storage(storage_url(spec, sweep_dir)),
                                 sampler=sampler, pruner=PRUNERS[spec.pruner]())
    except KeyError:
        name = spec.study_name or spec.name
        raise ConfigError(f"{sweep_dir}: study '{name}' is not in {redact(storage_url(spec, sweep_dir))}") from None


def is_dead(trial) -> bool:
    """A RUNNING trial whose worker ran on this host and whose process is gone (killed, crashed, power loss)."""
    attrs = trial.user_attrs
    return attrs.get("host") == socket.gethostname() and not paths.pid_alive(int(attrs.get("pid", 0)))


def fail_dead_trials(study) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker process is gone (this host) or silent (heartbeat, any host)."""
    import optuna
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_dead(t):
            try:
                study.tell(t.number, state=TrialState.FAIL)  # Optuna's public way to end a trial
                failed.append(t.number)
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
                pass  # another worker got there first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)
        requeue_lost_grid_points(study)
    return failed


def requeue_lost_grid_points(study) -> list[dict]:
    """A grid sweep's point whose only trial failed (its worker killed, the sweep interrupted) is run again.

    Optuna's GridSampler counts a failed trial's point as visited, so without this a sweep resumed after a kill
    runs another point twice and never the killed one. A point that failed twice is left failed (it would only fail
    again); points already waiting or running are not queued twice. Called under the sweep's trial lock."""
    from optuna.trial import TrialState

    def key(params: dict) -> str:
        return json.dumps(params, sort_keys=True, default=str)

    failures: dict[str, int] = {}
    lost: dict[str, dict] = {}
    alive = set()
    for t in study.get_trials(deepcopy=False):
        params = t.params or t.system_attrs.get("fixed_params") or {}
        if not params:
            continue
        if t.state == TrialState.FAIL and "grid_id" in t.system_attrs:
            failures[key(params)] = failures.get(key(params), 0) + 1
            lost[key(params)] = params
        elif t.state != TrialState.FAIL:
            alive.add(key(params))
    queued = [lost[k] for k in lost if k not in alive and failures[k] == 1]
    for params in queued:
        study.enqueue_trial(params)
    return queued


def dead_message(numbers: list[int]) -> str:
    return f"trial(s) {', '.join(map(str, numbers))} were left running by a process that is gone: marked failed, not counted"


def fail_dead(sweep_dir: str | os.PathLike) -> list[int]:
    """fail_dead_trials for a sweep folder (what the parent of --jobs workers does before starting them)."""
    spec, _ = load_sweep(sweep_dir)
    lock = StudyLock(Path(sweep_dir), storage_url(spec, Path(sweep_dir)), spec.study_name or spec.name)
    try:
        with lock:
            return fail_dead_trials(open_study(spec, Path(sweep_dir)))
    finally:
        lock.close()


# ------------------------------------------------------------------------------------------- one worker
class SweepEvents:
    """What a running sweep tells its caller (the CLI prints these); every method optional."""

    def on_message(self, text: str) -> None: ...
    def on_data_fallback(self, text: str) -> None: ...  # the offline sample stands in for the data asked for
    def on_trial_start(self, number: int, params: dict, run_dir: Path) -> None: ...
    def on_epoch(self, number: int, record: EvalRecord) -> None: ...
    def on_trial_end(self, trial) -> None: ...  # an optuna FrozenTrial


class TrialReporter(Reporter):
    """Hands each epoch's validation score to Optuna; asks Optuna whether to prune after each epoch."""

    def __init__(self, trial, metric: Metric, events: SweepEvents) -> None:
        self.trial, self.metric, self.events = trial, metric, events
        self.scores: list[tuple[int, float]] = []  # (epoch, score)
        self.pruned = False

    def on_epoch_end(self, record: EvalRecord) -> None:
        score = getattr(record, self.metric.record_key)
        if score is None:
            raise ConfigError(f"trial {self.trial.number}: the epoch record has no {self.metric.record_key}; "
                              "a sweep needs data.val_size > 0")
        self.scores.append((record.epoch, float(score)))
        self.trial.report(float(score), step=record.epoch)
        self.events.on_epoch(self.trial.number, record)

    def should_stop(self) -> bool:
        self.pruned = self.trial.should_prune()
        return self.pruned


def _suggest(trial, p: Param):
    if p.kind == "choice":
        return trial.suggest_categorical(p.key, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(p.key, float(p.low), float(p.high), step=p.step, log=p.log)


def require_trusted_network(base: Config, sweep_dir: Path) -> None:
    """The sweep folder's base config is a record: a network file it names runs only when that file is on this
    user's trust list (new_sweep put it there for the user who set the sweep up)."""
    from digitlab.models import trust, user

    if user.is_user_ref(base.model.name):
        trust.require(user.read_code(base.model.name, base.model.args), str(sweep_dir / "base.toml"))


def run_worker(sweep_dir: str | os.PathLike, events: SweepEvents | None = None, worker: int = 0,
               dataset=None) -> int:
    """Run trials of the sweep in this process until it has its target number; returns how many ran here."""
    sweep_dir = Path(sweep_dir)
    events = events or SweepEvents()
    spec, base = load_sweep(sweep_dir)
    require_trusted_network(base, sweep_dir)
    lock = StudyLock(sweep_dir, storage_url(spec, sweep_dir), spec.study_name or spec.name)
    try:
        return _work(sweep_dir, spec, base, lock, events, worker, dataset)
    finally:
        lock.close()


def _work(sweep_dir: Path, spec: SweepSpec, base: Config, lock: StudyLock, events: SweepEvents, worker: int,
          dataset) -> int:
    import optuna
    from optuna.trial import TrialState

    import digitlab

    metric = METRICS[spec.metric]
    with lock:
        study = open_study(spec, sweep_dir)
        dead = fail_dead_trials(study)
    if dead:
        events.on_message(dead_message(dead))
    # A different seed per worker and per restart, so two workers (or a resumed sweep) never replay one sequence.
    study.sampler = SAMPLERS[spec.sampler](spec, spec.seed + 1000 * worker + len(study.trials))
    if dataset is None:
        dataset = digitlab.load_dataset(base.data.dataset, base.data.data_dir or None, test_size=base.data.test_size)
    if dataset.fallback:
        events.on_data_fallback(dataset.fallback)
    target = target_trials(spec)

    def objective(trial) -> float:
        run_dir = sweep_dir / f"trial-{trial.number:03d}"
        for key, value in (("host", socket.gethostname()), ("pid", os.getpid()), ("worker", worker),
                           ("run", run_dir.name)):
            trial.set_user_attr(key, value)
        params = {p.key: _suggest(trial, p) for p in spec.params}
        lock.release()  # the trial exists and holds its parameters: the next worker may start one
        config = apply_all(base, spec.params, params)
        events.on_trial_start(trial.number, params, run_dir)
        reporter = TrialReporter(trial, metric, events)
        try:
            summary = digitlab.train(config, run_dir=run_dir, reporter=reporter, dataset=dataset)
        except TrainingInterrupted:
            raise
        except TrainingError as exc:  # diverged (NaN loss): a bad region, pruned so samplers learn to avoid it
            trial.set_user_attr("outcome", f"diverged: {str(exc)[:200]}")
            raise optuna.TrialPruned() from None
        trial.set_user_attr("train_seconds", summary.train_seconds)
        trial.set_user_attr("epochs", len(reporter.scores))
        if reporter.pruned:
            trial.set_user_attr("outcome", f"pruned after epoch {reporter.scores[-1][0]}")
            raise optuna.TrialPruned()
        best = metric.best([s for _, s in reporter.scores])
        trial.set_user_attr("best_epoch", next(e for e, s in reporter.scores if s == best))
        trial.set_user_attr("outcome", "complete")
        return best

    ran = 0
    finished: list = []  # the FrozenTrial Optuna hands its callback after each trial
    while True:
        lock.acquire()
        try:
            fail_dead_trials(study)
            counted = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                               TrialState.RUNNING))
            if len(counted) >= target:
                break
            finished.clear()
            try:
                study.optimize(objective, n_trials=1, callbacks=[lambda s, t: finished.append(t)])
            except TrainingInterrupted:
                raise TrainingInterrupted(f"sweep interrupted (the trial in progress is marked failed and not "
                                          f"counted); continue with: digitlab sweep --resume {sweep_dir}") from None
            ran += 1
            for t in finished:
                events.on_trial_end(t)
        finally:
            if lock.is_locked:
                lock.release()
    return ran
