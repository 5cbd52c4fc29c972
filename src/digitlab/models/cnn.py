"""Convolutional nets: the tutorials' small CNNs and our own fast CNNs.
Input (B, 1, 28, 28) -> logits (B, classes), except cnn-pt which returns log-probabilities like its source.

Every "conv -> ReLU -> max-pool" is computed as "conv -> max-pool -> ReLU": the same numbers, forward and backward,
bit for bit (ReLU is monotone, so the max of the ReLUs is the ReLU of the max, and the gradient reaches the same
element; tests/models/test_pool_relu.py checks it), with ReLU on a quarter of the elements. On a CPU with
channels_last it is also what avoids float32 ReLU backward's slow path on the full-size conv output
(bench/pool_relu.py: 2.8-6x on cnn-fast's first block, float32; docs/benchmarks.md).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from digitlab.models.registry import Setting, register_model


class SmallCNN(nn.Module):
    """Seed 003: conv10 k5 - pool - conv20 k5 - pool - fc 320 -> 10."""

    def __init__(self, num_classes: int = 10, channels: tuple[int, ...] = (10, 20)) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, kernel_size=5)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(c2 * 4 * 4, num_classes)  # 28 -> 24 -> 12 -> 8 -> 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.pooling(self.conv1(x)))  # = pooling(relu(conv1(x))), see the module docstring
        x = F.relu(self.pooling(self.conv2(x)))
        return self.fc(x.flatten(1))


@register_model("cnn-small", source="the PyTorch course's CNN", description="conv10-conv20-fc320",
                settings=(Setting("channels", (10, 20)),))
def cnn_small(num_classes: int = 10, channels: tuple[int, ...] = (10, 20)) -> nn.Module:
    return SmallCNN(num_classes, channels)


class PyTorchExampleNet(nn.Module):
    """pytorch/examples mnist/main.py Net: conv32-conv64-maxpool-dropout-fc128-dropout-fc10, log_softmax."""

    def __init__(self, num_classes: int = 10, channels: tuple[int, ...] = (32, 64),
                 hidden: tuple[int, ...] = (128,)) -> None:
        super().__init__()
        (c1, c2), (h,) = channels, hidden
        self.conv1 = nn.Conv2d(1, c1, 3, 1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(c2 * 12 * 12, h)  # 28 -> 26 -> 24 -> 12
        self.fc2 = nn.Linear(h, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))  # = max_pool2d(relu(conv2(x))), see the module docstring
        x = self.dropout1(x)
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(self.fc2(x), dim=1)


@register_model("cnn-pt", source="pytorch/examples mnist", description="conv32-conv64-fc128 with dropout",
                output="log_probs", settings=(Setting("channels", (32, 64)), Setting("hidden", (128,))))
def cnn_pt(num_classes: int = 10, channels: tuple[int, ...] = (32, 64), hidden: tuple[int, ...] = (128,)) -> nn.Module:
    return PyTorchExampleNet(num_classes, channels, hidden)


class FastNet(nn.Module):
    """Ours, for the fastest 99% on a CPU: conv16 k5 - pool - conv32 k5 - pool - fc128 - fc10, valid convs.

    Shapes: 28 -> 24 -> 12 -> 8 -> 4, so the second conv works on 8x8 maps only. Channel counts are
    multiples of 16 on purpose: oneDNN's CPU kernels block channels by 8/16, and 24 or 32 first-layer
    channels measured 2x slower per epoch here than 16 (docs/benchmarks.md).
    """

    def __init__(self, num_classes: int = 10, c1: int = 16, c2: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))  # = max_pool2d(relu(conv1(x))), see the module docstring
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def _conv_settings(channels: tuple[int, int], hidden: int) -> tuple[Setting, ...]:
    return Setting("channels", channels), Setting("hidden", (hidden,))


@register_model("cnn-fast", source="digitlab", description="conv16-conv32-fc128, valid convs: the fastest 99%",
                settings=_conv_settings((16, 32), 128))
def cnn_fast(num_classes: int = 10, channels: tuple[int, ...] = (16, 32), hidden: tuple[int, ...] = (128,)) -> nn.Module:
    return FastNet(num_classes, c1=channels[0], c2=channels[1], hidden=hidden[0])


@register_model("cnn-wide", source="digitlab", description="conv16-conv64-fc256, valid convs: 99.5% in minutes",
                settings=_conv_settings((16, 64), 256))
def cnn_wide(num_classes: int = 10, channels: tuple[int, ...] = (16, 64), hidden: tuple[int, ...] = (256,)) -> nn.Module:
    return FastNet(num_classes, c1=channels[0], c2=channels[1], hidden=hidden[0])
