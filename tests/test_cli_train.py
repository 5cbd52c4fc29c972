import json

from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.models import list_models
from digitlab.recipes import recipe_names

runner = CliRunner()


def train_args(idx_dir, *extra):
    return ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu", "--epochs", "2",
            "--lr", "0.05", "--set", "optim.momentum=0.9", "--batch-size", "32", *extra]


def test_train_json_then_eval(idx_dir, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, train_args(idx_dir, "--run-dir", str(run), "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["final_test_acc"] > 80 and summary["epochs"] == 2 and summary["recipe"] == "quickstart"
    assert "Test:" in result.stderr and "Accuracy:" in result.stderr  # progress goes to stderr under --json
    ev = runner.invoke(app, ["eval", str(run), "--json", "--data-dir", str(idx_dir)])
    assert ev.exit_code == 0, ev.output
    metrics = json.loads(ev.stdout)
    for key in ("accuracy", "avg_loss", "per_class", "confusion_matrix", "n"):
        assert key in metrics
    assert metrics["n"] == 200 and len(metrics["per_class"]) == 10
    assert (run / "confusion-test.png").exists()
    table = runner.invoke(app, ["eval", str(run / "checkpoints" / "last.safetensors"), "--data-dir", str(idx_dir)])
    assert table.exit_code == 0 and "Accuracy:" in table.stdout and "confusion matrix" in table.stdout


def test_train_prints_tutorial_lines(idx_dir, tmp_path):
    result = runner.invoke(app, train_args(idx_dir, "--run-dir", str(tmp_path / "r"), "--set", "train.log_every=5"))
    assert result.exit_code == 0, result.output
    assert "loss: " in result.stdout and "[  0/ 19]" in result.stdout
    assert "Test: \n Accuracy:" in result.stdout and "Done!" in result.stdout


def test_unknown_set_key_lists_valid_keys(idx_dir):
    result = runner.invoke(app, train_args(idx_dir, "--set", "optim.lrr=1"))
    assert result.exit_code == 2
    assert "unknown key 'optim.lrr'" in result.stderr and "optim.lr" in result.stderr
    assert "Traceback" not in result.output


def test_bad_names_are_one_line_errors(idx_dir):
    for args in (["--model", "resnet"], ["--optimizer", "lion"], ["--recipe", "nope"], ["--device", "tpu"]):
        result = runner.invoke(app, train_args(idx_dir, *args))
        assert result.exit_code != 0, args
        assert len(result.stderr.strip().splitlines()) == 1 and "error:" in result.stderr


def test_resume_rejects_new_hyperparameters(idx_dir, tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, train_args(idx_dir, "--run-dir", str(run), "--max-steps", "5")).exit_code == 0
    bad = runner.invoke(app, ["train", "--resume", str(run), "--lr", "1.0"])
    assert bad.exit_code != 0 and "drop --lr" in bad.stderr
    good = runner.invoke(app, ["train", "--resume", str(run), "--json"])
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["steps"] == 38


def test_existing_run_is_never_overwritten(idx_dir, tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, train_args(idx_dir, "--run-dir", str(run), "--max-steps", "2")).exit_code == 0
    saved = run / "checkpoints" / "resume.safetensors"
    before = saved.read_bytes()
    again = runner.invoke(app, train_args(idx_dir, "--run-dir", str(run)))
    assert again.exit_code != 0 and "not empty" in again.stderr
    assert saved.read_bytes() == before


def test_eval_missing_target():
    result = runner.invoke(app, ["eval", "no-such-run"])
    assert result.exit_code != 0 and "no such run folder" in result.stderr


def test_models_and_recipes_listings():
    models = runner.invoke(app, ["models", "--json"])
    assert models.exit_code == 0
    rows = json.loads(models.stdout)
    assert [r["name"] for r in rows] == list_models()
    assert all(r["params"] > 0 and r["input_size"] in (28, 32) and r["source"] for r in rows)
    recipes = runner.invoke(app, ["recipes", "--json"])
    rows = json.loads(recipes.stdout)
    assert [r["name"] for r in rows] == recipe_names()
    assert {r["name"]: r["expected_acc"] for r in rows}["quickstart"] == 93.8
    assert runner.invoke(app, ["models"]).exit_code == 0 and runner.invoke(app, ["recipes"]).exit_code == 0


def test_typed_options_reach_the_config_unchanged(idx_dir, tmp_path):
    """--data-dir /x/TrueType stays TrueType: options go into the config as typed values, not through TOML text."""
    import shutil

    odd = tmp_path / "TrueType [True] False"
    shutil.copytree(idx_dir, odd)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(odd), "--device", "cpu",
                                 "--max-steps", "1", "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    from digitlab import config as cfgmod

    assert cfgmod.from_dict(cfgmod.load_toml(run / "config.toml")).data.data_dir == str(odd)
