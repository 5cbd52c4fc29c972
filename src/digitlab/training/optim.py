"""Optimizer and learning-rate schedule factories from config (registries, not if-ladders).

Optimizers: sgd (momentum, dampening, nesterov, weight_decay), momentum (MindSpore's nn.Momentum),
adam, adamw, adadelta. MindSpore's Momentum update is accum = momentum * accum + grad;
param -= lr * accum (nesterov: param -= lr * (grad + momentum * accum)), which is exactly torch SGD with
dampening 0, so `momentum` is that, with MindSpore's defaults (momentum 0.9 if not given).

Each optimizer uses torch's fused implementation (one kernel over all parameters) where this torch build has one for
the parameters' device (SGD, Adam, AdamW on CPU since torch 2.4, CUDA, MPS), else torch's default: the same update,
fewer kernel launches per step (measured in docs/benchmarks.md). On a CPU, a training run applies SGD's update inside
backward instead, one parameter at a time with the same kernel (training/inbackward.py).

Schedules are per optimizer step: a multiplier of the base lr from the step number, via LambdaLR, so the
scheduler's state is just the step count (exact resume). Linear warm-up composes with any of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from digitlab.config import OptimConfig, ScheduleConfig
from digitlab.errors import ConfigError

Params = Iterable[torch.nn.Parameter]


def fused(cls: type[torch.optim.Optimizer], params: Params, **kwargs) -> torch.optim.Optimizer:
    """cls(params, fused=True, **kwargs) where torch has a fused kernel for these parameters' device and dtype;
    otherwise cls(params, **kwargs) (torch's default implementation). The update is the same either way."""
    params = list(params)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype in this torch build
        return cls(params, **kwargs)


def _sgd(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.nesterov and (cfg.momentum <= 0 or cfg.dampening != 0):
        raise ConfigError("optim.nesterov needs optim.momentum > 0 and optim.dampening = 0")
    return fused(torch.optim.SGD, params, lr=cfg.lr, momentum=cfg.momentum, dampening=cfg.dampening,
                 nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)


def _momentum(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    momentum = cfg.momentum if cfg.momentum > 0 else 0.9
    return fused(torch.optim.SGD, params, lr=cfg.lr, momentum=momentum, dampening=0.0, nesterov=cfg.nesterov,
                 weight_decay=cfg.weight_decay)


def _adam(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return fused(torch.optim.Adam, params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps or 1e-8,
                 weight_decay=cfg.weight_decay)


def _adamw(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return fused(torch.optim.AdamW, params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps or 1e-8,
                 weight_decay=cfg.weight_decay)


def _adadelta(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    # eps 0 = torch's Adadelta default 1e-6, as pytorch/examples uses it
    return torch.optim.Adadelta(params, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps or 1e-6, weight_decay=cfg.weight_decay)


OPTIMIZERS: dict[str, Callable[[Params, OptimConfig], torch.optim.Optimizer]] = {
    "sgd": _sgd,
    "momentum": _momentum,
    "adam": _adam,
    "adamw": _adamw,
    "adadelta": _adadelta,
}


def make_optimizer(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    try:
        factory = OPTIMIZERS[cfg.name]
    except KeyError:
        raise ConfigError(f"unknown optimizer '{cfg.name}': choose one of {', '.join(OPTIMIZERS)}") from None
    return factory(params, cfg)


# ----------------------------------------------------------------------------------------- schedules
# Each returns a multiplier for step s (0-based) given total steps T and steps per epoch E.
Multiplier = Callable[[int], float]


def _constant(cfg: ScheduleConfig, total: int, per_epoch: int) -> Multiplier:
    return lambda s: 1.0


def _step(cfg: ScheduleConfig, total: int, per_epoch: int) -> Multiplier:
    # StepLR(step_size epochs, gamma) stepped once per epoch, as pytorch/examples does
    return lambda s: cfg.gamma ** ((s // max(per_epoch, 1)) // max(cfg.step_size, 1))


def _cosine(cfg: ScheduleConfig, total: int, per_epoch: int) -> Multiplier:
    lo = cfg.min_lr_ratio
    return lambda s: lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(s, total) / max(total, 1)))


def _linear(cfg: ScheduleConfig, total: int, per_epoch: int) -> Multiplier:
    lo = cfg.min_lr_ratio
    return lambda s: lo + (1 - lo) * max(0.0, 1 - s / max(total, 1))


def _onecycle(cfg: ScheduleConfig, total: int, per_epoch: int) -> Multiplier:
    """Rise linearly from ~0 to the peak over pct_start of the steps, then fall linearly to min_lr_ratio."""
    peak = max(1, int(total * cfg.pct_start))
    lo = cfg.min_lr_ratio

    def mult(s: int) -> float:
        if s < peak:
            return (s + 1) / peak
        return lo + (1 - lo) * max(0.0, (total - s) / max(total - peak, 1))

    return mult


SCHEDULES: dict[str, Callable[[ScheduleConfig, int, int], Multiplier]] = {
    "constant": _constant,
    "step": _step,
    "cosine": _cosine,
    "linear": _linear,
    "onecycle": _onecycle,
}


def lr_multiplier(cfg: ScheduleConfig, total_steps: int, steps_per_epoch: int) -> Multiplier:
    try:
        base = SCHEDULES[cfg.name](cfg, total_steps, steps_per_epoch)
    except KeyError:
        raise ConfigError(f"unknown schedule '{cfg.name}': choose one of {', '.join(SCHEDULES)}") from None
    warm = cfg.warmup_steps
    if not warm:
        return base
    return lambda s: base(s) * min(1.0, (s + 1) / warm)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, total_steps: int,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(cfg, total_steps, steps_per_epoch))
