"""The MindSpore quick start's `Network`, ported to PyTorch: train it with

    digitlab train --model examples/quickstart_network.py:Network

Each MindSpore name has its PyTorch twin (docs/own-network.md has the whole table): nn.Cell -> nn.Module,
construct -> forward, nn.Dense -> nn.Linear, nn.SequentialCell -> nn.Sequential. The attribute names are the
quick start's, so its parameters carry the names of the quick start's checkpoint (dense_relu_sequential.0.weight...).
"""

import torch
import torch.nn as nn


class Network(nn.Module):
    # What digitlab must feed it (these are the defaults, written out to show where they go):
    input_size = 28  # 28x28 images; a LeNet-style network would say 32
    normalize = True  # the dataset's mean/std normalization

    def __init__(self, num_classes: int = 10, hidden: int = 512) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.dense_relu_sequential = nn.Sequential(
            nn.Linear(28 * 28, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) -> (N, num_classes) logits
        x = self.flatten(x)
        logits = self.dense_relu_sequential(x)
        return logits
