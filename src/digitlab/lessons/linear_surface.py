"""Lesson `linear-surface` (seed 003, section 2, "加上常数"): the same brute force with a bias, y = w * x + b.

Data y = [3, 5, 7] (so y = 2 x + 1); every w and b from 0.0 to 4.0 in steps of 0.1 (41 x 41 = 1,681 pairs),
printing each pair, each sample and the MSE as the course does. The course draws the MSE as a 3-D line; here
it is a 3-D surface over the (w, b) grid plus a contour map, whose lowest point is w = 2.0, b = 1.0.
"""

from __future__ import annotations

import numpy as np

from digitlab.lessons.base import Board, figure

x_data = [1.0, 2.0, 3.0]
y_data = [3.0, 5.0, 7.0]


def forward(x, w, b):
    return x * w + b


def loss(x, y, w, b):
    y_pred = forward(x, w, b)
    return (y_pred - y) * (y_pred - y)


def run(board: Board) -> dict:
    p = board.print
    w_list = []
    b_list = []
    mse_list = []
    for w in np.arange(0.0, 4.1, 0.1):
        for b in np.arange(0.0, 4.1, 0.1):
            p("w", w, "b", b)
            l_sum = 0
            for x_val, y_val in zip(x_data, y_data):
                y_pred_val = forward(x_val, w, b)
                loss_val = loss(x_val, y_val, w, b)
                l_sum += loss_val
                p("\t", x_val, y_val, y_pred_val, loss_val)
            p("MSE=", l_sum / 3)
            w_list.append(float(w))
            b_list.append(float(b))
            mse_list.append(float(l_sum / 3))

    best = int(np.argmin(mse_list))
    p(f"lowest MSE {mse_list[best]} at w = {w_list[best]:.1f}, b = {b_list[best]:.1f}")

    # The sweep ran b fastest inside w, so the flat lists reshape to a (len(w), len(b)) grid.
    n_w, n_b = len(np.unique(w_list)), len(np.unique(b_list))
    W = np.array(w_list).reshape(n_w, n_b)
    B = np.array(b_list).reshape(n_w, n_b)
    MSE = np.array(mse_list).reshape(n_w, n_b)

    fig = figure(figsize=(12, 5))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.plot_surface(W, B, MSE, cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
    ax.scatter([w_list[best]], [b_list[best]], [mse_list[best]], color="red", s=40, label="minimum")
    ax.set_title("MSE of y = w x + b over (w, b)")
    ax.set_xlabel("w (weight)")
    ax.set_ylabel("b (bias, y units)")
    ax.set_zlabel("Loss: MSE (y units squared)")
    ax.legend(loc="upper right")

    ax2 = fig.add_subplot(1, 2, 2)
    contour = ax2.contourf(W, B, MSE, levels=30, cmap="viridis")
    ax2.contour(W, B, MSE, levels=[0.5, 2, 8, 32], colors="white", linewidths=0.8)
    ax2.plot(w_list[best], b_list[best], "r*", markersize=14,
             label=f"minimum: w = {w_list[best]:.1f}, b = {b_list[best]:.1f}")
    ax2.set_title("The same MSE seen from above (contour)")
    ax2.set_xlabel("w (weight)")
    ax2.set_ylabel("b (bias, y units)")
    ax2.legend(loc="upper right")
    fig.colorbar(contour, ax=ax2, label="MSE (y units squared)")
    board.save(fig, "mse_surface.png")
    return {"best_w": round(w_list[best], 10), "best_b": round(b_list[best], 10), "best_mse": mse_list[best],
            "pairs": len(mse_list)}
