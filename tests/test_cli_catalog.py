"""`digitlab recipes NAME`: one recipe's full resolved config, as TOML that `--config` accepts, or as JSON."""

import json

from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.config import from_dict, load_toml, to_dict
from digitlab.recipes import load_recipe

runner = CliRunner()


def test_recipe_toml_is_the_whole_config_and_trains_as_the_recipe(tmp_path, idx_dir):
    result = runner.invoke(app, ["recipes", "lenet5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# recipe lenet5: ")
    path = tmp_path / "mine.toml"
    path.write_text(result.stdout)
    recipe = load_recipe("lenet5")
    assert from_dict(load_toml(path), str(path)) == recipe.config  # every setting, defaults included
    assert "[schedule]" in result.stdout and "eval_batch_size = 1000" in result.stdout
    # and it is a usable --config: a run trained from it records the recipe's settings
    trained = runner.invoke(app, ["train", "--config", str(path), "--dataset", "idx", "--data-dir", str(idx_dir),
                                  "--device", "cpu", "--max-steps", "2", "--run-dir", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    saved = load_toml(tmp_path / "run" / "config.toml")
    assert saved["model"]["name"] == "lenet5" and saved["optim"] == to_dict(recipe.config)["optim"]


def test_recipe_json():
    rows = json.loads(runner.invoke(app, ["recipes", "fast", "--json"]).stdout)
    assert rows["name"] == "fast" and rows["config"] == to_dict(load_recipe("fast").config)


def test_unknown_recipe_is_one_line():
    result = runner.invoke(app, ["recipes", "lenet"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "unknown recipe 'lenet'" in result.output and "lenet5" in result.output
