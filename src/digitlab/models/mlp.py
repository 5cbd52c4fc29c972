"""Multilayer perceptrons from the tutorials. Input (B, 1, 28, 28) -> logits (B, classes)."""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.models.registry import Setting, register_model


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


def _hidden(default: tuple[int, ...]) -> tuple[Setting, ...]:
    return (Setting("hidden", default, variable=True),)  # model.hidden: any number of hidden layers


@register_model("mlp", source="the MindSpore quick start's Network", description="784-512-512-10 MLP",
                settings=_hidden((512, 512)))
def mlp(num_classes: int = 10, hidden: tuple[int, ...] = (512, 512)) -> nn.Module:
    return DenseReluNet([784, *hidden, num_classes])


@register_model("mlp-deep", source="the MindSpore quick start's Network_new", description="784-512-1024-512-128-10 MLP",
                settings=_hidden((512, 1024, 512, 128)))
def mlp_deep(num_classes: int = 10, hidden: tuple[int, ...] = (512, 1024, 512, 128)) -> nn.Module:
    return DenseReluNet([784, *hidden, num_classes])


@register_model("mlp-256", source="the torchvision MLP script (its recipe sets model.init = normal, std 0.01)",
                description="784-512-256-10 MLP", normalize=False, settings=_hidden((512, 256)))
def mlp_256(num_classes: int = 10, hidden: tuple[int, ...] = (512, 256)) -> nn.Module:
    return DenseReluNet([784, *hidden, num_classes])


class FiveLayerNet(nn.Module):
    """The PyTorch course's Net: l1..l5 (one more per extra hidden width) with ReLU between."""

    def __init__(self, num_classes: int = 10, hidden: tuple[int, ...] = (512, 256, 128, 64)) -> None:
        super().__init__()
        widths = [784, *hidden, num_classes]
        self.depth = len(widths) - 1
        for i in range(self.depth):  # the course's names: l1, l2, ...
            setattr(self, f"l{i + 1}", nn.Linear(widths[i], widths[i + 1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 784)
        for i in range(1, self.depth):
            x = torch.relu(getattr(self, f"l{i}")(x))
        return getattr(self, f"l{self.depth}")(x)


@register_model("mlp-5", source="the PyTorch course's 5-layer Net", description="784-512-256-128-64-10 MLP",
                settings=_hidden((512, 256, 128, 64)))
def mlp_5(num_classes: int = 10, hidden: tuple[int, ...] = (512, 256, 128, 64)) -> nn.Module:
    return FiveLayerNet(num_classes, hidden)
