"""The training engine: a flat loop of small functions, nanoGPT-style.

    train(config) -> summary                  a new run in runs/<name>/
    resume(run_dir) -> summary                continue a run exactly where its last checkpoint left it

Progress goes to a Reporter (the CLI's draws a rich progress bar; the default is silent). The loop never
reads a value back from the device except at logging points and epoch ends, so on CUDA the host stays
ahead of the GPU; on CPU that costs nothing either way.
"""

from __future__ import annotations

import contextlib
import platform
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from digitlab import __version__, distributed, runs
from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.data.loader import TensorLoader, carve_validation, prepare_images, select
from digitlab.data.sources import Dataset, load_dataset
from digitlab.data.transforms import Augment, Normalize
from digitlab.device import pick_device, synchronize
from digitlab.errors import ConfigError, TrainingError, TrainingInterrupted
from digitlab.models import count_parameters, get_model, model_spec
from digitlab.training import checkpoint
from digitlab.training.losses import make_loss
from digitlab.training.metrics import quick_eval
from digitlab.training.optim import make_optimizer, make_scheduler
from digitlab.training.report import Reporter
from digitlab.training.setup import check_config


# ------------------------------------------------------------------------------------------- data
@dataclass
class Prepared:
    """What the loop needs from the data: loaders + the preprocessing facts a checkpoint must carry."""

    dataset: Dataset
    train: TensorLoader
    test: TensorLoader
    val: TensorLoader | None
    preprocessing: dict[str, Any]


def preprocessing_for(config: Config, dataset: Dataset) -> dict[str, Any]:
    spec = model_spec(config.model.name)
    pad = config.data.pad
    size = config.data.resize or (spec.input_size - 2 * pad)
    if size + 2 * pad != spec.input_size:
        raise ConfigError(
            f"model '{spec.name}' takes {spec.input_size}x{spec.input_size} input but data.resize={size} and "
            f"data.pad={pad} give {size + 2 * pad}: set data.resize={spec.input_size - 2 * pad}"
        )
    return {
        "dataset": dataset.name,
        "mean": dataset.mean,
        "std": dataset.std,
        "normalize": config.data.normalize,
        "resize": size,
        "pad": pad,
        "input_size": spec.input_size,
        "classes": list(dataset.classes),
    }


def normalizer(pre: dict) -> Normalize:
    return Normalize(pre["mean"], pre["std"], pre["normalize"])


def _resize(images: np.ndarray, pre: dict) -> int:
    return pre["resize"] if pre["resize"] != images.shape[-1] else 0


def tensors(images: np.ndarray, labels: np.ndarray, pre: dict, device: torch.device) -> tuple:
    """A whole set as model input: (N, 1, S, S) float + (N,) int64 (for evaluation, prediction, export)."""
    x = normalizer(pre)(prepare_images(images, device, size=_resize(images, pre), pad=pre["pad"]))
    return x, torch.as_tensor(labels, dtype=torch.long, device=device)


def split_loader(images: np.ndarray, labels: np.ndarray, pre: dict, device: torch.device, batch_size: int,
                 **kwargs) -> TensorLoader:
    """A split kept as uint8 on the device; each batch is normalized as it is drawn."""
    x = prepare_images(images, device, size=_resize(images, pre), pad=pre["pad"])
    y = torch.as_tensor(labels, dtype=torch.long, device=device)
    return TensorLoader(x, y, batch_size=batch_size, transform=normalizer(pre), **kwargs)


def background_value(pre: dict) -> float:
    return normalizer(pre).background


