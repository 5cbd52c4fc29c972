"""Recurrent nets for MNIST: `rnn`, `lstm` and `gru` read an image as a sequence of rows.

The usual sequence view of MNIST (seed 003's last chapter applies RNNs to text; this is the same machinery on
digits): a (B, 1, 28, 28) image is 28 time steps, one per row, each a vector of 28 pixels. The recurrent layer
runs over the rows top to bottom and the hidden state after the last row goes through one linear layer to the
class logits. Input (B, 1, H, W) -> logits (B, classes); H and W are whatever the data gives (28 for MNIST).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.models.registry import Setting, register_model

# The recurrent layer per cell type: a registry, not an if-ladder.
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RowRNN(nn.Module):
    """28 rows of 28 pixels -> `cell` (batch_first) -> last hidden state -> linear -> logits."""

    def __init__(self, cell: str, num_classes: int = 10, row_size: int = 28, hidden_size: int = 128,
                 num_layers: int = 1) -> None:
        super().__init__()
        self.rnn = CELLS[cell](input_size=row_size, hidden_size=hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, H, C*W): each row is one time step of C*W features (C = 1 for MNIST).
        # permute + reshape also copes with channels_last tensors, whose memory order is (B, H, W, C).
        seq = x.permute(0, 2, 1, 3).reshape(x.size(0), x.size(2), x.size(1) * x.size(3))
        out, _ = self.rnn(seq)  # out: (B, H, hidden), the hidden state after every row
        return self.fc(out[:, -1])  # the state after the last row sums up the whole image


RNN_SETTINGS = (Setting("hidden", (128,)), Setting("layers", 1))  # model.hidden = [size], model.layers


@register_model("rnn", source="digitlab (the PyTorch course's RNN chapter, on MNIST rows)",
                description="tanh RNN over 28 rows, hidden 128, last state -> fc", settings=RNN_SETTINGS)
def rnn(num_classes: int = 10, hidden: tuple[int, ...] = (128,), layers: int = 1) -> nn.Module:
    return RowRNN("rnn", num_classes, hidden_size=hidden[0], num_layers=layers)


@register_model("lstm", source="digitlab (the PyTorch course's RNN chapter, on MNIST rows)",
                description="LSTM over 28 rows, hidden 128, last state -> fc", settings=RNN_SETTINGS)
def lstm(num_classes: int = 10, hidden: tuple[int, ...] = (128,), layers: int = 1) -> nn.Module:
    return RowRNN("lstm", num_classes, hidden_size=hidden[0], num_layers=layers)


@register_model("gru", source="digitlab (the PyTorch course's RNN chapter, on MNIST rows)",
                description="GRU over 28 rows, hidden 128, last state -> fc", settings=RNN_SETTINGS)
def gru(num_classes: int = 10, hidden: tuple[int, ...] = (128,), layers: int = 1) -> nn.Module:
    return RowRNN("gru", num_classes, hidden_size=hidden[0], num_layers=layers)
