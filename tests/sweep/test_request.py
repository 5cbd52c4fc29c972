"""A sweep request laid over a sweep file: which of the two wins, and the defaults when neither gives a setting."""

import pytest

from digitlab.sweep import new_sweep_from
from digitlab.sweep.params import SweepFile, load_sweep_file
from digitlab.sweep.request import DEFAULT_TRIALS, DEFAULTS, GRID_TRIALS, SweepRequest


def sweep_file(**settings) -> SweepFile:
    return SweepFile("test.toml", settings, ("optim.lr=log:1e-3:1e-1", "model.name=mlp,mlp-deep", "train.seed=0,1"),
                     ("train.epochs=3",))


def test_nothing_given_gives_the_defaults():
    r = SweepRequest(params=("optim.lr=log:1e-3:1e-1",)).over(None)
    assert (r.recipe, r.sampler, r.metric, r.pruner, r.seed) == tuple(
        DEFAULTS[k] for k in ("recipe", "sampler", "metric", "pruner", "seed"))
    assert (r.trials, r.name, r.storage, r.params, r.file_overrides) == (
        DEFAULT_TRIALS, None, "", ("optim.lr=log:1e-3:1e-1",), ())


def test_the_command_line_alone_is_kept_as_given():
    given = SweepRequest(recipe="lenet", params=("optim.lr=lin:0.01:0.1",), trials=3, sampler="random",
                         metric="val_loss", pruner="none", seed=7, name="s", root="/tmp/x", storage="sqlite:///a.db",
                         overrides=("train.epochs=1",), config_file="c.toml", values={"train.device": "cpu"})
    assert given.over(None) == given


def test_the_file_alone_fills_every_setting_it_has():
    f = sweep_file(recipe="lenet", trials=4, sampler="random", metric="val_loss", pruner="none", seed=3, name="fs")
    r = SweepRequest().over(f)
    assert (r.recipe, r.trials, r.sampler, r.metric, r.pruner, r.seed, r.name) == (
        "lenet", 4, "random", "val_loss", "none", 3, "fs")
    assert r.params == f.params and r.file_overrides == f.overrides and r.overrides == ()
    assert r.storage == ""


def test_command_line_settings_win_over_the_file():
    f = sweep_file(recipe="lenet", trials=4, sampler="random", metric="val_loss", pruner="none", seed=3, name="fs")
    r = SweepRequest(recipe="quickstart", trials=9, sampler="tpe", metric="val_acc", pruner="median", seed=0,
                     name="mine", storage="sqlite:///b.db").over(f)
    assert (r.recipe, r.trials, r.sampler, r.metric, r.pruner, r.seed, r.name, r.storage) == (
        "quickstart", 9, "tpe", "val_acc", "median", 0, "mine", "sqlite:///b.db")  # --seed 0 is given, not unset


def test_a_command_line_param_replaces_the_files_param_of_that_key():
    r = SweepRequest(params=("model.name=mlp", "optim.momentum=0,0.9")).over(sweep_file())
    # the file's other params first, in its order; then the command line's, in theirs
    assert r.params == ("optim.lr=log:1e-3:1e-1", "train.seed=0,1", "model.name=mlp", "optim.momentum=0,0.9")


def test_grid_runs_the_whole_grid_unless_trials_are_given():
    assert SweepRequest(sampler="grid").over(None).trials == GRID_TRIALS
    assert SweepRequest().over(sweep_file(sampler="grid")).trials == GRID_TRIALS
    assert SweepRequest().over(sweep_file(sampler="grid", trials=2)).trials == 2
    assert SweepRequest(trials=5).over(sweep_file(sampler="grid", trials=2)).trials == 5
    assert SweepRequest(sampler="random").over(sweep_file(sampler="grid")).trials == DEFAULT_TRIALS


def test_file_and_request_set_texts_keep_their_order():
    r = SweepRequest(file_overrides=("train.epochs=5",), overrides=("train.epochs=1",)).over(sweep_file())
    assert r.file_overrides == ("train.epochs=3", "train.epochs=5") and r.overrides == ("train.epochs=1",)


def test_a_shipped_sweep_file_under_command_line_options():
    f = load_sweep_file("net-compare")
    r = SweepRequest(params=("train.seed=0",), values={"train.epochs": 1}).over(f)
    assert (r.name, r.sampler, r.pruner, r.trials) == (f.settings["name"], "grid", "none", GRID_TRIALS)
    assert [p.partition("=")[0] for p in r.params] == ["model.name", "train.seed"] and r.params[-1] == "train.seed=0"
    assert r.values == {"train.epochs": 1}


def test_an_unresolved_request_is_refused():
    with pytest.raises(ValueError, match=r"\.over\(sweep_file\)"):
        new_sweep_from(SweepRequest(params=("optim.lr=log:1e-3:1e-1",)))


def test_zero_trials_stay_zero_to_be_refused_not_the_default(tmp_path):
    assert SweepRequest(trials=0).over(None).trials == 0
    with pytest.raises(Exception, match="at least one trial"):
        new_sweep_from(SweepRequest(params=("optim.lr=0.01,0.1",), trials=0, root=tmp_path, name="zero").over(None))
    assert not (tmp_path / "zero").exists()
