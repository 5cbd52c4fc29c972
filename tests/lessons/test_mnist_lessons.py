"""mnist-mlp / mnist-cnn point at the recipes: a tiny run through digitlab.train on synthetic IDX data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digitlab.lessons import run_lesson
from digitlab.lessons.mnist import CourseLines
from digitlab.records import EvalRecord, StepRecord


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_course_lines_print_the_running_mean_when_logged():
    lines = []
    board = type("B", (), {"print": lambda self, *a: lines.append(" ".join(map(str, a)))})()
    reporter = CourseLines(board)
    reporter.on_log(StepRecord(epoch=1, batch=299, loss=0.5, loss_mean=0.25))
    reporter.on_log(StepRecord(epoch=2, batch=0, loss=0.5))
    reporter.on_epoch_end(EvalRecord(test_acc=97.5))
    assert lines == ["[1,  300] loss: 0.250", "[2,    1] loss: 0.500", "97.5"]


@pytest.mark.parametrize("name,recipe,model", [("mnist-mlp", "mlp-5layer", "mlp-5"),
                                               ("mnist-cnn", "cnn-small", "cnn-small")])
def test_mnist_lesson_runs_its_recipe(tmp_path, idx_dir, name, recipe, model):
    lines = []
    r = run_lesson(name, tmp_path / name, lines.append, epochs=1, max_steps=4, limit=128, dataset="idx",
                   data_dir=str(idx_dir), device="cpu")
    assert r.figures["recipe"] == recipe and r.figures["steps"] == 4
    run_dir = Path(r.figures["run_dir"])
    config = (run_dir / "config.toml").read_text()
    assert f'name = "{model}"' in config and "limit = 128" in config
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final_test_acc"] == r.figures["final_test_acc"]
    assert lines[0].startswith(f"recipe {recipe}: {model}, sgd lr 0.01, batch 32, 1 epochs, at most 4 steps")
    assert any(_is_number(line) for line in lines)  # the course's test(): print(f"{100 * correct / total}")
    assert any(line.startswith("next: digitlab eval ") for line in lines)
