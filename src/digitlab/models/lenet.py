"""LeNet-5 as MindSpore's LeNet5 sample writes it. Input (B, 1, 32, 32) -> logits (B, classes).

MindSpore's Conv2d has no bias by default (has_bias=False) and the sample initialises the dense layers
with Normal(0.02) and zero bias; we keep both, so MindSpore checkpoints import name for name.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.models.registry import Setting, register_model


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, num_channel: int = 1, channels: tuple[int, ...] = (6, 16),
                 hidden: tuple[int, ...] = (120, 84)) -> None:
        super().__init__()
        (c1, c2), (h1, h2) = channels, hidden
        self.conv1 = nn.Conv2d(num_channel, c1, 5, bias=False)  # 32 -> 28
        self.conv2 = nn.Conv2d(c1, c2, 5, bias=False)  # 14 -> 10
        self.fc1 = nn.Linear(c2 * 5 * 5, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, num_classes)
        self.relu = nn.ReLU()
        self.max_pool2d = nn.MaxPool2d(kernel_size=2, stride=2)
        for fc in (self.fc1, self.fc2, self.fc3):
            nn.init.normal_(fc.weight, std=0.02)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the sample's conv -> relu -> max_pool, computed as conv -> max_pool -> relu: the same numbers bit for bit
        # (models/cnn.py's docstring says why), with ReLU on a quarter of the elements
        x = self.relu(self.max_pool2d(self.conv1(x)))
        x = self.relu(self.max_pool2d(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


@register_model("lenet5", input_size=32, source="MindSpore's LeNet5 sample",
                description="conv6-conv16-fc120-fc84-fc10 on 32x32",
                settings=(Setting("channels", (6, 16)), Setting("hidden", (120, 84))))
def lenet5(num_classes: int = 10, channels: tuple[int, ...] = (6, 16), hidden: tuple[int, ...] = (120, 84)) -> nn.Module:
    return LeNet5(num_classes, channels=channels, hidden=hidden)
