"""Parsing what a sweep varies: --param texts, sweep files, and the refusal of bad keys and ranges."""

import pytest

import digitlab
from digitlab.errors import ConfigError
from digitlab.sweep.params import (
    Param,
    SweepSpec,
    bundled_sweeps,
    check_params,
    load_sweep_file,
    parse_param,
    parse_params,
)


def test_ranges_and_choices_parse_into_typed_params():
    assert parse_param("optim.lr=log:1e-3:1e-1") == Param("optim.lr", "float", 1e-3, 1e-1, log=True)
    assert parse_param("lr=lin:0.01:0.5") == Param("optim.lr", "float", 0.01, 0.5)  # a bare key finds its section
    assert parse_param("train.batch_size=int:32:256:32") == Param("train.batch_size", "int", 32, 256, step=32)
    assert parse_param("train.epochs=log:1:8") == Param("train.epochs", "int", 1, 8, log=True)
    p = parse_param("model.name=mlp,mlp-deep")
    assert (p.kind, p.choices) == ("choice", ("mlp", "mlp-deep"))
    assert parse_param("optim.nesterov=true,false").choices == (True, False)
    assert parse_param("optim.momentum=0,0.9").choices == (0, 0.9)
    assert parse_param("data.classes=[1,2],[3,4]").choices == ("[1,2]", "[3,4]")  # tuple keys keep TOML text
    assert p.override("mlp-deep") == 'model.name="mlp-deep"'


def test_grid_values():
    assert parse_param("train.epochs=int:1:3").grid() == [1, 2, 3]
    assert parse_param("optim.lr=float:0.1:0.3:0.1").grid() == [0.1, 0.2, 0.3]
    assert parse_param("model.name=mlp,mlp-deep").grid() == ["mlp", "mlp-deep"]
    with pytest.raises(ConfigError, match="grid sampler needs"):
        parse_param("optim.lr=log:1e-3:1e-1").grid()


@pytest.mark.parametrize("text, message", [
    ("optim.bogus=lin:0:1", "unknown key 'optim.bogus'"),
    ("bogus=1,2", "unknown key 'bogus'"),
    ("optim.lr=lin:0.5:0.1", "range is empty"),
    ("optim.lr=log:0:0.1", "log range must be above zero"),
    ("optim.lr=int:1:4", "optim.lr is a float"),
    ("train.epochs=int:1:2.5", "is an int"),
    ("optim.lr=log:a:b", "not a number"),
    ("optim.lr=lin:0:1:2", "step must be positive"),
    ("optim.lr=lin:0:1:2:3", "a range is lin:LOW:HIGH"),
    ("model.name=lin:0:1", "takes a list of choices"),
    ("optim.lr=0.1", "at least two choices"),
    ("model.name=mlp,mlp", "listed twice"),
    ("data.val_size=100,200", "cannot be swept"),
    ("train.device=cpu,cuda", "cannot be swept"),
    ("optim.lr", "write key=SPEC"),
])
def test_bad_params_are_refused(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_param(text)


def test_each_key_once():
    with pytest.raises(ConfigError, match="given twice"):
        parse_params(["optim.lr=log:1e-3:1e-1", "lr=0.1,0.2"])


def test_values_are_checked_against_the_config_before_training():
    base = digitlab.load_recipe("quickstart").config
    check_params(base, parse_params(["optim.lr=log:1e-3:1e-1", "model.name=mlp,mlp-deep"]))
    with pytest.raises(ConfigError, match="model.name 'bogus'"):
        check_params(base, parse_params(["model.name=mlp,bogus"]))
    with pytest.raises(ConfigError, match="optim.lr must be positive"):
        check_params(base, parse_params(["optim.lr=lin:0:0.1"]))
    with pytest.raises(ConfigError, match="optim.name 'rmsprop'"):
        check_params(base, parse_params(["optim.name=sgd,rmsprop"]))
    with pytest.raises(ConfigError, match="at least one --param"):
        check_params(base, ())


def test_sweep_file_from_a_path(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nrecipe = "lenet5"\ntrials = 4\nsampler = "random"\n\n'
                    '[params]\noptim.lr = "log:1e-3:1e-1"\n"model.name" = ["mlp", "mlp-deep"]\n'
                    'train.seed = [0, 1]\n\n[set]\ntrain.epochs = 2\n"data.shuffle" = true\n')
    spec = load_sweep_file(str(path))
    assert spec.settings == {"recipe": "lenet5", "trials": 4, "sampler": "random"}
    assert spec.params == ("optim.lr=log:1e-3:1e-1", "model.name=mlp,mlp-deep", "train.seed=0,1")
    assert spec.overrides == ("train.epochs=2", "data.shuffle=true")
    parse_params(list(spec.params))


@pytest.mark.parametrize("text, message", [
    ("[sweep]\nbogus = 1\n", "unknown \\[sweep\\] key 'bogus'"),
    ("[params]\n[other]\n", "unknown table \\[other\\]"),
])
def test_bad_sweep_files_are_refused(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep_file(str(path))
    with pytest.raises(ConfigError, match="no such file"):
        load_sweep_file(str(tmp_path / "missing.toml"))


@pytest.mark.parametrize("name", bundled_sweeps())
def test_shipped_sweeps_are_valid(name):
    spec = load_sweep_file(name)
    base = digitlab.with_overrides(digitlab.load_recipe(spec.settings["recipe"]).config, list(spec.overrides))
    check_params(base, parse_params(list(spec.params)))


def test_shipped_sweeps_include_the_tutorials_experiments():
    assert {"net-compare", "quickstart-lr", "weight-init"} <= set(bundled_sweeps())


def test_spec_round_trips_through_json():
    spec = SweepSpec("s", "quickstart", parse_params(["optim.lr=log:1e-3:1e-1", "model.name=mlp,mlp-deep"]), 5,
                     "random", "val_loss", "none", 3, "sqlite:///x.db", "study")
    assert SweepSpec.from_dict(spec.to_dict()) == spec
