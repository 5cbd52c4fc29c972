"""The tutorials' prints: batch shapes of a recipe's pipeline, and a model's tree, layer table and parameters."""

import json

import pytest
from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.models import count_parameters, get_model, list_models

runner = CliRunner()


def test_batch_shapes_as_seed_000_prints_them(idx_dir):
    result = runner.invoke(app, ["data", "show", "idx", "--batch", "--data-dir", str(idx_dir)])
    assert result.exit_code == 0, result.output
    assert "Shape of image [N, C, H, W]: (64, 1, 28, 28) Float32" in result.stdout
    assert "Shape of label: (64,) Int64" in result.stdout


def test_batch_json_follows_the_recipe_pipeline(idx_dir):
    result = runner.invoke(app, ["data", "show", "idx", "--batch", "--recipe", "lenet5", "--data-dir", str(idx_dir),
                                 "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["image_shape"] == [32, 1, 32, 32] and info["label_shape"] == [32]  # LeNet-5: batch 32, 32x32
    assert info["sample"]["keys"] == ["image", "label"]


@pytest.mark.parametrize("name", list_models())
def test_models_show_every_registry_model(name):
    result = runner.invoke(app, ["models", "show", name, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["total_params"] == count_parameters(get_model(name)) == info["trainable_params"]
    assert sum(p["shape"] and 1 for p in info["parameters"]) == len(list(get_model(name).parameters()))
    assert "Output Shape" in info["layers"] and info["tree"].startswith(type(get_model(name)).__name__)


def test_models_show_a_run_and_a_bad_name(idx_dir, tmp_path):
    run = tmp_path / "r"
    trained = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                  "--max-steps", "2", "--run-dir", str(run)])
    assert trained.exit_code == 0, trained.output
    shown = runner.invoke(app, ["models", "show", str(run)])
    assert shown.exit_code == 0 and "Parameter (name=dense_relu_sequential.0.weight, shape=(512, 784)" in shown.stdout
    bad = runner.invoke(app, ["models", "show", "resnet"])
    assert bad.exit_code == 2 and "neither a model name" in bad.output and "Traceback" not in bad.output
    listed = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0 and {r["name"] for r in json.loads(listed.stdout)} == set(list_models())
