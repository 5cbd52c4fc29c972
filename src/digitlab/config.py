"""Configuration: frozen dataclasses; defaults <- recipe TOML <- --set key=value. Unknown keys are rejected.
(The range checks of every value are digitlab.ranges.validate, re-exported here as config.validate.)

A config is a tree of sections (data, model, loss, optim, schedule, train). Keys are addressed as
"section.key" (e.g. optim.lr) or, where unambiguous, by the bare key (lr). The resolved config is written
into every run folder as config.toml and is all that's needed to rebuild the run.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import tomli_w

from digitlab.errors import ConfigError
from digitlab.io import read_limited

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"
    data_dir: str = ""  # "" = search $DIGITLAB_DATA, the cache, /usr/share/datasets
    strict: bool = False  # refuse the offline-sample fallback
    normalize: bool = True  # (x/255 - mean) / std with the dataset's statistics
    resize: int = 0  # 0 = the model's input size
    pad: int = 0
    shuffle: bool = True
    drop_last: bool = False
    val_size: int = 0  # examples carved from train for validation (0 = none)
    classes: tuple[int, ...] = ()  # keep only these classes (empty = all)
    limit: int = 0  # keep only the first N training examples (0 = all)
    augment_shift: float = 0.0  # random translation, pixels
    augment_rotate: float = 0.0  # random rotation, degrees
    augment_scale: float = 0.0  # random zoom, fraction
    eval_batch_size: int = 1000
    # folder / csv datasets without their own test split: the fraction carved off (seeded, stratified) as test
    test_size: float = 0.2


@dataclass(frozen=True)
class ModelConfig:
    name: str = "mlp"  # a registry name, or your own: "path/to/my_net.py:Network" / "package.module:Network"
    args: dict[str, Any] = field(default_factory=dict)  # your own model's constructor arguments (model.args.NAME)
    input_size: int = 0  # your own model's input side in pixels: 0 = its `input_size` attribute, else 28
    # architecture settings of the built-in families (() / 0 = the model's own, today's exact network):
    hidden: tuple[int, ...] = ()  # mlp: each hidden Linear's width; conv: the dense layers'; rnn: [hidden size]
    channels: tuple[int, ...] = ()  # conv families: each conv layer's output channels
    layers: int = 0  # recurrent families: stacked recurrent layers
    init: str = "default"  # weights of Linear/Conv layers: default (the model's own) | normal | xavier | kaiming
    init_std: float = 0.01  # std of init = "normal" (seed 004: normal(0, 0.01))
    init_bias: str = "default"  # biases: default (the model's own) | zero


@dataclass(frozen=True)
class LossConfig:
    name: str = "ce"  # ce | nll | softmax-ce | mse
    label_smoothing: float = 0.0
    reduction: str = "mean"  # mean | sum
    class_weights: tuple[float, ...] = ()
    ignore_index: int = -100


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | momentum | adam | adamw | adadelta
    lr: float = 0.01
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 0.0  # 0 = the optimizer's own default (Adam/AdamW 1e-8, Adadelta 1e-6)
    rho: float = 0.9  # Adadelta
    grad_clip: float = 0.0  # max global grad norm (0 = off)


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "constant"  # constant | step | cosine | onecycle | linear
    warmup_steps: int = 0  # linear warm-up from 0, before any schedule
    step_size: int = 1  # step: epochs between decays
    gamma: float = 0.1  # step: decay factor
    min_lr_ratio: float = 0.0  # cosine/linear/onecycle: final lr as a fraction of the peak
    pct_start: float = 0.25  # onecycle: fraction of steps spent rising


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # CPU threads for torch (0 = $OMP_NUM_THREADS if set, else torch's default)
    max_steps: int = 0  # stop after this many optimizer steps in total (0 = no limit; for smoke runs)
    log_every: int = 100  # steps between printed/logged losses (the tutorials' cadence)
    log_format: str = "batch"  # batch: seed 000's "loss: 0.293846  [  0/938]" at batches 0, N, 2N, ...;
    # running-mean: seed 003's "[1,  300] loss: 0.412", the mean of the last N batches, after batches N, 2N, ...
    ckpt_every: int = 0  # steps between resume checkpoints within an epoch (0 = only at epoch ends)
    eval_every_epoch: bool = True
    tta: bool = False  # test-time augmentation at evaluation (mean of the image and its shifted copies)
    channels_last: bool = False  # NHWC memory format for conv nets (faster oneDNN / cuDNN kernels)
    # bfloat16 autocast for the forward pass where the device computes bf16 natively (CPU with AVX512-BF16/AMX,
    # CUDA with bf16), else float32 and the run says why (device.precision_for); weights stay float32
    amp: bool = False
    compile: bool = False  # torch.compile the training model (pays a compile up front; for long GPU runs)
    # opt-in: SGD's update for each parameter inside backward, as soon as its gradient is ready (CPU, no clipping, no
    # DDP; the same numbers as torch.optim.SGD, 2-8% faster a step; training/inbackward.py). Off: the plain loop
    update_in_backward: bool = False
    target_acc: float = 0.0  # stop at the end of the first epoch whose test accuracy (%) reaches this (0 = off)
    tensorboard: bool = False  # also write TensorBoard scalars and misclassified digits to runs/<name>/tb/
    loss_plot: bool = True  # draw runs/<name>/loss.png at the end (sweeps turn it off: ~2 s a trial on a busy CPU)
    init_from: str = ""  # fine-tune: start from this run's (or checkpoint's) weights ("" = fresh weights)
    freeze: int = 0  # fine-tune: train only the last N layers (modules holding weights); 0 = train them all
    # under torchrun: seconds a process waits for the others (joining the process group, any collective); a node
    # that died or lost its network ends the run on the others after this, with one line (distributed.py)
    dist_timeout: float = 60.0


@dataclass(frozen=True)
class Config:
    recipe: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = ("data", "model", "loss", "optim", "schedule", "train")
MAX_TOML_BYTES = 1024 * 1024  # a config or sweep file: a few KB in practice


def _section_types() -> dict[str, type]:
    hints = get_type_hints(Config)
    return {name: hints[name] for name in SECTIONS}


def valid_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in _section_types().items() for f in fields(cls)]


def _is_number(value: Any, kind: type) -> bool:
    """An int for int (never a bool), an int or float for float."""
    allowed = (int,) if kind is int else (int, float)
    return isinstance(value, allowed) and not isinstance(value, bool)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check/convert a value to the field's type (from its real annotation: get_origin / get_args, never its spelling);
    raise ConfigError naming the key otherwise."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation in (int, float) and _is_number(value, annotation):
        return annotation(value)
    if annotation is str and isinstance(value, str):
        return value
    if origin is tuple and args[0] in (int, float):
        items = value if isinstance(value, (list, tuple)) else [value]
        # an int tuple takes ints only: int(1.5) would silently turn class 1.5 into class 1
        if all(_is_number(v, args[0]) for v in items):
            return tuple(args[0](v) for v in items)
    if origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value) \
                and all(_plain(v) for v in value.values()):
            return dict(value)
        raise ConfigError(f"config key '{key}': {value!r} must be a table of argument names to numbers, strings, "
                          "booleans or lists of them (e.g. --set model.args.hidden=256)")
    kind = annotation.__name__ if isinstance(annotation, type) else str(annotation).replace(", ...", "")
    raise ConfigError(f"config key '{key}': {value!r} is not a valid {kind}")


def _plain(value: Any) -> bool:
    """A value a constructor argument may take from a config: a number, string, bool, or a list of those."""
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value))


def _apply(config: Config, updates: dict[str, dict[str, Any]], origin: str) -> Config:
    sections = _section_types()
    new_sections = {}
    for section, values in updates.items():
        if section not in sections:
            raise ConfigError(f"{origin}: unknown section '{section}': valid sections are {', '.join(SECTIONS)}")
        cls = sections[section]
        hints = get_type_hints(cls)
        current = getattr(config, section)
        changes: dict[str, Any] = {}
        for key, value in values.items():
            table, _, entry = key.partition(".")  # "args.hidden": one entry of a table-valued key (model.args)
            if entry and get_origin(hints.get(table)) is dict:
                merged = {**changes.get(table, getattr(current, table)), entry: value}
                changes[table] = _coerce(f"{section}.{table}", merged, hints[table])
                continue
            if key not in hints:
                raise ConfigError(
                    f"{origin}: unknown key '{section}.{key}'; valid keys: "
                    + ", ".join(f"{section}.{f.name}" for f in fields(cls))
                )
            changes[key] = _coerce(f"{section}.{key}", value, hints[key])
        new_sections[section] = replace(current, **changes)
    return replace(config, **new_sections)


def from_dict(raw: dict[str, Any], origin: str = "config", base: Config | None = None) -> Config:
    """Build a Config from a TOML-shaped dict (sections of keys), on top of `base` (default: defaults)."""
    config = base or Config()
    raw = dict(raw)
    recipe = raw.pop("recipe", None)
    if isinstance(recipe, dict):  # a recipe file's [recipe] table: metadata, not config
        recipe = recipe.get("name", "")
    if recipe is not None:
        config = replace(config, recipe=str(recipe))
    bad = [k for k, v in raw.items() if not isinstance(v, dict)]
    if bad:
        raise ConfigError(f"{origin}: top-level key '{bad[0]}' must be a section like [train]; "
                          f"valid sections are {', '.join(SECTIONS)}")
    return _apply(config, raw, origin)


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: config file not found")
    try:
        return tomllib.loads(read_limited(path, MAX_TOML_BYTES, ConfigError).decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{path}: arrays or tables nested too deeply; a config holds flat [section] tables") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (TOML must be UTF-8)") from None


def parse_override(text: str) -> tuple[str, str, Any]:
    """'optim.lr=0.1' or 'lr=0.1' -> (section, key, value). Values are TOML literals; bare words are strings."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}': write key=value, e.g. --set optim.lr=0.1")
    key, _, raw_value = text.partition("=")
    key, raw_value = key.strip(), raw_value.strip()
    try:
        value = tomllib.loads(f"v = {raw_value}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw_value
    except RecursionError:
        raise ConfigError(f"--set {key}: value nested too deeply") from None
    if "." in key:
        section, _, name = key.partition(".")
        return section, name, value
    owners = [s for s, cls in _section_types().items() if key in {f.name for f in fields(cls)}]
    if len(owners) == 1:
        return owners[0], key, value
    if len(owners) > 1:
        raise ConfigError(f"--set {key}: ambiguous, write one of {', '.join(f'{s}.{key}' for s in owners)}")
    raise ConfigError(f"--set: unknown key '{key}'; valid keys: {', '.join(valid_keys())}")


def override_key(text: str) -> str:
    """The "section.key" an override like 'lr=0.1' or 'optim.lr=0.1' sets."""
    section, key, _ = parse_override(text)
    return f"{section}.{key}"


def diff_keys(a: Config, b: Config) -> list[str]:
    """The "section.key" names whose values differ between two configs."""
    da, db = to_dict(a), to_dict(b)
    return [f"{s}.{k}" for s in SECTIONS for k in da[s] if da[s][k] != db[s].get(k)]


def with_values(config: Config, values: dict[str, Any], origin: str = "option") -> Config:
    """Typed values by "section.key" (e.g. from CLI options), applied without a string round trip; None = not set."""
    updates: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        if value is not None:
            section, _, key = dotted.partition(".")
            updates.setdefault(section, {})[key] = value
    return _apply(config, updates, origin)


def with_overrides(config: Config, overrides: list[str] | None, origin: str = "--set") -> Config:
    updates: dict[str, dict[str, Any]] = {}
    for text in overrides or []:
        section, key, value = parse_override(text)
        updates.setdefault(section, {})[key] = value
    return _apply(config, updates, origin)


def to_dict(config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"recipe": config.recipe}
    for section in SECTIONS:
        out[section] = {k: list(v) if isinstance(v, tuple) else v
                        for k, v in dataclasses.asdict(getattr(config, section)).items()}
    return out


def dumps(config: Config) -> str:
    return tomli_w.dumps(to_dict(config))


from digitlab.ranges import validate  # noqa: E402, F401  (config.validate: the range checks, in their own module)
