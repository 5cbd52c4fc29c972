"""`digitlab lesson list | run` through CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from digitlab.cli import app

runner = CliRunner()


def test_list_table_and_json():
    result = runner.invoke(app, ["lesson", "list"])
    assert result.exit_code == 0, result.output
    for name in ("linear-sweep", "rnn-hello", "diabetes", "mnist-cnn"):
        assert name in result.stdout
    rows = json.loads(runner.invoke(app, ["lesson", "list", "--json"]).stdout)
    assert rows[0]["name"] == "linear-sweep" and rows[0]["section"].startswith("2.")
    assert {"name", "title", "teaches", "section", "options"} <= set(rows[0])


def test_run_prints_the_course_lines_and_writes_the_plot(tmp_path):
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["lesson", "run", "linear-sweep", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["w= 0.0", "\t1.0 2.0 0.0 4.0"]  # the tab survives: lines are echoed raw
    assert lines[-1] == "lowest MSE 0.0 at w = 2.0"
    assert (out / "mse.png").stat().st_size > 1000 and (out / "output.txt").exists()
    assert "wrote: " in result.stderr


def test_run_json(tmp_path):
    result = runner.invoke(app, ["lesson", "run", "gradient-descent", "--out", str(tmp_path), "--epochs", "100",
                                 "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "gradient-descent" and abs(data["figures"]["w"] - 2.0) < 0.01
    assert data["lines"][1].startswith("Epoch: 0 w= ") and any(f.endswith("cost.png") for f in data["files"])
    assert "Epoch: 99" in result.stderr  # the lines stream to stderr under --json


def test_default_out_is_lessons_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["lesson", "run", "cnn-basics", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lessons" / "cnn-basics" / "conv.png").exists()


def test_unknown_lesson_is_one_line_exit_2():
    result = runner.invoke(app, ["lesson", "run", "nope"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown lesson 'nope': choose one of linear-sweep, linear-surface, gradient-descent, sgd, autograd, "
        "linear-nn, logistic, diabetes, cnn-basics, rnn-hello, mnist-mlp, mnist-cnn"]


def test_option_the_lesson_does_not_take_is_exit_2(tmp_path):
    result = runner.invoke(app, ["lesson", "run", "linear-sweep", "--epochs", "3", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "has no option epochs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_csv_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,0\n1,2\n")
    result = runner.invoke(app, ["lesson", "run", "diabetes", "--csv", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {bad}: line 2 has 2 columns, earlier lines have 3; "
                                                  "every row needs the same columns"]
