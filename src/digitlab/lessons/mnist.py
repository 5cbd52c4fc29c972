"""Lessons `mnist-mlp` and `mnist-cnn` (seed 003, sections 9 "多分类问题" and 10 "卷积神经网络"): pointers to
the recipes that already reproduce the course's two MNIST programs, so its last chapters are on the list too.

mnist-mlp runs the `mlp-5layer` recipe (784-512-256-128-64-10, ReLU, SGD 0.01 momentum 0.5, batch 32) and
mnist-cnn the `cnn-small` recipe (conv10 - pool - conv20 - pool - fc320, same optimizer) through
`digitlab.train`, printing the course's `[epoch, batch] loss: ...` lines and the test accuracy per epoch. The
run lands in runs/ like any other (`digitlab eval`, `compare`, `serve` take it). The recipes run 100 and 10
epochs; `epochs`, `max_steps` and `limit` make a lesson-sized run.
"""

from __future__ import annotations

import json

import digitlab
from digitlab.config import with_overrides
from digitlab.lessons.base import Board
from digitlab.records import EvalRecord, RunStart, StepRecord
from digitlab.training.report import Reporter


class CourseLines(Reporter):
    """Prints what the course's train() and test() print, on the lesson's board."""

    def __init__(self, board: Board) -> None:
        self.p = board.print

    def on_start(self, info: RunStart) -> None:
        self.p(f"model {info.config.model.name} ({info.params:,} parameters) on {info.data.get('dataset')} "
               f"({info.n_train:,} train / {info.n_test:,} test), device {info.device}")
        self.p(f"run folder: {info.run_dir}")

    def on_log(self, record: StepRecord) -> None:
        # The course prints the mean loss of the last 300 batches at batch 300, 600, ... (loss_mean when the
        # recipe logs that way); otherwise the loss of the batch at the log point. record.batch is 0-based.
        loss = record.loss_mean if record.loss_mean is not None else record.loss
        self.p("[%d,%5d] loss: %.3f" % (record.epoch, record.batch + 1, loss))  # noqa: UP031  (the course's format)

    def on_epoch_end(self, record: EvalRecord) -> None:
        if record.test_acc is not None:
            self.p(f"{record.test_acc}")  # the course's print(f"{100 * correct / total}")

    def on_message(self, text: str) -> None:
        self.p(f"WARNING: {text}")


def _run_recipe(board: Board, recipe: str, epochs: int | None, max_steps: int | None, limit: int | None,
                dataset: str | None, data_dir: str | None) -> dict:
    config = digitlab.load_recipe(recipe).config
    # Values as TOML literals (json.dumps quotes strings such as paths the way TOML reads them back).
    overrides = [f"train.device={json.dumps(str(board.device))}"]
    for key, value in (("train.epochs", epochs), ("train.max_steps", max_steps), ("data.limit", limit),
                       ("data.dataset", dataset), ("data.data_dir", data_dir)):
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    config = with_overrides(config, overrides)
    board.print(f"recipe {recipe}: {config.model.name}, {config.optim.name} lr {config.optim.lr}, "
                f"batch {config.train.batch_size}, {config.train.epochs} epochs"
                + (f", at most {config.train.max_steps} steps" if config.train.max_steps else ""))
    summary = digitlab.train(config, reporter=CourseLines(board))
    board.print(f"test accuracy {summary.final_test_acc}% (best {summary.best_test_acc}%) after "
                f"{summary.epochs} epochs / {summary.steps} steps in {summary.train_seconds:.1f} s")
    board.print(f"next: digitlab eval {summary.run_dir}   (or predict / compare / serve)")
    loss_png = f"{summary.run_dir}/loss.png"
    board.files.append(loss_png)
    return {"recipe": recipe, "run_dir": summary.run_dir, "final_test_acc": summary.final_test_acc,
            "best_test_acc": summary.best_test_acc, "epochs": summary.epochs, "steps": summary.steps,
            "train_seconds": summary.train_seconds}


def run_mlp(board: Board, epochs: int | None = None, max_steps: int | None = None, limit: int | None = None,
            dataset: str | None = None, data_dir: str | None = None) -> dict:
    return _run_recipe(board, "mlp-5layer", epochs, max_steps, limit, dataset, data_dir)


def run_cnn(board: Board, epochs: int | None = None, max_steps: int | None = None, limit: int | None = None,
            dataset: str | None = None, data_dir: str | None = None) -> dict:
    return _run_recipe(board, "cnn-small", epochs, max_steps, limit, dataset, data_dir)