def prepare_data(config: Config, device: torch.device, dataset: Dataset | None = None, progress=None) -> Prepared:
    d = config.data
    if dataset is None:
        dataset = load_dataset(d.dataset, d.data_dir or None, strict=d.strict, progress=progress)
    pre = preprocessing_for(config, dataset)
    xtr, ytr = select(dataset.train_images, dataset.train_labels, d.classes, d.limit)
    xte, yte = select(dataset.test_images, dataset.test_labels, d.classes)
    if len(ytr) == 0:
        raise ConfigError(f"no training examples left after data.classes={list(d.classes)} / data.limit={d.limit}")
    val = None
    if d.val_size:
        (xtr, ytr), (xv, yv) = carve_validation(xtr, ytr, d.val_size, config.train.seed)
        val = split_loader(xv, yv, pre, device, d.eval_batch_size)
    augment = Augment(d.augment_shift, d.augment_rotate, d.augment_scale, background_value(pre))
    train = split_loader(xtr, ytr, pre, device, config.train.batch_size, shuffle=d.shuffle, drop_last=d.drop_last,
                         seed=config.train.seed, augment=augment if augment.active else None)
    if len(train) == 0:
        raise ConfigError(f"batch size {config.train.batch_size} with drop_last leaves no batch of {len(ytr)} examples")
    test = split_loader(xte, yte, pre, device, d.eval_batch_size)
    return Prepared(dataset, train, test, val, pre)


