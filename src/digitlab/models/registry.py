"""The model registry: @register_model("name", ...) on a factory, get_model(name, **settings), list_models().

This module imports no model family (so families can import it without a circle); `digitlab.models` imports
the families, as torchvision does, which runs their decorators. Each entry declares what the data pipeline must
give it (input size, whether to normalize) and where the architecture comes from, so the CLI choices, `compare`
and the tests are all driven from here. A family's architecture settings (model.hidden, model.channels,
model.layers) are declared here too, with the defaults that give the registered network exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch.nn as nn

from digitlab.errors import ConfigError

if TYPE_CHECKING:
    from digitlab.config import ModelConfig


@dataclass(frozen=True)
class Setting:
    """One architecture setting a family's factory takes as a keyword: model.<key> in the config."""

    key: str  # "hidden" | "channels" | "layers"
    default: tuple[int, ...] | int  # the registered network's own value
    variable: bool = False  # a width list whose length may change (an MLP's depth); else it keeps its length


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable[..., nn.Module]
    input_size: int  # square side in pixels the model expects (28, or 32 for LeNet-5)
    source: str  # where the architecture comes from
    description: str
    normalize: bool = True  # default: the dataset's mean/std normalization
    output: str = "logits"  # "logits" or "log_probs" (models ending in log_softmax)
    settings: tuple[Setting, ...] = ()

    def arch(self, cfg: ModelConfig) -> dict[str, tuple[int, ...] | int]:
        """The factory keywords model.hidden / channels / layers ask for (unset ones: the model's own), each checked:
        a setting this family does not take, or a width list of the wrong length, is a one-line ConfigError."""
        own = {s.key: s for s in self.settings}
        chosen: dict[str, tuple[int, ...] | int] = {}
        for key in ("hidden", "channels", "layers"):
            value = getattr(cfg, key)
            if not value:
                continue
            if key not in own:
                takes = ", ".join(f"model.{k}" for k in own) or "no architecture settings"
                raise ConfigError(f"model '{self.name}' has no model.{key} setting; it takes {takes}")
            default = own[key].default
            if isinstance(default, tuple) and not own[key].variable and len(value) != len(default):
                raise ConfigError(f"model.{key} for '{self.name}' takes {len(default)} width(s) (default "
                                  f"{list(default)}), got {list(value)}")
            chosen[key] = tuple(value) if isinstance(value, tuple) else value
        return chosen


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, input_size: int = 28, source: str, description: str, normalize: bool = True,
                   output: str = "logits", settings: tuple[Setting, ...] = ()) -> Callable:
    """Decorator adding a model factory `f(num_classes=10, **settings) -> nn.Module` to the registry."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is already registered")
        _REGISTRY[name] = ModelSpec(name, factory, input_size, source, description, normalize, output, settings)
        return factory

    return decorate


def model_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}': choose one of {', '.join(list_models())}") from None


def get_model(name: str, num_classes: int = 10, **settings: tuple[int, ...] | int) -> nn.Module:
    """A freshly initialised model by registry name; `settings` (hidden, channels, layers) change its architecture."""
    return model_spec(name).factory(num_classes=num_classes, **settings)


def list_models() -> list[str]:
    return list(_REGISTRY)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


