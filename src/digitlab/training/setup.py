"""Before a run trains: check the config, prepare the data on the device, and build the Session the loop runs.

    check_config(config)          every value's range and every registry name, before any data loads
    model_source(config, obj)     where the model comes from (registry, or the user's code checked against its
                                  signature) and what it must be fed, before any data loads
    prepare_data(config, device)  the dataset's splits as device-resident TensorLoaders + the Preprocessing
    preflight(...)                one batch through a user's own network before anything is written
    open_session(...)             model, optimizer, schedule, loss, DDP/compile wrapping, state (fresh or resumed)

train() and resume() (training/engine.py) differ only in where the config and the state come from; both build
their Session here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from digitlab import checkpoint, distributed
from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.contract import Preprocessing, UserCode
from digitlab.data.loader import TensorLoader, carve_validation, select
from digitlab.data.sources import Dataset, load_dataset
from digitlab.data.transforms import Augment
from digitlab.device import Precision, precision_for
from digitlab.errors import ConfigError
from digitlab.losses import make_loss
from digitlab.models import build, user
from digitlab.models.build import ModelTraits
from digitlab.models.init import INITS, init_weights
from digitlab.training import finetune
from digitlab.training.book import RunBook
from digitlab.training.inbackward import BackwardSGD, why_not
from digitlab.training.optim import make_optimizer, make_scheduler

# The settings `--resume` may change: how long the run goes on, where it runs, how often it logs and saves.
# Everything else would make the resumed run a different experiment from the one it continues.
RESUME_OVERRIDABLE = ("train.epochs", "train.max_steps", "train.device", "train.log_every", "train.ckpt_every",
                      "train.threads", "data.data_dir", "data.eval_batch_size", "train.dist_timeout")


def check_config(config: Config, code: UserCode | None = None) -> Config:
    """Ranges (config.validate), then names, each by its own registry; raises a one-line ConfigError."""
    from digitlab.data.catalog import DATASETS
    from digitlab.device import DEVICE_CHOICES
    from digitlab.losses import LOSSES
    from digitlab.training.optim import OPTIMIZERS, SCHEDULES

    cfgmod.validate(config)
    build.source_code(config.model, recorded=code)  # a registry name + settings, or a user's file (not run yet)
    for key, name, registry in (("data.dataset", config.data.dataset, DATASETS),
                                ("loss.name", config.loss.name, LOSSES), ("optim.name", config.optim.name, OPTIMIZERS),
                                ("schedule.name", config.schedule.name, SCHEDULES)):
        if name not in registry:
            raise ConfigError(f"{key} '{name}': choose one of {', '.join(registry)}")
    n_classes = len(DATASETS[config.data.dataset].classes)  # 0: named by the data itself (a folder's classes)
    if n_classes and config.loss.class_weights and len(config.loss.class_weights) != n_classes:
        raise ConfigError(f"loss.class_weights has {len(config.loss.class_weights)} weights; {config.data.dataset} has "
                          f"{n_classes} classes: give one weight per class")
    if n_classes and any(c >= n_classes for c in config.data.classes):
        raise ConfigError(f"data.classes {list(config.data.classes)}: {config.data.dataset} has classes 0..{n_classes - 1}")
    if config.model.init not in INITS:
        raise ConfigError(f"model.init '{config.model.init}': choose one of {', '.join(INITS)}")
    if config.model.init_bias not in ("default", "zero"):
        raise ConfigError(f"model.init_bias '{config.model.init_bias}': choose default or zero")
    make_loss(config.loss)  # a loss that refuses its settings (e.g. softmax-ce with weights) says so now
    if config.train.device.split(":")[0] not in DEVICE_CHOICES:
        raise ConfigError(f"train.device '{config.train.device}': choose one of {', '.join(DEVICE_CHOICES)}")
    return config


@dataclass(frozen=True)
class ModelSource:
    """Where this run's model comes from: `code` is None for a registry model; `traits` say what it must be fed."""

    code: UserCode | None
    traits: ModelTraits


def model_source(config: Config, obj=None, recorded: UserCode | None = None) -> ModelSource:
    """The model's origin, checked before any data loads: a user's file is loaded (executed: it is the user's own,
    named on their command line, or code a checkpoint `recorded` that the caller had trusted) and model.args checked
    against its signature."""
    from digitlab.data.catalog import DATASETS

    code = build.source_code(config.model, obj, recorded)
    if code is not None:
        user.call_arguments(user.load_callable(code), code, len(DATASETS[config.data.dataset].classes))
    return ModelSource(code, build.traits(config.model, code))


def preflight(config: Config, source: ModelSource, data: Prepared) -> None:
    """A user's network meets one batch of real training images, of the run's batch size, in training mode, before the
    run folder exists: a constructor or a forward that raises, a wrong output shape, no parameters or NaN outputs are
    one line naming their file and line. The model is a throwaway (open_session seeds and builds the real one)."""
    if source.code is None:
        return
    torch.manual_seed(config.train.seed)
    model = build.build(config.model, len(data.preprocessing.classes), source.code).to(data.train.images.device)
    batch = data.train.images[: min(config.train.batch_size, len(data.train.labels))]
    if data.train.transform is not None:
        batch = data.train.transform(batch)
    user.check_forward(model.train(), batch, len(data.preprocessing.classes), source.code)


