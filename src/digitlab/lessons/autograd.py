"""Lesson `autograd` (seed 003, section 5 "Pytorch"): the same per-sample fit, with PyTorch computing the gradient.

w is a tensor with requires_grad=True, so every expression built from it records a computation graph;
`l.backward()` walks that graph back and stores d l / d w in `w.grad`; the update uses `.data` so that it is
not recorded itself; `w.grad.data.zero_()` clears the gradient, which would otherwise accumulate across
samples. w starts at 0.1 as in the notes; lr 0.01, 100 epochs, printing w.grad at every step.
"""

from __future__ import annotations

import torch

from digitlab.lessons.base import Board, figure

x_data = [1.0, 2.0, 3.0]
y_data = [2.0, 4.0, 6.0]


def run(board: Board, epochs: int = 100) -> dict:
    p = board.print
    device = board.device

    # First, what a tensor that needs a gradient holds (the notes' first snippet).
    a = torch.tensor([1.0], device=device)
    a.requires_grad = True  # 或者 a.requires_grad_()
    p(a)
    p(a.data)
    p(a.type())  # a的类型是tensor
    p(a.data.type())
    p(a.grad)  # None: nothing has called backward() yet
    p(type(a.grad))

    w = torch.tensor([0.1], device=device)
    w.requires_grad = True  # 需要计算梯度

    def forward(x):
        return x * w  # a tensor times a float: a node in the computation graph, not just a product

    def loss(x, y):
        y_pred = forward(x)
        return (y_pred - y) ** 2

    p("predict (before training)", 4, forward(4).item())
    l_list = []
    for epoch in range(epochs):
        for x, y in zip(x_data, y_data):
            l = loss(x, y)  # noqa: E741  (the course's name for the loss tensor)
            l.backward()  # 反向传播: fills w.grad, then frees the graph
            p("\tgrad:", x, y, w.grad.item())
            w.data = w.data - 0.01 * w.grad.data  # update through .data: no graph for the update itself
            w.grad.data.zero_()  # otherwise the next backward() adds to this gradient
        p("Epoch: ", epoch, "w=", w, "loss=", l.data)
        l_list.append(l.item())
    p("predict (after training)", 4, forward(4).item())

    fig = figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(range(epochs), l_list, label="loss of the epoch's last sample (x = 3)")
    ax.set_title("Autograd (l.backward()) on y = w x: loss per epoch")
    ax.set_xlabel("epoch (3 updates, one per sample)")
    ax.set_ylabel("loss: squared error (y units squared)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "loss.png")
    return {"w": w.item(), "final_loss": l_list[-1] if l_list else None, "predict_4": forward(4).item(),
            "epochs": epochs}
