"""Sweep results: the best trial is chosen on validation (not test), best.toml loads, the plots are written."""

import json

import optuna
import pytest

import digitlab
from digitlab import config as cfgmod
from digitlab.errors import ConfigError
from digitlab.sweep.params import SweepSpec, parse_params
from digitlab.sweep.report import groups, summarize, write_outputs
from digitlab.sweep.study import create_sweep, open_study


@pytest.fixture
def disagreeing(tmp_path):
    """A sweep whose trial 0 is best on validation and trial 1 best on test (as the run folders logged them)."""
    spec = SweepSpec("s", "quickstart", parse_params(["optim.lr=log:1e-3:1e-1", "model.name=mlp,mlp-deep"]), 4)
    base = digitlab.load_recipe("quickstart").config
    folder = create_sweep(spec, base, tmp_path / "s")
    study = open_study(spec, folder)
    dists = {"optim.lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
             "model.name": optuna.distributions.CategoricalDistribution(["mlp", "mlp-deep"])}
    logged = [(0, 0.01, "mlp", 97.0, 91.0), (1, 0.05, "mlp-deep", 95.0, 98.0), (2, 0.002, "mlp", 90.0, 90.5)]
    for number, lr, model, val, test in logged:
        run = folder / f"trial-{number:03d}"
        run.mkdir()
        config = cfgmod.with_overrides(base, [f"optim.lr={lr}", f'model.name="{model}"'])
        (run / "config.toml").write_text(cfgmod.dumps(config))
        epochs = [{"kind": "epoch", "epoch": 1, "val_acc": val - 5, "test_acc": test + 1},  # test peaks at epoch 1
                  {"kind": "epoch", "epoch": 2, "val_acc": val, "test_acc": test}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
        study.add_trial(optuna.trial.create_trial(
            params={"optim.lr": lr, "model.name": model}, distributions=dists, value=val,
            intermediate_values={1: val - 5, 2: val},
            user_attrs={"run": run.name, "best_epoch": 2, "epochs": 2, "outcome": "complete"}))
    study.add_trial(optuna.trial.create_trial(params={"optim.lr": 0.09, "model.name": "mlp"}, distributions=dists,
                                              state=optuna.trial.TrialState.PRUNED, intermediate_values={1: 99.5},
                                              user_attrs={"run": "trial-003", "epochs": 1}))
    study.add_trial(optuna.trial.create_trial(params={"optim.lr": 0.09, "model.name": "mlp"}, distributions=dists,
                                              state=optuna.trial.TrialState.FAIL))
    return folder


def test_best_is_chosen_on_validation_and_its_test_accuracy_reported(disagreeing):
    result = summarize(disagreeing)
    assert result.best.number == 0  # best val_acc (97), though trial 1 has the best test accuracy (98)
    assert result.best_test_acc == 91.0  # the test accuracy at the epoch its validation score chose
    assert [r.number for r in result.rows] == [0, 1, 2, 3, 4]  # complete by val_acc, then pruned, then failed
    assert [r.state for r in result.rows] == ["complete", "complete", "complete", "pruned", "fail"]
    assert result.rows[3].value == 99.5  # a pruned trial shows its last report, and is never "best"
    assert result.counts == {"complete": 3, "pruned": 1, "fail": 1}
    assert result.to_dict()["best"]["trial"] == 0


def test_val_loss_is_minimised(tmp_path):
    spec = SweepSpec("s", "quickstart", parse_params(["optim.lr=log:1e-3:1e-1"]), 2, metric="val_loss")
    folder = create_sweep(spec, digitlab.load_recipe("quickstart").config, tmp_path / "s")
    study = open_study(spec, folder)
    dist = {"optim.lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)}
    for lr, loss in ((0.01, 0.3), (0.02, 0.1)):
        study.add_trial(optuna.trial.create_trial(params={"optim.lr": lr}, distributions=dist, value=loss))
    assert summarize(folder).best.value == 0.1


def test_outputs_best_toml_and_plots(disagreeing):
    result = summarize(disagreeing)
    written = {p.name for p in write_outputs(result)}
    assert written == {"best.toml", "params.png", "history.png", "importance.png"}
    for name in ("params.png", "history.png", "importance.png"):
        assert (disagreeing / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (disagreeing / "best.toml").read_text()
    assert text.startswith("# Best trial of sweep 's': trial-000, val_acc 97")
    best = cfgmod.from_dict(cfgmod.load_toml(disagreeing / "best.toml"))  # what `train --config` reads
    assert (best.optim.lr, best.model.name) == (0.01, "mlp")
    digitlab.check_config(best)


def test_groups_give_mean_and_spread_per_value(disagreeing):
    result = summarize(disagreeing)
    deep, mlp = groups(result, "model.name")  # best mean first
    assert (mlp.value, mlp.n, mlp.mean, mlp.low, mlp.high) == ("mlp", 2, 93.5, 90.0, 97.0)
    assert mlp.std == pytest.approx(4.9497, abs=1e-4)  # sample sd of 97 and 90
    assert mlp.test_mean == pytest.approx(90.75)  # 91.0 and 90.5, each at its best validation epoch
    assert (deep.value, deep.n, deep.std, deep.test_mean) == ("mlp-deep", 1, 0.0, 98.0)
    with pytest.raises(ConfigError, match="not a swept key"):
        groups(result, "train.seed")
