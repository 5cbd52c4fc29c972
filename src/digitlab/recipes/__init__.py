"""Recipes: one TOML file per tutorial (and our own), each with its source and the accuracy it reports.

A recipe file has a [recipe] table (name, source, expected_acc, floor_acc, description) and config
sections ([data], [model], [loss], [optim], [schedule], [train]) on top of the defaults.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from digitlab import config as cfgmod
from digitlab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str
    description: str
    expected_acc: float | None  # what the tutorial reports (or our measured anchor), percent
    floor_acc: float | None  # the least a full run must reach to count as reproduced
    config: cfgmod.Config


def _files() -> dict[str, str]:
    folder = resources.files(__package__)
    return {p.name[:-5]: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name.endswith(".toml")}


def list_recipes() -> list[Recipe]:
    return [load_recipe(name) for name in sorted(_files(), key=_order)]


DEFAULT_RECIPE = "quickstart"
ORDER = ["quickstart", "quickstart-deep", "lenet5", "mlp-sgd", "mlp-5layer", "cnn-small", "rnn", "lstm", "gru",
         "pytorch-example", "strong", "fast", "best", "fine-tune"]


def _order(name: str) -> tuple[int, str]:
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def recipe_names() -> list[str]:
    return sorted(_files(), key=_order)


def resolve_config(recipe: str | None = None, config_file: str | Path | None = None,
                   values: dict[str, Any] | None = None, overrides: list[str] | None = None) -> cfgmod.Config:
    """defaults <- recipe TOML (default quickstart) <- --config FILE <- typed option values <- --set key=value."""
    config = load_recipe(recipe or DEFAULT_RECIPE).config
    if config_file is not None:
        config = cfgmod.from_dict(cfgmod.load_toml(config_file), str(config_file), base=config)
    config = cfgmod.with_values(config, values or {}, origin="option")
    return cfgmod.with_overrides(config, overrides)


def load_recipe(name: str) -> Recipe:
    files = _files()
    if name not in files:
        raise ConfigError(f"unknown recipe '{name}': choose one of {', '.join(recipe_names())}")
    raw = tomllib.loads(files[name])
    meta = raw.get("recipe", {})
    config = cfgmod.from_dict(raw, origin=f"recipe {name}")
    config = replace(config, recipe=name)
    return Recipe(name, meta.get("source", ""), meta.get("description", ""), meta.get("expected_acc"),
                  meta.get("floor_acc"), config)
