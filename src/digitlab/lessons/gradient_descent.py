"""Lesson `gradient-descent` (seed 003, section 3.2 "公式"): find w by following the hand-derived gradient.

cost(w) = mean over samples of (x w - y)^2, so d cost / d w = mean of 2 x (x w - y). Starting at w = 1.0, each
epoch moves w against that gradient by the learning rate 0.01; 100 epochs bring w to 2.0 (within 0.0001).
Prints the course's `Epoch: e w= ... loss= ...` lines, plots the cost per epoch, and predicts x = 4.
"""

from __future__ import annotations

from digitlab.lessons.base import Board, figure

x_data = [1.0, 2.0, 3.0]
y_data = [2.0, 4.0, 6.0]


def run(board: Board, epochs: int = 100) -> dict:
    p = board.print
    w = 1.0
    rate = 0.01  # 学习率: the learning rate

    def forward(x):
        return x * w

    def cost(xs, ys):
        """损失函数: the mean squared error over all samples."""
        cost = 0
        for x, y in zip(xs, ys):
            y_pred = forward(x)
            cost += (y_pred - y) ** 2
        return cost / len(xs)

    def gradient(xs, ys):
        """求梯度: d cost / d w, derived by hand."""
        grad = 0
        for x, y in zip(xs, ys):
            grad += 2 * x * (x * w - y)
        return grad / len(xs)

    p("predict (before training)", 4, forward(4))
    l_list = []
    for epoch in range(epochs):
        cost_val = cost(x_data, y_data)
        grad_val = gradient(x_data, y_data)
        w = w - grad_val * rate
        p("Epoch:", epoch, "w=", w, "loss=", cost_val)
        l_list.append(cost_val)
    p("predict (after training)", 4, forward(4))

    fig = figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(range(epochs), l_list, label=f"cost (lr {rate}, w from 1.0)")
    ax.set_title("Gradient descent on y = w x: cost per epoch")
    ax.set_xlabel("epoch (one update using all 3 samples)")
    ax.set_ylabel("cost: mean squared error (y units squared)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "cost.png")
    return {"w": w, "final_cost": l_list[-1] if l_list else None, "predict_4": forward(4), "epochs": epochs}
