"""Multilayer perceptrons from the tutorials. Input (B, 1, 28, 28) -> logits (B, classes)."""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.models.registry import register_model


class DenseReluNet(nn.Module):
    """Flatten then Linear/ReLU layers. The attribute name `dense_relu_sequential` matches MindSpore's
    quick start `Network`, so its checkpoint parameter names map one to one."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.dense_relu_sequential = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_relu_sequential(self.flatten(x))


@register_model("mlp", source="seed 000: MindSpore quick start Network", description="784-512-512-10 MLP")
def mlp(num_classes: int = 10) -> nn.Module:
    return DenseReluNet([784, 512, 512, num_classes])


@register_model("mlp-deep", source="seed 001: Network_new", description="784-512-1024-512-128-10 MLP")
def mlp_deep(num_classes: int = 10) -> nn.Module:
    return DenseReluNet([784, 512, 1024, 512, 128, num_classes])


@register_model("mlp-256", source="seed 004: torchvision MLP (its recipe sets model.init = normal, std 0.01)",
                description="784-512-256-10 MLP", normalize=False)
def mlp_256(num_classes: int = 10) -> nn.Module:
    return DenseReluNet([784, 512, 256, num_classes])


class FiveLayerNet(nn.Module):
    """Seed 003's Net: l1..l5 with ReLU between."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.l1, self.l2 = nn.Linear(784, 512), nn.Linear(512, 256)
        self.l3, self.l4 = nn.Linear(256, 128), nn.Linear(128, 64)
        self.l5 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 784)
        for layer in (self.l1, self.l2, self.l3, self.l4):
            x = torch.relu(layer(x))
        return self.l5(x)


@register_model("mlp-5", source="seed 003: PyTorch notes, 5-layer Net", description="784-512-256-128-64-10 MLP")
def mlp_5(num_classes: int = 10) -> nn.Module:
    return FiveLayerNet(num_classes)
