"""Hostile class 1b: bad arguments to every command other than train (eval, predict, data, export, plot, compare,
runs, serve, import-mindspore, resume). One `error:` line, non-zero exit, and the trained run is left untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import assert_nothing_lost, assert_one_line_error, hashes, invoke


def _prepare(tmp: Path) -> None:
    (tmp / "notes.txt").write_text("not a checkpoint\n")
    (tmp / "empty").mkdir()
    (tmp / "taken.png").write_bytes(b"an earlier output")


def _cases(run: Path, idx: Path, tmp: Path) -> dict[str, tuple[list, tuple[str, ...]]]:
    """case -> (command line, words its error line must hold); files as made by _prepare(tmp)."""
    text, empty = tmp / "notes.txt", tmp / "empty"
    return {
        "eval-missing-target": (["eval", tmp / "nope"], ("nope",)),
        "eval-bad-split": (["eval", run, "--split", "bogus"], ("--split",)),
        "eval-n-mistakes-0": (["eval", run, "--n-mistakes", "0"], ("--n-mistakes",)),
        "eval-unknown-dataset": (["eval", run, "--dataset", "cifar"], ("cifar",)),
        "eval-bad-device": (["eval", run, "--device", "tpu"], ("tpu",)),
        "eval-text-file": (["eval", text], ("notes.txt",)),
        "eval-empty-folder": (["eval", empty], ("empty",)),
        "eval-val-without-split": (["eval", run, "--split", "val", "--data-dir", idx], ("val_size",)),
        "predict-top-k-0": (["predict", run, "x.png", "--top-k", "0"], ("--top-k",)),
        "predict-top-k-11": (["predict", run, "x.png", "--top-k", "11"], ("--top-k",)),
        "predict-n-0": (["predict", run, "--dataset", "idx", "--n", "0"], ("--n",)),
        "predict-paths-and-dataset": (["predict", run, text, "--dataset", "idx"], ("not both",)),
        "predict-empty-folder": (["predict", run, empty], ("no image files",)),
        "data-info-unknown": (["data", "info", "cifar"], ("cifar",)),
        "data-info-idx-without-dir": (["data", "info", "idx"], ("--data-dir",)),
        "data-info-missing-dir": (["data", "info", "idx", "--data-dir", tmp / "nowhere"], ("nowhere",)),
        "data-info-dir-is-file": (["data", "info", "idx", "--data-dir", text], ("notes.txt",)),
        "data-show-bad-classes": (["data", "show", "idx", "--data-dir", idx, "--classes", "abc"], ("--classes",)),
        "data-show-class-10": (["data", "show", "idx", "--data-dir", idx, "--classes", "10"], ("--classes",)),
        "data-show-n-0": (["data", "show", "idx", "--data-dir", idx, "--n", "0"], ("--n",)),
        "data-show-bad-split": (["data", "show", "idx", "--data-dir", idx, "--split", "bogus", "--out",
                                 tmp / "g.png"], ("bogus",)),
        "data-show-out-taken": (["data", "show", "idx", "--data-dir", idx, "--out", tmp / "taken.png"], ("--force",)),
        "data-fetch-unknown": (["data", "fetch", "cifar"], ("cifar",)),
        "data-fetch-from-missing": (["data", "fetch", "mnist", "--from", tmp / "nowhere"], ("nowhere",)),
        "export-bad-format": (["export", run, "--format", "pickle", "--out", tmp / "m.bin"], ("pickle",)),
        "export-check-0": (["export", run, "--format", "onnx", "--out", tmp / "m.onnx", "--check", "0"], ("--check",)),
        "export-out-taken": (["export", run, "--format", "onnx", "--out", tmp / "taken.png"], ("--force",)),
        "export-mindspore-out-taken": (["export", run, "--format", "mindspore", "--out", tmp / "taken.png"],
                                       ("--force",)),
        "plot-not-a-run": (["plot", empty, "--out", tmp / "p.png"], ("not a run folder",)),
        "plot-out-taken": (["plot", run, "--out", tmp / "taken.png"], ("--force",)),
        "compare-not-a-run": (["compare", empty, "--out", tmp / "c.png"], ("not a run folder",)),
        "runs-root-is-file": (["runs", "--root", text], ("notes.txt",)),
        "serve-missing-target": (["serve", tmp / "nope"], ("nope",)),
        "serve-bad-port": (["serve", run, "--port", "70000"], ("--port",)),
        "import-missing-file": (["import-mindspore", tmp / "nope.ckpt", "--model", "mlp", "--out", tmp / "imp"],
                                ("nope.ckpt",)),
        "import-not-a-ckpt": (["import-mindspore", text, "--model", "mlp", "--out", tmp / "imp"], ("notes.txt",)),
        "import-unknown-model": (["import-mindspore", text, "--model", "resnet", "--out", tmp / "imp"], ("resnet",)),
        "resume-missing": (["train", "--resume", tmp / "nope"], ("nope",)),
        "resume-a-file": (["train", "--resume", text], ("notes.txt",)),
        "resume-with-lr": (["train", "--resume", run, "--lr", "0.1"], ("--lr",)),
        "resume-set-lr": (["train", "--resume", run, "--set", "optim.lr=0.1"], ("optim.lr",)),
        "resume-finished-run": (["train", "--resume", run, "--data-dir", idx], ("already trained",)),
        "train-name-with-slash": (["train", "--name", "a/b", "--dataset", "idx", "--data-dir", idx], ("--name",)),
        "train-run-dir-taken": (["train", "--run-dir", run, "--dataset", "idx", "--data-dir", idx], ("not empty",)),
        "train-config-missing": (["train", "--config", tmp / "nope.toml"], ("nope.toml",)),
        "unknown-command": (["bogus-command"], ("bogus-command",)),
        "missing-argument": (["eval"], ("target",)),
    }


CASES = list(_cases(Path("run"), Path("idx"), Path("tmp")))


@pytest.mark.parametrize("case", CASES)
def test_bad_command_line_is_one_line(trained, idx_dir, tmp_path, case):
    _prepare(tmp_path)
    args, words = _cases(trained, idx_dir, tmp_path)[case]
    before = hashes(trained, tmp_path)
    assert_one_line_error(invoke(*args), *words)
    assert_nothing_lost(before, trained, tmp_path)