# ------------------------------------------------------------------------------------------------ data
@dataclass
class Prepared:
    """What the loop needs from the data: loaders + the preprocessing a checkpoint must carry."""

    dataset: Dataset
    train: TensorLoader
    test: TensorLoader
    val: TensorLoader | None
    preprocessing: Preprocessing


def preprocessing_for(config: Config, dataset: Dataset, traits: ModelTraits) -> Preprocessing:
    pad, side = config.data.pad, traits.input_size
    size = config.data.resize or (side - 2 * pad)
    if size + 2 * pad != side or size < 1:
        raise ConfigError(
            f"model '{config.model.name}' takes {side}x{side} input but data.resize={size} and "
            f"data.pad={pad} give {size + 2 * pad}: set data.resize={side - 2 * pad}"
        )
    return Preprocessing(dataset=dataset.name, input_size=side, resize=size, pad=pad, mean=dataset.mean,
                         std=dataset.std, normalize=config.data.normalize and traits.normalize,
                         classes=tuple(dataset.classes))


# A split whose float32 copy would be larger than this stays uint8 (4x smaller) and each batch is normalized as it is
# drawn (three more tensor ops a step). MNIST's 60,000 training images are 188 MB as float32 (246 MB at 32x32).
FLOAT_SPLIT_LIMIT = 1 << 30  # bytes


def split_loader(images: np.ndarray, labels: np.ndarray, pre: Preprocessing, device: torch.device, batch_size: int,
                 **kwargs) -> TensorLoader:
    """A split on the device as float32, resized, padded and normalized once (pre.model_input: the same numbers
    `digitlab eval` and `predict` feed the model), so each batch is a single gather; above FLOAT_SPLIT_LIMIT, uint8
    with the same normalization applied per batch (the same numbers, bit for bit)."""
    y = torch.as_tensor(labels, dtype=torch.long, device=device)
    if len(labels) * pre.input_size**2 * 4 <= FLOAT_SPLIT_LIMIT:
        return TensorLoader(pre.model_input(images, device), y, batch_size=batch_size, **kwargs)
    return TensorLoader(pre.prepare(images, device), y, batch_size=batch_size, transform=pre.normalizer(), **kwargs)


def prepare_data(config: Config, device: torch.device, dataset: Dataset | None = None, progress=None,
                 traits: ModelTraits | None = None, statistics: tuple[float, float] | None = None) -> Prepared:
    """statistics: the (mean, std) to normalize with instead of the dataset's own (a fine-tune keeps its model's)."""
    d = config.data
    traits = traits or model_source(config).traits
    if dataset is None:
        dataset = load_dataset(d.dataset, d.data_dir or None, strict=d.strict, progress=progress,
                               test_size=d.test_size)
    if statistics is not None:
        dataset = replace(dataset, mean=statistics[0], std=statistics[1])
    pre = preprocessing_for(config, dataset, traits)
    xtr, ytr = select(dataset.train_images, dataset.train_labels, d.classes, d.limit)
    xte, yte = select(dataset.test_images, dataset.test_labels, d.classes)
    if len(ytr) == 0:
        raise ConfigError(f"no training examples left after data.classes={list(d.classes)} / data.limit={d.limit}")
    val = None
    if d.val_size:
        (xtr, ytr), (xv, yv) = carve_validation(xtr, ytr, d.val_size, config.train.seed)
        val = split_loader(xv, yv, pre, device, d.eval_batch_size)
    augment = Augment(d.augment_shift, d.augment_rotate, d.augment_scale, pre.background)
    train = split_loader(xtr, ytr, pre, device, config.train.batch_size, shuffle=d.shuffle, drop_last=d.drop_last,
                         seed=config.train.seed, augment=augment if augment.active else None)
    if len(train) == 0:
        raise ConfigError(f"batch size {config.train.batch_size} with drop_last leaves no batch of {len(ytr)} examples")
    test = split_loader(xte, yte, pre, device, d.eval_batch_size)
    return Prepared(dataset, train, test, val, pre)


def check_world(config: Config, ddp: distributed.Dist) -> None:
    if ddp.enabled and config.train.batch_size % ddp.world_size:
        raise ConfigError(f"train.batch_size {config.train.batch_size} must be divisible by the {ddp.world_size} "
                          "processes (each takes an equal share of every global batch)")


def prepare_shared(config: Config, device: torch.device, ddp: distributed.Dist, dataset: Dataset | None = None,
                   progress=None, traits: ModelTraits | None = None,
                   statistics: tuple[float, float] | None = None) -> Prepared:
    """Rank 0 finds or downloads the data first; the other ranks wait, then find it in place."""
    check_world(config, ddp)
    if not ddp.is_main:
        distributed.barrier(ddp)
    data = prepare_data(config, device, dataset, progress, traits, statistics)
    if ddp.is_main:
        distributed.barrier(ddp)
    return data


