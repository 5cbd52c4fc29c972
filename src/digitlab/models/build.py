"""Where a model comes from, as one decision: a registry entry with its settings, or the user's own code.

    source_code(cfg, obj=None) -> UserCode | None   the user's file for model.name "file.py:Name" (None: registry)
    traits(cfg, code) -> ModelTraits                input size, output kind, normalization the pipeline must give
    build(cfg, num_classes, code) -> nn.Module       a fresh model (registry factory + settings, or the user's class)
    rebuild(info, source) -> nn.Module               from a checkpoint's CheckpointInfo; recorded code only if trusted

Training, inference and the tools (models show, export, serve) all build through here, so a user's network is
treated exactly like a registered one once it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch.nn as nn

from digitlab.config import ModelConfig
from digitlab.contract import CheckpointInfo, UserCode
from digitlab.errors import CheckpointError, ConfigError
from digitlab.models import trust, user
from digitlab.models.registry import list_models, model_spec


@dataclass(frozen=True)
class ModelTraits:
    """What the data pipeline must feed a model and how to read its output."""

    input_size: int  # square side in pixels
    output: str  # "logits" | "log_probs"
    normalize: bool  # whether the model wants the dataset's mean/std normalization (and data.normalize agrees)


def source_code(cfg: ModelConfig, obj: Callable[..., Any] | None = None,
                recorded: UserCode | None = None) -> UserCode | None:
    """The user's code for this config: `obj` (digitlab.train(config, model=obj)), the code a checkpoint `recorded`
    (a resumed run: the file on disk is never read for it), a "file.py:Name" model.name, or None for a registry model
    (whose name and settings are then checked here)."""
    own = obj is not None or recorded is not None or user.is_user_ref(cfg.name)
    if own and (cfg.hidden or cfg.channels or cfg.layers):
        set_keys = ", ".join(f"model.{k}" for k in ("hidden", "channels", "layers") if getattr(cfg, k))
        raise ConfigError(f"{set_keys}: the built-in families' architecture settings; your own network takes its "
                          "constructor's arguments as model.args.NAME (e.g. --set model.args.hidden=256)")
    if obj is not None:
        return user.code_for_object(obj, cfg.args)
    if recorded is not None:
        return recorded
    if user.is_user_ref(cfg.name):
        return user.read_code(cfg.name, cfg.args)
    if cfg.name.endswith(".py"):
        raise ConfigError(f"model.name '{cfg.name}': write FILE.py:Name, the class or function in your file")
    if cfg.name not in list_models():
        raise ConfigError(f"model.name '{cfg.name}': choose one of {', '.join(list_models())}, or your own "
                          "network as FILE.py:ClassName")
    if cfg.args:
        raise ConfigError(f"model.args is for your own network (--model FILE.py:Name); '{cfg.name}' takes "
                          "model.hidden / model.channels / model.layers (see `digitlab models show NAME`)")
    model_spec(cfg.name).arch(cfg)  # a setting the family does not take, or of the wrong length, is refused now
    return None


def traits(cfg: ModelConfig, code: UserCode | None) -> ModelTraits:
    if code is None:
        spec = model_spec(cfg.name)
        if cfg.input_size and cfg.input_size != spec.input_size:
            raise ConfigError(f"model.input_size {cfg.input_size}: '{cfg.name}' takes {spec.input_size}x"
                              f"{spec.input_size} input (model.input_size is for your own network)")
        return ModelTraits(spec.input_size, spec.output, spec.normalize)
    declared = user.traits_of(code)
    size = cfg.input_size or declared["input_size"] or 28
    return ModelTraits(size, declared["output"] or "logits", declared["normalize"] is not False)


def build(cfg: ModelConfig, num_classes: int, code: UserCode | None) -> nn.Module:
    """A freshly initialised model (the caller seeds torch first)."""
    if code is None:
        spec = model_spec(cfg.name)
        return spec.factory(num_classes=num_classes, **spec.arch(cfg))
    return user.instantiate(code, num_classes)


def rebuild(info: CheckpointInfo, source: str) -> nn.Module:
    """The model a checkpoint describes, untrained: its registry entry, or its recorded code once trusted."""
    if info.code is None:
        if info.model not in list_models():
            raise CheckpointError(f"{source}: model '{info.model}' is not in this digitlab's registry "
                                  f"({', '.join(list_models())})")
        try:  # the checkpoint's own model name (its config's settings): metadata that disagrees does not fit
            return build(replace(info.config.model, name=info.model), info.num_classes, None)
        except ConfigError as exc:
            raise CheckpointError(f"{source}: {exc}") from None
    code = info.code
    if not code.text and user._key(code) not in user._LOADED:
        raise CheckpointError(f"{source}: {code.missing or 'its model code was not recorded'}")
    if code.text:
        trust.require(code, source)
    try:
        return user.instantiate(code, info.num_classes)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: {exc}") from None


def changed_on_disk(code: UserCode) -> str:
    """A note when the file a run was trained from was edited or moved since ("" when it is as recorded)."""
    from pathlib import Path

    if not code.file or not code.text:
        return ""
    path = Path(code.file)
    try:
        same = path.read_text(encoding="utf-8") == code.text
    except (OSError, UnicodeDecodeError):
        return f"{code.file} is gone or unreadable; using the copy of {code.display} recorded in the checkpoint"
    return "" if same else (f"{code.file} has changed since this run was trained; using the copy of {code.display} "
                            "recorded in the checkpoint")
