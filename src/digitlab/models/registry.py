"""The model registry: @register_model("name", ...) on a factory, get_model(name), list_models().

This module imports no model family (so families can import it without a circle); `digitlab.models` imports
the families, as torchvision does, which runs their decorators. Each entry declares what the data pipeline must
give it (input size, whether to normalize) and where the architecture comes from, so the CLI choices, `compare`
and the tests are all driven from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from digitlab.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[..., nn.Module]
    input_size: int  # square side in pixels the model expects (28, or 32 for LeNet-5)
    source: str  # where the architecture comes from
    description: str
    normalize: bool = True  # default: the dataset's mean/std normalization
    output: str = "logits"  # "logits" or "log_probs" (models ending in log_softmax)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, input_size: int = 28, source: str, description: str, normalize: bool = True,
                   output: str = "logits") -> Callable:
    """Decorator adding a model factory `f(num_classes=10) -> nn.Module` to the registry."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is already registered")
        _REGISTRY[name] = ModelSpec(name, factory, input_size, source, description, normalize, output)
        return factory

    return decorate


def model_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}': choose one of {', '.join(list_models())}") from None


def get_model(name: str, num_classes: int = 10) -> nn.Module:
    """A freshly initialised model by registry name."""
    return model_spec(name).factory(num_classes=num_classes)


def list_models() -> list[str]:
    return list(_REGISTRY)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