# ------------------------------------------------------------------------------------------------ session
@dataclass(frozen=True)
class Update:
    """How a run's optimizer updates run: "in backward" (train.update_in_backward) or "after backward", and why."""

    how: str
    reason: str


@dataclass
class State:
    """Where the loop is; saved in every resume checkpoint."""

    epoch: int = 0  # current epoch (0-based)
    step_in_epoch: int = 0  # batches already done in this epoch
    global_step: int = 0
    best_acc: float = -1.0
    best_epoch: int = 0
    train_seconds: float = 0.0  # wall time accumulated over sessions (a resumed run adds to it)
    step_seconds: float = 0.0  # of which spent in training steps
    images_seen: int = 0


@dataclass
class Session:
    """Everything one training session holds. `model` is the plain module (saved, evaluated); `net` is what trains
    (the same module, DDP-wrapped on N ranks and/or torch.compile'd)."""

    config: Config
    run_dir: Path
    device: torch.device
    ddp: distributed.Dist
    data: Prepared
    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss_fn: object
    output_kind: str
    state: State
    book: RunBook
    epoch_loss_sum: float = 0.0  # summed per-sample training loss of the current epoch
    epoch_samples: int = 0
    resumed_at: int | None = None
    precision: Precision = Precision("float32", "train.amp is off")  # bf16 autocast only where the device has it
    in_backward: BackwardSGD | None = None  # the optimizer's updates run inside backward (then never step it)
    in_backward_reason: str = ""  # why not, when they do not
    code: UserCode | None = None  # the user's own network's source (recorded in every checkpoint); None: registry
    notes: list[str] = field(default_factory=list)  # lines for the run's header (fine-tune: origin, fresh layer, freeze)

    @property
    def stepper(self) -> torch.optim.Optimizer | None:
        """The optimizer train_step must step: None when its updates already ran in backward."""
        return None if self.in_backward is not None and self.in_backward.active else self.optimizer

    def update_info(self) -> Update:
        """How the optimizer's updates ran, for the run's start info and summary.json."""
        if self.in_backward is not None:
            return Update("in backward", "each parameter's SGD update as its gradient is ready")
        return Update("after backward", self.in_backward_reason)


def _wrap(model: nn.Module, config: Config, device: torch.device, ddp: distributed.Dist, data: Prepared) -> nn.Module:
    net = model
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        data.train.rank, data.train.world_size = ddp.rank, ddp.world_size
    if config.train.compile:
        if device.type == "cpu" and not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
            raise ConfigError("train.compile on CPU needs a C++ compiler (PyTorch's inductor builds C++ kernels): "
                              "install g++ (apt-get install g++) or train without --set train.compile=true")
        net = torch.compile(net)  # inductor: C++ kernels on CPU, Triton on CUDA
    return net


def open_session(config: Config, run_dir: Path, device: torch.device, ddp: distributed.Dist, data: Prepared,
                 resume_from: Path | None = None, horizon_epochs: int | None = None,
                 source: ModelSource | None = None, origin: finetune.Origin | None = None) -> Session:
    """Build model, optimizer, schedule and loss; restore them (and the position) from `resume_from` if given.

    horizon_epochs: the epochs the schedule spans (a resumed run keeps the horizon it started with, so extending
    --epochs does not rewind the learning rate). source: where the model comes from (default: the config's).
    origin: a fine-tune's starting weights (not read on resume).
    """
    source = source or model_source(config)
    torch.manual_seed(config.train.seed)
    model = build.build(config.model, len(data.preprocessing.classes), source.code)
    init_weights(model, config.model.init, config.model.init_std, config.model.init_bias)
    notes = finetune.load_into(model, origin, data.preprocessing.classes) if origin and resume_from is None else []
    notes += [note] if (note := finetune.freeze(model, config.train.freeze)) else []
    model = model.to(device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(finetune.trainable(model), config.optim)
    steps = len(data.train)
    scheduler = make_scheduler(optimizer, config.schedule, (horizon_epochs or config.train.epochs) * steps, steps)
    state, resumed_at = State(), None
    book = RunBook(run_dir, config, data.preprocessing, ddp, source.traits.output, source.code)
    if resume_from is not None:
        position = checkpoint.load_resume(resume_from, model, optimizer, scheduler, device)
        state = State(**{k: v for k, v in position.items() if k in State.__dataclass_fields__})
        resumed_at = state.global_step
        book.resume_history(state.global_step, state.epoch)
    why = why_not(optimizer, config, device, ddp)
    return Session(config=config, run_dir=run_dir, device=device, ddp=ddp, data=data, model=model,
                   net=_wrap(model, config, device, ddp, data), optimizer=optimizer, scheduler=scheduler,
                   loss_fn=make_loss(config.loss, device), output_kind=source.traits.output, code=source.code,
                   state=state, book=book, resumed_at=resumed_at,
                   precision=precision_for(config.train, device),
                   in_backward=BackwardSGD(optimizer) if why is None else None, in_backward_reason=why or "",
                   notes=notes)
