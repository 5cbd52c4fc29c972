"""The Optuna study behind a sweep: trials as run folders, pruning, validation-only objective, resume."""

import json
import subprocess
import sys

import optuna
import pytest

import digitlab
from digitlab import config as cfgmod
from digitlab.errors import ConfigError
from digitlab.records import EvalRecord
from digitlab.runs import MetricsLog, run_status
from digitlab.sweep import SweepEvents, new_sweep, run_worker
from digitlab.sweep.choices import METRICS, PRUNERS
from digitlab.sweep.study import TrialReporter, load_sweep, open_study, raise_trials


class Recorder(SweepEvents):
    def __init__(self):
        self.ended, self.epochs, self.messages = [], [], []

    def on_trial_end(self, trial):
        self.ended.append(trial)

    def on_epoch(self, number, record):
        self.epochs.append((number, record))

    def on_message(self, text):
        self.messages.append(text)


def test_trials_are_run_folders_valued_on_validation(tmp_path, tiny):
    folder = new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1", "optim.momentum=0,0.9"], 2, overrides=tiny,
                       sampler="random", root=tmp_path, name="s")
    events = Recorder()
    assert run_worker(folder, events) == 2
    study = open_study(load_sweep(folder)[0], folder)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert [t.number for t in events.ended] == [0, 1]
    for t in trials:
        run = folder / f"trial-{t.number:03d}"
        assert run_status(run) == "finished"
        config = cfgmod.from_dict(cfgmod.load_toml(run / "config.toml"))
        assert (config.optim.lr, config.optim.momentum) == (t.params["optim.lr"], t.params["optim.momentum"])
        assert config.data.val_size == 60
        epochs = [r for r in MetricsLog.objects(run / "metrics.jsonl") if r.get("kind") == "epoch"]
        assert t.value == max(r["val_acc"] for r in epochs)  # the objective: validation, best epoch
        assert t.intermediate_values == {r["epoch"]: r["val_acc"] for r in epochs}
    assert len(events.epochs) == 4


def test_pruned_trials_stop_their_run(tmp_path, tiny, monkeypatch):
    monkeypatch.setitem(PRUNERS, "always", lambda: optuna.pruners.ThresholdPruner(lower=101.0))  # val_acc < 101%
    folder = new_sweep("quickstart", ["model.name=mlp,mlp-deep"], 1, overrides=tiny, sampler="grid", pruner="always",
                       root=tmp_path, name="s")
    run_worker(folder)
    study = open_study(load_sweep(folder)[0], folder)
    for t in study.get_trials():
        assert t.state == optuna.trial.TrialState.PRUNED
        assert list(t.intermediate_values) == [1]  # pruned after its first epoch of two
        assert t.user_attrs["outcome"] == "pruned after epoch 1"
        assert run_status(folder / t.user_attrs["run"]) == "stopped"


def test_reporter_passes_validation_not_test_scores():
    class FakeTrial:
        number = 0
        reported: list = []

        def report(self, value, step):
            self.reported.append((step, value))

        def should_prune(self):
            return True

    reporter = TrialReporter(FakeTrial(), METRICS["val_acc"], SweepEvents())
    reporter.on_epoch_end(EvalRecord(kind="epoch", epoch=1, test_acc=99.0, val_acc=80.0))
    assert FakeTrial.reported == [(1, 80.0)]
    assert reporter.should_stop() and reporter.pruned
    with pytest.raises(ConfigError, match="data.val_size"):
        reporter.on_epoch_end(EvalRecord(kind="epoch", epoch=2, test_acc=99.0))


def test_resume_fails_a_trial_left_running_by_a_dead_process(tmp_path, tiny):
    folder = new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 1, overrides=tiny, sampler="random",
                       root=tmp_path, name="s")
    spec, _ = load_sweep(folder)
    study = open_study(spec, folder)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with pytest.warns(UserWarning, match="Heartbeat"):  # Optuna's note: ask() has no heartbeat thread
        stale = study.ask({"optim.lr": optuna.distributions.FloatDistribution(1e-2, 3e-1, log=True)})
    import socket

    stale.set_user_attr("host", socket.gethostname())
    stale.set_user_attr("pid", int(dead.stdout))  # as a killed worker leaves it: RUNNING, its process gone
    from digitlab.sweep.report import summarize

    assert [r.state for r in summarize(folder).rows] == ["interrupted"]  # what `sweep show` says before resuming
    events = Recorder()
    assert run_worker(folder, events) == 1  # the stale trial is not counted: a new one runs
    states = {t.number: t.state for t in open_study(spec, folder).get_trials()}
    assert states == {0: optuna.trial.TrialState.FAIL, 1: optuna.trial.TrialState.COMPLETE}
    assert "marked failed" in events.messages[0]
    assert run_worker(folder) == 0  # done: nothing more to run
    raise_trials(folder, 2)  # --resume DIR --trials 2
    assert run_worker(folder) == 1


