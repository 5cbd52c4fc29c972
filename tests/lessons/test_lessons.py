"""Each lesson runs (small epochs where the course's take long) and shows the figure that makes it true."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from digitlab.errors import ConfigError
from digitlab.lessons import get_lesson, list_lessons, run_lesson
from digitlab.lessons.base import Board

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(name, tmp_path, **options):
    lines = []
    result = run_lesson(name, tmp_path / name, lines.append, device="cpu", **options)
    assert list(result.lines) == lines  # emit saw every line, in order, as the result holds them
    for path in result.files:
        assert tmp_path / name in Path(path).parents
    pngs = [p for p in result.files if p.endswith(".png")]
    assert pngs, f"{name} wrote no figure"
    for png in pngs:
        with open(png, "rb") as fh:
            assert fh.read(8) == PNG_MAGIC
    saved = (tmp_path / name / "output.txt").read_text(encoding="utf-8").splitlines()
    assert saved == lines
    assert json.loads((tmp_path / name / "figures.json").read_text())["lesson"] == name
    return result


def test_registry_lists_every_lesson_with_its_section():
    names = [x.name for x in list_lessons()]
    assert names[:10] == ["linear-sweep", "linear-surface", "gradient-descent", "sgd", "autograd", "linear-nn",
                          "logistic", "diabetes", "cnn-basics", "rnn-hello"]
    assert {"mnist-mlp", "mnist-cnn"} <= set(names)
    for lesson in list_lessons():
        assert lesson.title and lesson.teaches and lesson.section
    assert get_lesson("diabetes").options == ("csv", "epochs")


def test_unknown_lesson_and_bad_options():
    with pytest.raises(ConfigError, match="unknown lesson 'nope': choose one of linear-sweep"):
        get_lesson("nope")
    with pytest.raises(ConfigError, match="has no option epochs"):
        run_lesson("linear-sweep", None, epochs=3)
    with pytest.raises(ConfigError, match="epochs must be a whole number of at least 1"):
        run_lesson("gradient-descent", None, epochs=0)


def test_board_prints_like_print_across_end_arguments():
    seen = []
    board = Board("unused", seen.append)
    board.print("Predicted string: ", end="")
    board.print("o", end="")
    board.print("h", 1.5, None, sep="|")
    board.print("\tx", 2)
    board.print("tail", end="")
    board.flush()
    assert seen == ["Predicted string: oh|1.5|None", "\tx 2", "tail"]


def test_linear_sweep_minimum_at_w_2(tmp_path):
    r = run("linear-sweep", tmp_path)
    assert r.figures["best_w"] == pytest.approx(2.0, abs=1e-9) and r.figures["best_mse"] == 0.0
    assert len(r.figures["w"]) == 41  # 0.0 .. 4.0 step 0.1
    # the course's print format: 'w=' line, a tab-indented line per sample, then the MSE
    assert list(r.lines[:5]) == ["w= 0.0", "\t1.0 2.0 0.0 4.0", "\t2.0 4.0 0.0 16.0", "\t3.0 6.0 0.0 36.0",
                           f"MSE = {(4.0 + 16.0 + 36.0) / 3}"]


def test_linear_surface_minimum_at_w_2_b_1(tmp_path):
    r = run("linear-surface", tmp_path)
    assert (r.figures["best_w"], r.figures["best_b"]) == (pytest.approx(2.0), pytest.approx(1.0))
    assert r.figures["pairs"] == 41 * 41
    assert r.lines[0] == "w 0.0 b 0.0"


def test_gradient_descent_reaches_w_2(tmp_path):
    r = run("gradient-descent", tmp_path)
    assert abs(r.figures["w"] - 2.0) < 0.01
    assert abs(r.figures["predict_4"] - 8.0) < 0.04
    # the first update by hand: grad = mean of 2 x (x w - y) at w = 1
    grad = sum(2 * x * (x * 1.0 - y) for x, y in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])) / 3
    cost = sum((x * 1.0 - y) ** 2 for x, y in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])) / 3
    assert f"Epoch: 0 w= {1.0 - grad * 0.01} loss= {cost}" in r.lines
    assert sum(line.startswith("Epoch:") for line in r.lines) == 100


def test_sgd_and_autograd_reach_w_2(tmp_path):
    sgd = run("sgd", tmp_path)
    assert abs(sgd.figures["w"] - 2.0) < 0.01
    assert sum(line.startswith("grad:") for line in sgd.lines) == 300  # one update per sample
    auto = run("autograd", tmp_path, epochs=50)
    assert abs(auto.figures["w"] - 2.0) < 0.01
    assert "None" in auto.lines  # a.grad before any backward()
    assert sum(line.startswith("\tgrad:") for line in auto.lines) == 150
    assert any("requires_grad=True" in line for line in auto.lines if line.startswith("Epoch:"))


def test_linear_nn_predicts_8_for_4(tmp_path):
    r = run("linear-nn", tmp_path)
    assert abs(r.figures["predict_4"] - 8.0) < 0.05
    assert r.lines[-3].startswith("w = ") and r.lines[-1].startswith("y_pred =  tensor([[")


def test_logistic_probability_crosses_half_between_1_and_4_hours(tmp_path):
    r = run("logistic", tmp_path)
    assert r.figures["p_pass_4h"] > 0.5
    assert r.figures["p_pass_1h"] < 0.5
    assert 1.0 < r.figures["boundary_hours"] < 4.0


def test_cnn_basics_shapes_and_numbers(tmp_path):
    r = run("cnn-basics", tmp_path)
    shapes = r.figures["shapes"]
    assert shapes["conv_shapes"] == {"input": [1, 5, 100, 100], "output": [1, 10, 98, 98], "weight": [10, 5, 3, 3]}
    assert shapes["padding"] == [1, 1, 5, 5] and shapes["stride"] == [1, 1, 2, 2] and shapes["pooling"] == [1, 1, 2, 2]
    # the same numbers by hand: cross-correlation of the zero-padded input with the kernel 1..9
    from digitlab.lessons.cnn_basics import INPUT_4x4, INPUT_5x5, KERNEL_3x3

    x = np.pad(np.array(INPUT_5x5, float).reshape(5, 5), 1)
    k = np.array(KERNEL_3x3, float).reshape(3, 3)
    by_hand = np.array([[(x[i:i + 3, j:j + 3] * k).sum() for j in range(5)] for i in range(5)])
    assert np.array_equal(np.array(r.figures["padding_output"]), by_hand)
    assert np.array_equal(np.array(r.figures["stride_output"]), by_hand[1:4:2, 1:4:2])  # no padding, every 2nd
    pool = np.array(INPUT_4x4, float).reshape(2, 2, 2, 2).max(axis=(1, 3))  # (row block, row, col block, col)
    assert np.array_equal(np.array(r.figures["pooling_output"]), pool)


def test_rnn_hello_ends_on_ohlol(tmp_path):
    r = run("rnn-hello", tmp_path)
    predicted = [line for line in r.lines if line.startswith("Predicted")]
    assert len(predicted) == 3 * 15
    assert predicted[-1].startswith("Predicted:  ohlol, Epoch [15/15]")
    assert r.figures["predicted"]["embedding"] == "ohlol"
    losses = r.figures["final_loss"]
    assert set(losses) == {"rnncell", "rnn", "embedding"}
    first_cell = float(predicted[0].rsplit("loss=", 1)[1])
    assert losses["rnncell"] < first_cell  # the written-out loop learns too
