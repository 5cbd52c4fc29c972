import pytest

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.errors import ConfigError
from digitlab.recipes import list_recipes, load_recipe, recipe_names
from digitlab.training.setup import check_config


def test_defaults_toml_round_trip(tmp_path):
    config = cfgmod.with_overrides(Config(recipe="x"), ["data.classes=[3, 5]", "optim.lr=0.5", "nesterov=true"])
    path = tmp_path / "c.toml"
    path.write_text(cfgmod.dumps(config))
    assert cfgmod.from_dict(cfgmod.load_toml(path)) == config


def test_overrides_dotted_and_bare():
    c = cfgmod.with_overrides(Config(), ["optim.lr=0.1", "epochs=5", "model.name=lenet5", "device=cpu"])
    assert c.optim.lr == 0.1 and c.train.epochs == 5 and c.model.name == "lenet5" and c.train.device == "cpu"
    assert isinstance(cfgmod.with_overrides(Config(), ["lr=1"]).optim.lr, float)


@pytest.mark.parametrize("override,match", [
    ("optim.lrr=0.1", "unknown key 'optim.lrr'; valid keys: optim.name"),
    ("bogus=1", "unknown key 'bogus'; valid keys: data.dataset"),
    ("foo.bar=1", "unknown section 'foo'"),
    ("train.epochs=many", "not a valid int"),
    ("train.epochs=1.5", "not a valid int"),
    ("name=mlp", "ambiguous"),
    ("optim.lr", "key=value"),
])
def test_bad_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        cfgmod.with_overrides(Config(), [override])


def test_validate_names():
    with pytest.raises(ConfigError, match="model.name 'resnet'"):
        check_config(cfgmod.with_overrides(Config(), ["model.name=resnet"]))
    with pytest.raises(ConfigError, match="optim.lr must be positive"):
        cfgmod.validate(cfgmod.with_overrides(Config(), ["optim.lr=-1"]))


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train\nepochs = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        cfgmod.load_toml(path)
    path.write_text("epochs = 3")
    with pytest.raises(ConfigError, match="must be a section"):
        cfgmod.from_dict(cfgmod.load_toml(path))


def test_every_recipe_loads_and_validates():
    names = recipe_names()
    for expected in ["quickstart", "quickstart-deep", "lenet5", "mlp-sgd", "mlp-5layer", "cnn-small",
                     "pytorch-example", "fast", "best"]:
        assert expected in names
    for recipe in list_recipes():
        check_config(recipe.config)
        assert recipe.config.recipe == recipe.name and recipe.source
        # fine-tune adapts another run to new data: its accuracy is that data's, not a figure of the recipe
        assert recipe.expected_acc or recipe.name == "fine-tune"


def test_recipes_follow_their_tutorials():
    q = load_recipe("quickstart").config
    # MindSpore's MnistDataset shuffles by default: the seed's own "Actual" labels prove it (issue 14)
    assert (q.model.name, q.optim.name, q.optim.lr, q.train.batch_size, q.data.shuffle, q.train.epochs) == \
        ("mlp", "sgd", 0.01, 64, True, 3)
    assert load_recipe("quickstart-deep").config.data.shuffle is True
    assert load_recipe("quickstart").expected_acc == 93.8
    le = load_recipe("lenet5").config
    assert (le.data.resize, le.optim.name, le.optim.lr, le.optim.momentum, le.train.batch_size, le.data.drop_last,
            le.loss.name, le.train.epochs) == (32, "momentum", 0.01, 0.9, 32, True, "softmax-ce", 10)
    pe = load_recipe("pytorch-example").config
    assert (pe.optim.name, pe.optim.lr, pe.schedule.name, pe.schedule.gamma, pe.train.epochs, pe.loss.name) == \
        ("adadelta", 1.0, "step", 0.7, 14, "nll")
    ms = load_recipe("mlp-sgd").config
    assert (ms.train.batch_size, ms.optim.lr, ms.train.epochs, ms.data.normalize) == (256, 0.2, 20, False)


def test_unknown_recipe():
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        load_recipe("nope")


def test_nesterov_without_momentum_is_refused_before_any_data_loads():
    with pytest.raises(ConfigError, match="optim.nesterov needs optim.momentum > 0"):
        cfgmod.validate(cfgmod.with_overrides(Config(), ["optim.nesterov=true"]))
    cfgmod.validate(cfgmod.with_overrides(Config(), ["optim.name=momentum", "optim.nesterov=true"]))  # its own 0.9
