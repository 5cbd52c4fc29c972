"""Weight initialisation as a model setting (model.init, model.init_std, model.init_bias).

Applied to every Linear and Conv layer after the model is built, in module order, so a seeded run is reproducible.
"default" leaves each layer as its family builds it (PyTorch's own init, or what the tutorial's framework did, e.g.
LeNet-5's MindSpore-style init). Seed 004's `nn.init.normal_(m.weight, std=0.01)` is init = "normal", init_std = 0.01.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn


def _normal(weight, std: float) -> None:
    nn.init.normal_(weight, mean=0.0, std=std)


def _xavier(weight, std: float) -> None:  # Glorot & Bengio: keeps activation variance for tanh/linear layers
    nn.init.xavier_uniform_(weight)


def _kaiming(weight, std: float) -> None:  # He et al.: keeps activation variance through ReLU layers
    nn.init.kaiming_normal_(weight, nonlinearity="relu")


INITS: dict[str, Callable | None] = {"default": None, "normal": _normal, "xavier": _xavier, "kaiming": _kaiming}


def init_weights(model: nn.Module, init: str = "default", std: float = 0.01, bias: str = "default") -> nn.Module:
    """Re-initialise Linear/Conv weights (and optionally zero their biases) in place; returns the model."""
    fn = INITS[init]
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            if fn is not None:
                fn(layer.weight, std)
            if bias == "zero" and layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return model
