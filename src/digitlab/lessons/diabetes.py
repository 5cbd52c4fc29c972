"""Lesson `diabetes` (seed 003, sections 7 "多维数据处理" and 8 "加载数据集"): a small network on a table.

Each row is one patient: 8 numbers (pregnancies, glucose, blood pressure, skin fold, insulin, BMI, pedigree,
age) and a label (1 = diabetes). The network maps 8 -> 6 -> 4 -> 1 with a sigmoid after every layer
(torch.nn.Sigmoid used as a layer, not a function), so the output is a probability; the loss is the mean
binary cross-entropy. Part 1 trains on the whole table at once (full batch, SGD lr 0.1, 100 epochs). Part 2
does it the `Dataset`/`DataLoader` way: mini-batches of 32, shuffled every epoch, SGD lr 0.01, 100 epochs.
The data: your own CSV (`--csv`), else a verified packaged copy of the Pima data (see diabetes_data.py).
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset

from digitlab.lessons.base import Board, figure
from digitlab.lessons.diabetes_data import COURSE_FEATURES, DiabetesTable, load_csv, load_packaged


class DiabetesDataset(Dataset):
    """The course's Dataset: __init__ loads the table, __getitem__ gives one row, __len__ the row count."""

    def __init__(self, table: DiabetesTable):
        self.len = table.x.shape[0]  # shape(多少行,多少列)
        self.x_data = torch.from_numpy(table.x)
        self.y_data = torch.from_numpy(table.y)

    def __getitem__(self, index):
        return self.x_data[index], self.y_data[index]

    def __len__(self):
        return self.len


class Model(torch.nn.Module):
    def __init__(self, features: int = 8):
        super().__init__()
        self.linear1 = torch.nn.Linear(features, 6)  # 输入数据x的特征是8维: 8 features in (or your CSV's count)
        self.linear2 = torch.nn.Linear(6, 4)
        self.linear3 = torch.nn.Linear(4, 1)
        self.sigmoid = torch.nn.Sigmoid()  # 将其看作是网络的一层: a layer, not just a function

    def forward(self, x):
        x = self.sigmoid(self.linear1(x))
        x = self.sigmoid(self.linear2(x))
        x = self.sigmoid(self.linear3(x))  # y hat: P(diabetes)
        return x


def accuracy(model: Model, x: torch.Tensor, y: torch.Tensor) -> float:
    """Percent of rows whose probability falls on the right side of 0.5."""
    with torch.no_grad():
        return 100.0 * ((model(x) > 0.5).float() == y).float().mean().item()


def run(board: Board, csv: str | None = None, epochs: int = 100) -> dict:
    p = board.print
    device = board.device
    table = load_csv(csv) if csv else load_packaged()
    p(f"data: {table.source}")
    p(f"      {table.path} (sha256 {table.sha256[:16]}...), {table.x.shape[0]} rows, {table.features} features"
      + (", scaled per column to [-1, 1] like the course's file" if table.scaled else ", used as it is"))
    if table.features != COURSE_FEATURES:
        p(f"WARNING: this table has {table.features} feature columns, the course's has {COURSE_FEATURES}: "
          f"the first layer is Linear({table.features}, 6) instead of Linear({COURSE_FEATURES}, 6)")
    if not table.scaled and abs(table.x).max() > 1.5:
        p("note: the features are not scaled (the course's file is scaled to [-1, 1]); sigmoid layers learn "
          "slowly on large raw values")
    positives = float(table.y.mean())
    majority = 100.0 * max(positives, 1 - positives)
    # A model that ignores the features and always answers the base rate q has loss -(q ln q + (1-q) ln (1-q)):
    # a loss below that line means the network has learned something from the features.
    base_loss = -(positives * math.log(positives) + (1 - positives) * math.log(1 - positives)) if 0 < positives < 1 else 0.0
    p(f"      {100 * positives:.1f}% of rows are labelled 1; always answering the majority class scores "
      f"{majority:.1f}%, always answering {positives:.3f} has loss {base_loss:.4f}")

    # ---- part 1: the whole table as one batch (section 7)
    p("")
    p(f"part 1: full batch, SGD lr 0.1, {epochs} epochs")
    x_data = torch.from_numpy(table.x).to(device)  # 第一个':'是指读取所有行 ... 最后一列不要
    y_data = torch.from_numpy(table.y).to(device)  # [-1] 最后得到的是个矩阵: (N, 1), not (N,)
    model = Model(table.features).to(device)
    criterion = torch.nn.BCELoss(reduction="mean")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    epoch_list, loss_list = [], []
    for epoch in range(epochs):
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        p(epoch, loss.item())
        epoch_list.append(epoch)
        loss_list.append(loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    acc_full = accuracy(model, x_data, y_data)
    p(f"part 1: loss {loss_list[0]:.4f} -> {loss_list[-1]:.4f}, accuracy on the table {acc_full:.1f}%")

    # ---- part 2: Dataset + DataLoader, mini-batches of 32, shuffled (section 8)
    p("")
    p(f"part 2: DataLoader(batch_size=32, shuffle=True), SGD lr 0.01, {epochs} epochs")
    dataset = DiabetesDataset(table)
    train_loader = DataLoader(dataset=dataset, batch_size=32, shuffle=True, num_workers=0)
    model2 = Model(table.features).to(device)
    optimizer2 = torch.optim.SGD(model2.parameters(), lr=0.01)
    epoch_mean = []  # mean batch loss per epoch, for the plot
    for epoch in range(epochs):
        total, batches = 0.0, 0
        for i, data in enumerate(train_loader, 0):  # train_loader 是先shuffle后mini_batch
            inputs, labels = (t.to(device) for t in data)
            y_pred = model2(inputs)
            loss = criterion(y_pred, labels)
            p(epoch, i, loss.item())

            optimizer2.zero_grad()
            loss.backward()
            optimizer2.step()
            total, batches = total + loss.item(), batches + 1
        epoch_mean.append(total / max(batches, 1))
    acc_batch = accuracy(model2, x_data, y_data)
    p(f"part 2: mean batch loss {epoch_mean[0]:.4f} (epoch 0) -> {epoch_mean[-1]:.4f} (epoch {epochs - 1}), "
      f"accuracy on the table {acc_batch:.1f}%")

    fig = figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.plot(epoch_list, loss_list, label="part 1: full batch, SGD lr 0.1")
    ax.plot(range(epochs), epoch_mean, label="part 2: DataLoader batch 32, SGD lr 0.01 (mean per epoch)")
    ax.axhline(base_loss, color="gray", linestyle="--", label=f"always answering the base rate {positives:.3f}")
    ax.set_title(f"Diabetes, {table.features}-6-4-1 sigmoid network: loss per epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss: binary cross-entropy (nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    board.save(fig, "loss.png")
    return {"source": table.source, "path": table.path, "sha256": table.sha256, "rows": int(table.x.shape[0]),
            "features": table.features, "scaled": table.scaled, "majority_acc": majority, "base_rate_loss": base_loss,
            "full_batch": {"first_loss": loss_list[0], "last_loss": loss_list[-1], "accuracy": acc_full},
            "mini_batch": {"first_loss": epoch_mean[0], "last_loss": epoch_mean[-1], "accuracy": acc_batch},
            "epochs": epochs}
