"""Hostile class 2c: paths. Run folders and outputs whose paths hold `[`/`]`, spaces and unicode work and are printed
literally (never as rich markup); outputs that cannot be written (a path under a regular FILE: tests run as root, so
chmod would not bite) are one `error:` line naming the file, and nothing already saved changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.conftest import (
    assert_nothing_lost,
    assert_ok,
    assert_one_line_error,
    hashes,
    invoke,
    train_args,
)
from tests.test_preprocess import png_bytes, stroke_image


@pytest.mark.parametrize("name", ["run [1]", "a]b[c", "résumé ünïcode 数字", "[bold red]loud[link=x]"])
def test_odd_run_folder_names_train_eval_and_list(idx_dir, tmp_path, name):
    parent = tmp_path / "runs [root]"
    run = parent / name
    result = invoke(*train_args(idx_dir, run, "--max-steps", "2"))
    assert_ok(result)
    assert str(run) in result.stdout  # printed literally, brackets and all
    evaluated = invoke("eval", run, "--data-dir", idx_dir, "--device", "cpu", "--json")
    assert_ok(evaluated)
    listed = invoke("runs", "--root", parent)
    assert_ok(listed)
    assert run.name in listed.stdout


@pytest.mark.parametrize("target", ["nope[/red]", "[bold]x[/bold]", "a]b[c", "[train]"])
def test_error_lines_print_user_text_literally(tmp_path, target):
    line = assert_one_line_error(invoke("eval", tmp_path / target))
    assert target in line


def test_config_error_naming_a_section_keeps_its_brackets(idx_dir, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("epochs = 2\n")
    assert "[train]" in assert_one_line_error(invoke(*train_args(idx_dir, tmp_path / "run", "--config", cfg)))


def _outputs(run: Path, idx: Path, blocked: Path, image: Path) -> dict[str, list]:
    """command lines whose output path lies under `blocked`, a regular file."""
    return {
        "plot": ["plot", run, "--out", blocked / "curves.png"],
        "compare": ["compare", run, "--out", blocked / "compare.png"],
        "eval-confusion": ["eval", run, "--data-dir", idx, "--device", "cpu", "--confusion", blocked / "c.png"],
        "plot-svg": ["plot", run, "--out", blocked / "curves.svg"],
        "data-show": ["data", "show", "idx", "--data-dir", idx, "--out", blocked / "grid.png"],
        "predict-csv": ["predict", run, image, "--device", "cpu", "--csv", blocked / "p.csv"],
        "predict-explain": ["predict", run, image, "--device", "cpu", "--explain", blocked / "explain"],
        "train-run-dir": train_args(idx, blocked / "run", "--max-steps", "1"),
        "export": ["export", run, "--format", "torchscript", "--out", blocked / "m.pt", "--check", "10",
                   "--data-dir", idx],
    }


OUTPUTS = list(_outputs(Path("r"), Path("i"), Path("b"), Path("g")))


@pytest.mark.parametrize("case", OUTPUTS)
def test_unwritable_output_is_one_line_naming_it(trained, idx_dir, tmp_path, case):
    blocked = tmp_path / "a-file"
    blocked.write_text("I am a file, not a folder\n")
    image = tmp_path / "digit.png"
    image.write_bytes(png_bytes(stroke_image()))
    before = hashes(trained, tmp_path)
    line = assert_one_line_error(invoke(*_outputs(trained, idx_dir, blocked, image)[case]), "not a folder")
    assert f"{blocked} is a file" in line  # the real problem, not the OS's "File exists"
    assert_nothing_lost(before, trained, tmp_path)


def test_runs_folder_under_a_file(idx_dir, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    monkeypatch.setenv("DIGITLAB_RUNS", str(blocked / "runs"))
    result = invoke("train", "--dataset", "idx", "--data-dir", idx_dir, "--device", "cpu", "--max-steps", "1",
                    "--name", "r")
    assert f"{blocked} is a file" in assert_one_line_error(result, "not a folder")
    assert blocked.read_text() == "x"


def test_train_json_summary_names_odd_run_folder_exactly(idx_dir, tmp_path):
    run = tmp_path / "a [b] c"
    result = invoke(*train_args(idx_dir, run, "--max-steps", "2", "--json"))
    assert_ok(result)
    assert json.loads(result.stdout)["run_dir"] == str(run)