# ------------------------------------------------------------------------------------------- steps
def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, optimizer: torch.optim.Optimizer,
               scheduler, grad_clip: float, channels_last: bool = False, amp: bool = False) -> torch.Tensor:
    """One optimizer step; returns the (device) loss tensor, not read back."""
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if amp:  # bf16 autocast: no loss scaling needed (bf16 has float32's exponent range)
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x).float(), y)
    else:
        loss = loss_fn(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    return loss.detach()


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


class StopFlag:
    """Ctrl-C / SIGTERM set a flag the loop checks between steps, so a checkpoint is never half a step."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.reason:  # second Ctrl-C: stop waiting
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def checkpoint_info(config: Config, pre: dict, state: State, extra: dict | None = None) -> dict:
    spec = model_spec(config.model.name)
    return {
        "model": config.model.name,
        "num_classes": len(pre["classes"]),
        "output": spec.output,
        "preprocessing": pre,
        "config": cfgmod.to_dict(config),
        "epoch": state.epoch,
        "step": state.global_step,
        "digitlab_version": __version__,
        **(extra or {}),
    }


def versions() -> dict:
    return {"digitlab": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


# ------------------------------------------------------------------------------------------- the loop
def fit(
    config: Config,
    run_dir: Path,
    device: torch.device,
    data: Prepared,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    state: State,
    reporter: Reporter,
    ddp: distributed.Dist = distributed.Dist(),
    net: nn.Module | None = None,
) -> dict:
    """The loop. `model` is the plain module (saved, evaluated); `net` what trains (DDP-wrapped on N ranks)."""
    tc = config.train
    net = net or model
    loss_fn = make_loss(config.loss, device)
    output_kind = model_spec(config.model.name).output
    steps_per_epoch = len(data.train)
    ckpt_dir = run_dir / "checkpoints"
    log = runs.MetricsLog(run_dir / "metrics.jsonl") if ddp.is_main else runs.NullLog()
    background = background_value(data.preprocessing)
    bad_step = torch.tensor(-1, device=device)  # first step with a non-finite loss, tracked on the device
    tb = None
    if tc.tensorboard and ddp.is_main:
        from digitlab.training.tensorboard import TensorBoardLog

        tb = TensorBoardLog(run_dir)
    stopped_early = False

    def save_resume() -> None:
        if not ddp.is_main:
            return
        info = checkpoint_info(config, data.preprocessing, state)
        position = dict(vars(state))
        checkpoint.save_resume(ckpt_dir / "resume.safetensors", model, optimizer, scheduler, position, info)

    def check_finite() -> None:
        if bad_step.item() >= 0:
            raise TrainingError(
                f"loss became NaN/inf at step {bad_step.item()} (epoch {state.epoch + 1}); stopped. "
                f"The last good checkpoint is in {ckpt_dir}. Try a lower learning rate (now {config.optim.lr})"
                " or gradient clipping (--set optim.grad_clip=1.0)"
            )

    with StopFlag() as stop:
        model.train()
        for epoch in range(state.epoch, tc.epochs):
            state.epoch = epoch
            data.train.set_epoch(epoch, state.step_in_epoch)
            reporter.on_epoch_start(epoch, tc.epochs, steps_per_epoch, state.step_in_epoch)
            synchronize(device)
            t0 = time.perf_counter()
            for x, y in data.train:
                if tc.max_steps and state.global_step >= tc.max_steps:
                    break
                batch = state.step_in_epoch
                loss = train_step(net, x, y, loss_fn, optimizer, scheduler, config.optim.grad_clip,
                                  tc.channels_last, tc.amp)
                bad_step = torch.where((bad_step < 0) & ~torch.isfinite(loss), state.global_step, bad_step)
                state.step_in_epoch += 1
                state.global_step += 1
                state.images_seen += len(y) * ddp.world_size
                reporter.on_step()
                if batch % tc.log_every == 0:
                    check_finite()
                    now = time.perf_counter()
                    record = {"kind": "step", "step": state.global_step, "epoch": epoch + 1, "batch": batch,
                              "batches": steps_per_epoch, "loss": loss.item(),
                              "lr": optimizer.param_groups[0]["lr"],
                              "images_per_second": state.images_seen / max(state.step_seconds + now - t0, 1e-9)}
                    log.write(record)
                    if tb:
                        tb.step(record)
                    reporter.on_log(record)
                if tc.ckpt_every and state.global_step % tc.ckpt_every == 0:
                    check_finite()
                    save_resume()
                if stop.reason:
                    break
            synchronize(device)
            elapsed = time.perf_counter() - t0
            state.step_seconds += elapsed
            check_finite()
            epoch_done = state.step_in_epoch >= steps_per_epoch
            if stop.reason or not epoch_done:
                state.train_seconds += elapsed
                save_resume()
                if stop.reason:
                    log.close()
                    raise TrainingInterrupted(
                        f"interrupted ({stop.reason}) at step {state.global_step}; saved. "
                        f"Resume with: digitlab train --resume {run_dir}"
                    )
                stopped_early = True
                break
            # ---- end of epoch: evaluate, checkpoint
            record = {"kind": "epoch", "epoch": epoch + 1, "step": state.global_step}
            if tc.eval_every_epoch or epoch == tc.epochs - 1:
                acc, avg_loss = quick_eval(model, data.test, output_kind, tc.tta, background)
                record.update(test_acc=acc, test_loss=avg_loss)
                if data.val is not None:
                    vacc, vloss = quick_eval(model, data.val, output_kind, tc.tta, background)
                    record.update(val_acc=vacc, val_loss=vloss)
            synchronize(device)
            state.train_seconds += time.perf_counter() - t0
            record.update(train_seconds=state.train_seconds, lr=optimizer.param_groups[0]["lr"])
            state.epoch, state.step_in_epoch = epoch + 1, 0
            score = record.get("val_acc", record.get("test_acc"))
            info = checkpoint_info(config, data.preprocessing, state, {"test_acc": record.get("test_acc")})
            if score is not None and score > state.best_acc:
                state.best_acc, state.best_epoch = score, epoch + 1
                if ddp.is_main:
                    checkpoint.save_weights(ckpt_dir / "best.safetensors", model, info)
            if ddp.is_main:
                checkpoint.save_weights(ckpt_dir / "last.safetensors", model, info)
            save_resume()
            if tc.target_acc and (record.get("test_acc") or 0) >= tc.target_acc:
                record["reached_target"] = tc.target_acc
            log.write(record)
            if tb:
                tb.epoch(record, model, data.test, data.preprocessing)
            reporter.on_epoch_end(record)
            model.train()
            if record.get("reached_target"):
                break
            if reporter.should_stop():
                stopped_early = True
                break
    log.close()
    if tb:
        tb.close()
    return {"stopped_early": stopped_early}


# ------------------------------------------------------------------------------------------- entry points
def check_world(config: Config, ddp: distributed.Dist) -> None:
    if ddp.enabled and config.train.batch_size % ddp.world_size:
        raise ConfigError(f"train.batch_size {config.train.batch_size} must be divisible by the {ddp.world_size} "
                          "processes (each takes an equal share of every global batch)")


def prepare_shared(config: Config, device: torch.device, ddp: distributed.Dist, dataset: Dataset | None = None,
                   progress=None) -> Prepared:
    """Rank 0 finds or downloads the data first; the other ranks wait, then find it in place."""
    if not ddp.is_main:
        distributed.barrier(ddp)
    data = prepare_data(config, device, dataset, progress)
    if ddp.is_main:
        distributed.barrier(ddp)
    return data


def _build(config: Config, device: torch.device, n_classes: int):
    torch.manual_seed(config.train.seed)
    model = get_model(config.model.name, num_classes=n_classes).to(device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model.parameters(), config.optim)
    return model, optimizer


def _summary(config: Config, run_dir: Path, device: torch.device, data: Prepared, model: nn.Module,
             state: State, stopped_early: bool) -> dict:
    epochs = [r for r in runs.MetricsLog.read(run_dir / "metrics.jsonl") if r.get("kind") == "epoch"]
    last = epochs[-1] if epochs else {}
    tested = [r["test_acc"] for r in epochs if r.get("test_acc") is not None]
    return {
        "run": run_dir.name,
        "run_dir": str(run_dir),
        "status": "stopped" if stopped_early else "finished",
        "recipe": config.recipe,
        "model": config.model.name,
        "params": count_parameters(model),
        "final_test_acc": last.get("test_acc"),
        "best_test_acc": max(tested) if tested else None,
        "final_test_loss": last.get("test_loss"),
        "final_val_acc": last.get("val_acc"),
        "best_epoch": state.best_epoch,
        "reached_target": last.get("reached_target"),
        "epochs": state.epoch,
        "steps": state.global_step,
        "train_seconds": round(state.train_seconds, 3),
        "images_per_second": round(state.images_seen / state.step_seconds, 1) if state.step_seconds else None,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "seed": config.train.seed,
        "batch_size": config.train.batch_size,
        "optimizer": config.optim.name,
        "lr": config.optim.lr,
        "data": data.dataset.provenance(),
        "data_verified": data.dataset.verified,
        "n_train": len(data.train.labels),
        "n_test": len(data.test.labels),
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _run(config: Config, run_dir: Path, device: torch.device, data: Prepared, model, optimizer, scheduler,
         state: State, reporter: Reporter, ddp: distributed.Dist = distributed.Dist()) -> dict:
    net = model
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        data.train.rank, data.train.world_size = ddp.rank, ddp.world_size
    if config.train.compile:
        net = torch.compile(net)
    if ddp.is_main:
        runs.set_status(run_dir, "running", recipe=config.recipe, model=config.model.name, world_size=ddp.world_size)
    if data.dataset.fallback:
        reporter.on_message(data.dataset.fallback)
    try:
        result = fit(config, run_dir, device, data, model, optimizer, scheduler, state, reporter, ddp, net)
    except TrainingInterrupted:
        if ddp.is_main:
            runs.set_status(run_dir, "interrupted", step=state.global_step)
        raise
    except BaseException as exc:
        if ddp.is_main:
            runs.set_status(run_dir, "failed", error=str(exc)[:500])
        raise
    finally:
        distributed.cleanup(ddp)
    if not ddp.is_main:
        return {"run_dir": str(run_dir), "rank": ddp.rank, "steps": state.global_step}
    summary = _summary(config, run_dir, device, data, model, state, result["stopped_early"])
    summary["world_size"] = ddp.world_size
    runs.write_json(run_dir / "summary.json", summary)
    with contextlib.suppress(Exception):  # a plot is a convenience; its failure must not lose the run
        from digitlab.plots import loss_curves

        loss_curves(runs.MetricsLog.read(run_dir / "metrics.jsonl"), run_dir / "loss.png",
                    title=f"{run_dir.name} ({config.model.name})")
    runs.set_status(run_dir, summary["status"], step=state.global_step)
    reporter.on_end(summary)
    return summary


def train(
    config: Config,
    name: str | None = None,
    run_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    dataset: Dataset | None = None,
    progress=None,
) -> dict:
    """Train a model from a config into a new run folder; returns the summary (as summary.json)."""
    config = check_config(config)
    ddp = distributed.from_env()
    reporter = (reporter or Reporter()) if ddp.is_main else Reporter()
    device = distributed.setup(ddp, pick_device(config.train.device))
    check_world(config, ddp)
    data = prepare_shared(config, device, ddp, dataset, progress)
    config = replace(config, data=replace(config.data, dataset=data.dataset.name)) if data.dataset.fallback else config
    folder = None
    if ddp.is_main:
        folder = runs.new_run_dir(name, run_dir, config.recipe)
        (folder / "config.toml").write_text(cfgmod.dumps(config))
        runs.write_json(folder / "data.json", data.dataset.provenance())
    folder = Path(distributed.broadcast_text(ddp, str(folder) if folder else None))
    model, optimizer = _build(config, device, len(data.dataset.classes))
    scheduler = make_scheduler(optimizer, config.schedule, config.train.epochs * len(data.train), len(data.train))
    reporter.on_start({"run_dir": str(folder), "config": config, "device": str(device),
                       "params": count_parameters(model), "data": data.dataset.provenance(),
                       "n_train": len(data.train.labels), "n_test": len(data.test.labels)})
    return _run(config, folder, device, data, model, optimizer, scheduler, State(), reporter, ddp)


def json_position_step(path: Path) -> int:
    """The global step a resume checkpoint holds, read from its header only."""
    return int(checkpoint.read_resume_position(path).get("global_step", 0))


RESUME_OVERRIDABLE = {"train.epochs", "train.max_steps", "train.device", "train.log_every", "train.ckpt_every",
                      "data.data_dir", "data.eval_batch_size"}


def resume(run_dir: str | Path, overrides: list[str] | None = None, reporter: Reporter | None = None,
           progress=None) -> dict:
    """Continue a run from checkpoints/resume.safetensors; only run-length and device settings may change."""
    ddp = distributed.from_env()
    reporter = (reporter or Reporter()) if ddp.is_main else Reporter()
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").exists():
        raise ConfigError(f"--resume {run_dir}: not a run folder (no config.toml)")
    ckpt = run_dir / "checkpoints" / "resume.safetensors"
    if not ckpt.exists():
        raise ConfigError(f"--resume {run_dir}: no checkpoints/resume.safetensors yet; start the run again instead")
    saved = cfgmod.from_dict(cfgmod.load_toml(run_dir / "config.toml"), str(run_dir / "config.toml"))
    config = saved
    for text in overrides or []:
        section, key, _ = cfgmod.parse_override(text)
        if f"{section}.{key}" not in RESUME_OVERRIDABLE:
            raise ConfigError(f"--resume: '{section}.{key}' cannot change mid-run; only "
                              f"{', '.join(sorted(RESUME_OVERRIDABLE))} can")
    config = check_config(cfgmod.with_overrides(config, overrides))
    position_step = json_position_step(ckpt)
    if config.train.max_steps and position_step >= config.train.max_steps and not any(
            o.split("=")[0].strip() in ("max_steps", "train.max_steps") for o in overrides or []):
        config = replace(config, train=replace(config.train, max_steps=0))  # the smoke cap was reached: go on
    device = distributed.setup(ddp, pick_device(config.train.device))
    check_world(config, ddp)
    data = prepare_shared(config, device, ddp, progress=progress)
    model, optimizer = _build(config, device, len(data.dataset.classes))
    # the schedule keeps the horizon the run started with, so extending --epochs does not rewind the lr
    scheduler = make_scheduler(optimizer, config.schedule, saved.train.epochs * len(data.train), len(data.train))
    position, _ = checkpoint.load_resume(ckpt, model, optimizer, scheduler, device)
    state = State(**{k: v for k, v in position.items() if k in State.__dataclass_fields__})
    if state.epoch >= config.train.epochs:  # the epochs asked for are done (or passed, mid-epoch)
        raise ConfigError(f"--resume {run_dir}: already trained {state.epoch} epochs; raise --epochs to go on")
    if ddp.is_main:
        runs.MetricsLog.truncate_after(run_dir / "metrics.jsonl", state.global_step)
        (run_dir / "config.toml").write_text(cfgmod.dumps(config))
    reporter.on_start({"run_dir": str(run_dir), "config": config, "device": str(device), "resumed_at": state.global_step,
                       "params": count_parameters(model), "data": data.dataset.provenance(),
                       "n_train": len(data.train.labels), "n_test": len(data.test.labels)})
    return _run(config, run_dir, device, data, model, optimizer, scheduler, state, reporter, ddp)


