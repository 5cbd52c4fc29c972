"""Lesson `sgd` (seed 003, section 3.3 "随机梯度下降"): the same fit, one update per sample.

Instead of the mean gradient over all samples, w moves after each single sample with that sample's gradient
2 x (x w - y). The updates depend on each other (each uses the w left by the previous sample), so they cannot
run in parallel, but the noise of single samples can push w past saddle points. w = 1.0, lr 0.01, 100 epochs;
the course prints each sample's gradient and the last sample's loss per epoch.
"""

from __future__ import annotations

from digitlab.lessons.base import Board, figure

x_data = [1.0, 2.0, 3.0]
y_data = [2.0, 4.0, 6.0]


def run(board: Board, epochs: int = 100) -> dict:
    p = board.print
    w = 1.0
    rate = 0.01

    def forward(x):
        return x * w

    def loss(x, y):
        """损失函数: the squared error of one sample."""
        return (forward(x) - y) ** 2

    def gradient(x, y):
        """求梯度: d loss / d w for one sample."""
        return 2 * x * (x * w - y)

    p("predict (before training)", 4, forward(4))
    l_list = []
    loss_val = None
    for epoch in range(epochs):
        for x, y in zip(x_data, y_data):
            grad_val = gradient(x, y)
            w = w - grad_val * rate
            p("grad:", x, y, grad_val)
            loss_val = loss(x, y)
        p("Epoch: ", epoch, "w=", w, "loss=", loss_val)
        l_list.append(loss_val)
    p("predict (after training)", 4, forward(4))

    fig = figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(range(epochs), l_list, label="loss of the epoch's last sample (x = 3)")
    ax.set_title("Stochastic gradient descent on y = w x: loss per epoch")
    ax.set_xlabel("epoch (3 updates, one per sample)")
    ax.set_ylabel("loss: squared error (y units squared)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "loss.png")
    return {"w": w, "final_loss": loss_val, "predict_4": forward(4), "epochs": epochs}
