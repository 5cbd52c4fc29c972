"""Lessons: the PyTorch course of seed 003, step by step, as runnable and tested code.

The registry below maps each lesson's name to its `Lesson` (title, what it teaches, the seed section it
follows, its run function). `run_lesson(name, out_dir, emit, **options)` runs one on a `Board`: the lesson's
printed lines go to `emit` as they are produced (and into the result), its figures into `out_dir` (default
`lessons/NAME/`), with `output.txt` (the lines) and `figures.json` (the key figures) beside them.
Each lesson is one plain module (linear_sweep.py, ...) meant to be read beside the course's notes.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from pathlib import Path

from digitlab.errors import ConfigError
from digitlab.io import atomic_write, blocking_file, write_json
from digitlab.lessons import (
    autograd,
    cnn_basics,
    diabetes,
    gradient_descent,
    linear_nn,
    linear_surface,
    linear_sweep,
    logistic,
    mnist,
    rnn_hello,
    sgd,
)
from digitlab.lessons.base import Board, Emit, Lesson, LessonResult, one_thread, seeded


def _lesson(name: str, title: str, teaches: str, section: str, run, small: bool = True) -> Lesson:
    options = tuple(list(inspect.signature(run).parameters)[1:])  # everything after the board
    return Lesson(name, title, teaches, section, run, options, small)


_LESSONS = [
    _lesson("linear-sweep", "Linear model by brute force", "try every w of y = w x; the MSE curve's minimum is w = 2.0",
            "2. 线型模型", linear_sweep.run),
    _lesson("linear-surface", "Linear model with a bias", "MSE of y = w x + b over a (w, b) grid: 3-D surface and contour",
            "2. 线型模型 (加上常数)", linear_surface.run),
    _lesson("gradient-descent", "Gradient descent", "the hand-derived gradient moves w from 1.0 to 2.0 in 100 epochs",
            "3.2 梯度下降 公式", gradient_descent.run),
    _lesson("sgd", "Stochastic gradient descent", "one update per sample instead of per epoch",
            "3.3 随机梯度下降", sgd.run),
    _lesson("autograd", "Autograd", "requires_grad, backward(), w.grad and grad.zero_() do the calculus",
            "5. Pytorch", autograd.run),
    _lesson("linear-nn", "Linear regression as an nn.Module", "Linear(1, 1), MSE, SGD: the four steps of every model",
            "5. Pytorch (nn.Linear)", linear_nn.run),
    _lesson("logistic", "Logistic regression", "sigmoid + binary cross-entropy: P(pass) from hours of study",
            "6. 逻辑斯蒂回归", logistic.run),
    _lesson("diabetes", "A network on a table", "8-6-4-1 sigmoid net, full batch then Dataset/DataLoader mini-batches",
            "7. 多维数据处理 + 8. 加载数据集", diabetes.run),
    _lesson("cnn-basics", "Convolution, padding, stride, pooling", "what padding, stride and max pooling do to shapes",
            "10.1-10.3 卷积神经网络", cnn_basics.run),
    _lesson("rnn-hello", "Recurrent networks", 'learn "hello" -> "ohlol": RNNCell, nn.RNN, Embedding',
            "11. RNN 循环神经网络", rnn_hello.run),
    _lesson("mnist-mlp", "MNIST with a 5-layer MLP", "runs the mlp-5layer recipe (the course's fully connected Net)",
            "9. 多分类问题", mnist.run_mlp, small=False),
    _lesson("mnist-cnn", "MNIST with a small CNN", "runs the cnn-small recipe (the course's CNN)",
            "10.4-10.5 卷积神经网络", mnist.run_cnn, small=False),
]
LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in _LESSONS}

# Options every lesson takes (handled here, not by the lesson), and the ones that must be positive integers.
COMMON_OPTIONS = ("seed", "device")
POSITIVE_OPTIONS = ("epochs", "max_steps", "limit")


def list_lessons() -> list[Lesson]:
    return list(LESSONS.values())


def get_lesson(name: str) -> Lesson:
    try:
        return LESSONS[name]
    except KeyError:
        raise ConfigError(f"unknown lesson '{name}': choose one of {', '.join(LESSONS)}") from None


def run_lesson(name: str, out_dir: str | os.PathLike | None = None, emit: Emit | None = None,
               **options) -> LessonResult:
    """Run one lesson; options are the lesson's own (e.g. epochs, csv) plus seed (default 0) and device
    (default "auto"). Options left as None take the lesson's default."""
    from digitlab.device import pick_device

    lesson = get_lesson(name)
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(lesson.options) - set(COMMON_OPTIONS))
    if unknown:
        takes = ", ".join(lesson.options) or "none of its own"
        raise ConfigError(f"lesson '{name}' has no option {', '.join(unknown)}; its options: {takes} "
                          "(every lesson also takes seed and device)")
    for key in POSITIVE_OPTIONS:
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"lesson '{name}': {key} must be a whole number of at least 1, got {value!r}")
    seed = options.pop("seed", 0)
    device = pick_device(options.pop("device", "auto"))
    out = Path(out_dir) if out_dir is not None else Path("lessons") / name
    if (blocker := blocking_file(out)) is not None:  # before the lesson runs, not after its last line
        raise ConfigError(f"--out {out}: {blocker} is a file, not a folder; name a folder for the lesson's output")
    board = Board(out, emit, device)
    with seeded(seed), (one_thread() if lesson.small and device.type == "cpu" else contextlib.nullcontext()):
        figures = lesson.run(board, **options)
    board.flush()
    files = [*board.files]
    files.append(str(atomic_write(out / "output.txt", "\n".join(board.lines) + "\n")))
    files.append(str(write_json(out / "figures.json", {"lesson": name, "seed": seed, "device": str(device),
                                                       "options": options, "figures": figures})))
    return LessonResult(name, tuple(board.lines), tuple(files), figures)


__all__ = ["Board", "Lesson", "LessonResult", "get_lesson", "list_lessons", "run_lesson"]
