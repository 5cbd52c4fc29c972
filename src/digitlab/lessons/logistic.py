"""Lesson `logistic` (seed 003, section 6 "逻辑斯蒂回归"): pass or fail from hours of study.

x = hours [1, 2, 3], y = [0, 0, 1] (failed, failed, passed). The model is `Linear(1, 1)` followed by the
sigmoid, which squeezes w x + b into a probability in (0, 1); the loss is the binary cross-entropy summed over
the samples (the course's `BCELoss(size_average=False)`); SGD lr 0.01, 1000 epochs. Plots the probability of
passing over 0..10 hours with the 0.5 line: it crosses 0.5 between 2 and 3 hours, so x = 4 passes, x = 1 fails.
"""

from __future__ import annotations

import numpy as np
import torch

from digitlab.lessons.base import Board, figure


class LogisticRegressionModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x):
        y_pred = torch.sigmoid(self.linear(x))  # a probability: P(y = 1 | x)
        return y_pred


def run(board: Board, epochs: int = 1000) -> dict:
    p = board.print
    device = board.device
    # prepare dataset
    x_data = torch.tensor([[1.0], [2.0], [3.0]], device=device)
    y_data = torch.tensor([[0.0], [0.0], [1.0]], device=device)

    model = LogisticRegressionModel().to(device)
    # 默认情况下,loss会基于element平均; size_average=False (reduction="sum") adds the samples' losses up
    criterion = torch.nn.BCELoss(reduction="sum")
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

    # The course's picture: the probability of passing for 0..10 hours of study, and the 0.5 line.
    x = np.linspace(0, 10, 200)
    with torch.no_grad():
        x_t = torch.tensor(x, dtype=torch.float32, device=device).view((200, 1))
        y = model(x_t).cpu().numpy().ravel()
        p1, p4 = (model(torch.tensor([[h]], device=device)).item() for h in (1.0, 4.0))
    w, b = model.linear.weight.item(), model.linear.bias.item()
    boundary = -b / w if w else None  # where w x + b = 0, i.e. the probability is exactly 0.5
    p(f"P(pass | 1 hour) = {p1:.4f}, P(pass | 4 hours) = {p4:.4f}, 0.5 crossed at {boundary:.3f} hours"
      if boundary is not None else f"P(pass | 1 hour) = {p1:.4f}, P(pass | 4 hours) = {p4:.4f}")

    fig = figure(figsize=(10, 4))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(x, y, label="P(pass), the model")
    ax.plot([0, 10], [0.5, 0.5], c="r", label="0.5: pass / fail")
    ax.scatter([1, 2, 3], [0, 0, 1], color="black", zorder=3, label="training samples")
    ax.set_title("Logistic regression: probability of passing")
    ax.set_xlabel("Hours of study (h)")
    ax.set_ylabel("Probability of Pass")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.plot(range(epochs), loss_list, label="BCE summed over 3 samples (SGD, lr 0.01)")
    ax2.set_title("Loss per epoch")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("binary cross-entropy (nats)")
    ax2.legend()
    ax2.grid(alpha=0.3)
    board.save(fig, "probability.png")
    return {"w": w, "b": b, "p_pass_1h": p1, "p_pass_4h": p4, "boundary_hours": boundary,
            "final_loss": loss_list[-1] if loss_list else None, "epochs": epochs}
