"""Lesson `linear-sweep` (seed 003, section 2 "线型模型"): find w of y = w * x by trying every w.

The course's first program, line for line: three samples, the model y = x * w, the squared error per sample,
and the mean squared error (MSE) for each w from 0.0 to 4.0 in steps of 0.1. It prints each sample's x, y,
prediction and loss, then the MSE, and plots MSE against w. The curve's lowest point is the answer, w = 2.0.
"""

from __future__ import annotations

import numpy as np

from digitlab.lessons.base import Board, figure

# 数据样本 (the data): y = 2 x
x_data = [1.0, 2.0, 3.0]
y_data = [2.0, 4.0, 6.0]


def forward(x, w):
    """线型模型: the linear model, no bias."""
    return x * w


def loss(x, y, w):
    """损失函数: the squared error of one sample."""
    y_pred = forward(x, w)
    return (y_pred - y) * (y_pred - y)


def run(board: Board) -> dict:
    p = board.print
    w_list = []  # the weights tried: the plot's x axis
    mse_list = []  # the MSE of each: the plot's y axis

    # 在某个范围内,穷举权重w: try every w in the range (np.arange as the course, so the same float values)
    for w in np.arange(0.0, 4.1, 0.1):
        p("w=", w)
        l_sum = 0
        for x_val, y_val in zip(x_data, y_data):
            y_pred_val = forward(x_val, w)
            loss_val = loss(x_val, y_val, w)
            l_sum += loss_val
            p(f"\t{x_val} {y_val} {y_pred_val} {loss_val}")
        p(f"MSE = {l_sum / 3}")
        w_list.append(float(w))
        mse_list.append(float(l_sum / 3))

    best = int(np.argmin(mse_list))
    p(f"lowest MSE {mse_list[best]} at w = {w_list[best]:.1f}")

    fig = figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(w_list, mse_list, label="MSE over the 3 samples")
    ax.axvline(w_list[best], color="red", linestyle="--", label=f"minimum: w = {w_list[best]:.1f}")
    ax.set_title("Linear model y = w x: loss for each w (brute force)")
    ax.set_xlabel("w (weight, no unit)")
    ax.set_ylabel("Loss: mean squared error (y units squared)")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "mse.png")
    return {"best_w": round(w_list[best], 10), "best_mse": mse_list[best], "w": w_list, "mse": mse_list}