def test_interrupted_trial_is_failed_and_resume_says_how(tmp_path, tiny, monkeypatch):
    folder = new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 2, overrides=tiny, sampler="random",
                       root=tmp_path, name="s")

    def interrupted(*args, **kwargs):
        raise digitlab.errors.TrainingInterrupted("interrupted (SIGINT) at step 3; saved")

    monkeypatch.setattr(digitlab, "train", interrupted)
    with pytest.raises(digitlab.errors.TrainingInterrupted, match=f"digitlab sweep --resume {folder}"):
        run_worker(folder)
    monkeypatch.undo()
    assert [t.state.name for t in open_study(load_sweep(folder)[0], folder).get_trials()] == ["FAIL"]


def test_a_used_folder_is_refused(tmp_path, tiny):
    new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 1, overrides=tiny, root=tmp_path, name="s")
    with pytest.raises(ConfigError, match="--resume"):
        new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 1, overrides=tiny, root=tmp_path, name="s")
    with pytest.raises(ConfigError, match="not a sweep folder"):
        run_worker(tmp_path)
    with pytest.raises(ConfigError, match="--sampler 'bogus'"):
        new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 1, overrides=tiny, root=tmp_path, sampler="bogus")
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["trials"] == 1


def test_missing_optuna_is_one_line_with_the_fix(tmp_path, tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed: `import optuna` raises ImportError
    with pytest.raises(digitlab.errors.DigitlabError, match=r"pip install 'digitlab\[sweep\]'"):
        new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 1, overrides=tiny, root=tmp_path, name="s")


def test_two_folders_share_one_study_through_storage(tmp_path, tiny):
    """The multi-machine recipe (same --storage URL and --name on each machine), with an SQLite file as the database."""
    from digitlab.sweep.report import best_config_toml, summarize

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 1, overrides=tiny, sampler="random", storage=url,
                  root=tmp_path / "machine-a", name="s")
    assert run_worker(a) == 1
    b = new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 2, overrides=tiny, sampler="random", storage=url,
                  root=tmp_path / "machine-b", name="s")
    assert run_worker(b) == 1  # trial 0 is already done (in a): b runs only trial 1
    assert not (a / "study.db").exists() and (b / "trial-001").is_dir() and not (b / "trial-000").exists()
    for folder in (a, b):  # each folder sees both trials; one of them holds the best trial's run, the other rebuilds it
        result = summarize(folder)
        assert sorted(r.number for r in result.rows) == [0, 1]
        best = cfgmod.from_dict(cfgmod.tomllib.loads(best_config_toml(result)))
        assert best.optim.lr == result.best.params["optim.lr"] and best.data.val_size == 60
    with pytest.raises(ConfigError, match="already sweeps other parameters"):
        new_sweep("quickstart", ["optim.lr=log:1e-3:3e-1"], 2, overrides=tiny, storage=url,
                  root=tmp_path / "machine-c", name="s")


def test_a_machine_without_the_folder_adopts_the_study(tmp_path, tiny):
    """`--resume DIR --storage URL` where DIR is not here: the folder is made from what the study holds."""
    from digitlab.sweep.study import adopt_sweep, load_sweep

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = new_sweep("quickstart", ["optim.lr=log:1e-2:3e-1"], 3, overrides=tiny, sampler="random", storage=url,
                  root=tmp_path / "machine-a", name="s")
    c = adopt_sweep(tmp_path / "machine-c" / "s", url)
    (spec_a, base_a), (spec_c, base_c) = load_sweep(a), load_sweep(c)
    assert spec_c == spec_a and base_c == base_a  # the URL included: this machine goes on in the same study
    with pytest.raises(ConfigError, match="already holds a sweep"):
        adopt_sweep(c, url)
    with pytest.raises(ConfigError, match="no study named 'other'"):
        adopt_sweep(tmp_path / "machine-d" / "other", url)
