"""`digitlab sweep`, `sweep --resume`, `sweep show` and `--jobs 2` through the CLI."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from digitlab.cli import app

runner = CliRunner()


def tiny_args(idx_dir) -> list[str]:
    return ["--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu", "--epochs", "1",
            "--set", "data.limit=200", "--set", "data.val_size=40", "--set", "train.batch_size=32"]


def test_tiny_sweep_on_the_offline_sample(tmp_path):
    result = runner.invoke(app, ["sweep", "--dataset", "mnist-sample", "--param", "optim.lr=log:1e-2:2e-1",
                                 "--param", "model.name=mlp,mlp-deep", "--trials", "2", "--epochs", "1",
                                 "--set", "data.limit=240", "--set", "train.batch_size=32", "--device", "cpu",
                                 "--sampler", "random", "--root", str(tmp_path), "--name", "s"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "s"
    assert "sweep s: val_acc on the validation split" in result.output
    assert "2 trials (target 2): 2 complete, 0 pruned, 0 failed" in result.output
    assert "its test accuracy (reported once, never used to choose):" in result.output
    for name in ("best.toml", "params.png", "history.png", "importance.png", "study.db"):
        assert (folder / name).is_file(), name
    runs = runner.invoke(app, ["runs", "--root", str(folder), "--json"])  # trials are ordinary run folders
    assert sorted(r["run"] for r in json.loads(runs.output)) == ["trial-000", "trial-001"]
    again = runner.invoke(app, ["train", "--config", str(folder / "best.toml"), "--max-steps", "1",
                                "--run-dir", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    shown = runner.invoke(app, ["sweep", "show", str(folder), "--json"])
    data = json.loads(shown.output)
    assert data["counts"] == {"complete": 2} and len(data["trials"]) == 2
    assert data["best"]["value"] == max(t["value"] for t in data["trials"])
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["sweep", "show", str(folder), "--csv"]).output)))
    assert [r["trial"] for r in rows] == [str(data["best"]["trial"]), str(1 - data["best"]["trial"])]
    assert set(rows[0]) >= {"val_acc", "optim.lr", "model.name", "run"}
    by = json.loads(runner.invoke(app, ["sweep", "show", str(folder), "--by", "model.name", "--json"]).output)
    assert sum(g["n"] for g in by["groups"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--param", "optim.bogus=lin:0:1"], "unknown key 'optim.bogus'"),
    (["--param", "optim.lr=log:0.1:0.01"], "range is empty"),
    (["--param", "model.name=mlp,nope"], "model.name 'nope'"),
    (["--param", "optim.lr=log:1e-3:1e-1", "--sampler", "grid"], "grid sampler needs"),
    (["--param", "optim.lr=log:1e-3:1e-1", "--metric", "test_acc"], "--metric 'test_acc'"),
    (["--file", "no-such-sweep"], "no shipped sweep of that name"),
    ([], "at least one --param"),
])
def test_bad_sweeps_are_refused_before_training(tmp_path, args, message):
    result = runner.invoke(app, ["sweep", "--root", str(tmp_path), "--name", "s", *args])
    assert result.exit_code != 0
    assert result.output.startswith("error: ") and message in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s" / "trial-000").exists()


def test_resume_takes_only_trials_and_jobs(tmp_path, idx_dir):
    result = runner.invoke(app, ["sweep", "--resume", str(tmp_path), "--param", "optim.lr=0.1,0.2"])
    assert result.exit_code == 2 and "drop --param" in result.output
    result = runner.invoke(app, ["sweep", "--resume", str(tmp_path)])
    assert result.exit_code != 0 and "not a sweep folder" in result.output


@pytest.mark.slow
def test_two_worker_processes_share_one_sqlite_study(tmp_path, idx_dir):
    result = runner.invoke(app, ["sweep", *tiny_args(idx_dir), "--param", "optim.lr=0.01,0.02,0.03,0.05",
                                 "--sampler", "grid", "--pruner", "none", "--jobs", "2",
                                 "--root", str(tmp_path), "--name", "s", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    trials = data["trials"]
    assert data["counts"] == {"complete": 4}  # no failures (no "database is locked"), no surplus trial
    assert sorted(t["trial"] for t in trials) == [0, 1, 2, 3]
    assert sorted(t["params"]["optim.lr"] for t in trials) == [0.01, 0.02, 0.03, 0.05]  # each grid point once
    assert sorted(p.name for p in (tmp_path / "s").glob("trial-*")) == [f"trial-00{i}" for i in range(4)]
    from digitlab.sweep.study import load_sweep, open_study

    study = open_study(load_sweep(tmp_path / "s")[0], tmp_path / "s")
    assert {t.user_attrs["worker"] for t in study.trials} == {0, 1}  # both processes ran trials
    assert len({t.user_attrs["pid"] for t in study.trials}) == 2


def test_shipped_sweep_file_with_command_line_overrides(tmp_path, idx_dir):
    result = runner.invoke(app, ["sweep", "--file", "net-compare", *tiny_args(idx_dir), "--trials", "1",
                                 "--root", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "net-compare" and data["target"] == 1 and data["counts"] == {"complete": 1}
    assert set(data["trials"][0]["params"]) == {"model.name", "train.seed"}
    spec = json.loads((tmp_path / "net-compare" / "sweep.json").read_text())
    assert (spec["sampler"], spec["pruner"]) == ("grid", "none")  # from the file
    assert "epochs = 1" in (tmp_path / "net-compare" / "trial-000" / "config.toml").read_text()  # from the options
