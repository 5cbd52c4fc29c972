"""Lesson `linear-nn` (seed 003, sections 5-6, the course's "Linear Regression with PyTorch"): y = w x + b as
an nn.Module. The four steps every later network follows: prepare the data as tensors, design the model
(`torch.nn.Linear(1, 1)` holds w and b), build the loss (MSE summed over samples, the course's
`size_average=False`) and the optimizer (SGD, lr 0.01), then loop forward, backward, update (1000 epochs).
Prints the loss per epoch, the learned w and b, and the prediction for x = 4 (close to 8).
"""

from __future__ import annotations

import torch

from digitlab.lessons.base import Board, figure


class LinearModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)  # one input, one output: y = w x + b

    def forward(self, x):
        return self.linear(x)


def run(board: Board, epochs: int = 1000) -> dict:
    p = board.print
    device = board.device
    # prepare dataset: (3, 1) columns, one sample per row
    x_data = torch.tensor([[1.0], [2.0], [3.0]], device=device)
    y_data = torch.tensor([[2.0], [4.0], [6.0]], device=device)

    model = LinearModel().to(device)
    criterion = torch.nn.MSELoss(reduction="sum")  # the course's size_average=False
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    loss_list = []
    for epoch in range(epochs):
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        p(epoch, loss.item())
        loss_list.append(loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    p("w = ", model.linear.weight.item())
    p("b = ", model.linear.bias.item())
    x_test = torch.tensor([[4.0]], device=device)
    y_test = model(x_test)
    p("y_pred = ", y_test.data)

    fig = figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(range(epochs), loss_list, label="MSE summed over 3 samples (SGD, lr 0.01)")
    ax.set_title("torch.nn.Linear(1, 1) learning y = 2 x: loss per epoch")
    ax.set_xlabel("epoch (one update using all 3 samples)")
    ax.set_ylabel("loss (y units squared)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "loss.png")
    return {"w": model.linear.weight.item(), "b": model.linear.bias.item(), "predict_4": y_test.item(),
            "final_loss": loss_list[-1] if loss_list else None, "epochs": epochs}
