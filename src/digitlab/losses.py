"""Loss factories from config (a registry, not an if-ladder).

    ce          torch cross-entropy on logits: class weights, ignore_index, reduction, label smoothing,
                and soft targets (a (B, C) probability tensor instead of class indices)
    nll         negative log-likelihood for models that output log-probabilities (log_softmax)
    softmax-ce  MindSpore's SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean'): the same maths
                as mean cross-entropy on logits with integer labels, named as the LeNet sample names it
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

from digitlab.config import LossConfig
from digitlab.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LossInputWarning(UserWarning):
    """The model's outputs look like probabilities or log-probabilities fed to a logits loss."""


def looks_normalized(outputs: torch.Tensor) -> str | None:
    """'log_probs' / 'probs' when a batch of outputs already is a (log-)distribution, else None.

    The classic mistake: ending a model with (log_)softmax and then using cross-entropy, which applies
    log_softmax again (harmless for log-probs, but it hides intent; with softmax it squashes gradients).
    """
    with torch.no_grad():
        out = outputs.detach().float()
        if out.ndim != 2 or out.shape[1] < 2:
            return None
        if (out <= 1e-6).all() and torch.allclose(out.exp().sum(1), torch.ones(len(out), device=out.device),
                                                  atol=1e-3):
            return "log_probs"
        if (out >= 0).all() and torch.allclose(out.sum(1), torch.ones(len(out), device=out.device), atol=1e-3):
            return "probs"
    return None


class CheckedLoss:
    """Wraps a logits loss: on the first call, warn if the outputs are already (log-)probabilities."""

    def __init__(self, fn: LossFn, name: str) -> None:
        self.fn, self.name, self.checked = fn, name, False

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not self.checked:
            self.checked = True
            kind = looks_normalized(outputs)
            if kind:
                hint = "use loss 'nll'" if kind == "log_probs" else "return logits from the model"
                warnings.warn(
                    f"loss '{self.name}' expects logits but the model's outputs look like {kind.replace('_', '-')} "
                    f"(softmax applied twice); {hint}",
                    LossInputWarning,
                    stacklevel=2,
                )
        return self.fn(outputs, targets)


def _weights(cfg: LossConfig, device: torch.device | None) -> torch.Tensor | None:
    return torch.tensor(cfg.class_weights, dtype=torch.float32, device=device) if cfg.class_weights else None


def cross_entropy(cfg: LossConfig, device: torch.device | None = None) -> LossFn:
    weight = _weights(cfg, device)

    def fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.is_floating_point():  # soft targets: (B, C) probabilities; ignore_index does not apply
            return F.cross_entropy(outputs, targets, weight=weight, reduction=cfg.reduction,
                                   label_smoothing=cfg.label_smoothing)
        return F.cross_entropy(outputs, targets, weight=weight, ignore_index=cfg.ignore_index,
                               reduction=cfg.reduction, label_smoothing=cfg.label_smoothing)

    return CheckedLoss(fn, "ce")


def nll(cfg: LossConfig, device: torch.device | None = None) -> LossFn:
    if cfg.label_smoothing:
        raise ConfigError("loss 'nll' has no label smoothing: use loss 'ce' with a logits model")
    weight = _weights(cfg, device)

    def fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.nll_loss(outputs, targets, weight=weight, ignore_index=cfg.ignore_index, reduction=cfg.reduction)

    return fn


def softmax_ce(cfg: LossConfig, device: torch.device | None = None) -> LossFn:
    if cfg.class_weights or cfg.label_smoothing or cfg.reduction != "mean":
        raise ConfigError("loss 'softmax-ce' is MindSpore's sparse mean form: no weights, smoothing or other reduction")

    def fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)

    return CheckedLoss(fn, "softmax-ce")


def mse(cfg: LossConfig, device: torch.device | None = None) -> LossFn:
    """Seed 001's nn.MSELoss, used for classification: the model's raw outputs against one-hot targets (mean over
    classes and batch, as nn.MSELoss(reduction='mean')). For comparison with cross-entropy; it learns more slowly."""
    if cfg.class_weights or cfg.label_smoothing:
        raise ConfigError("loss 'mse' takes no class weights or label smoothing")

    def fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not targets.is_floating_point():
            targets = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
        per_sample = F.mse_loss(outputs, targets, reduction="none").mean(1)
        return per_sample.sum() if cfg.reduction == "sum" else per_sample.mean()

    return fn


LOSSES: dict[str, Callable[[LossConfig, torch.device | None], LossFn]] = {
    "ce": cross_entropy,
    "nll": nll,
    "softmax-ce": softmax_ce,
    "mse": mse,
}


def make_loss(cfg: LossConfig, device: torch.device | None = None) -> LossFn:
    try:
        factory = LOSSES[cfg.name]
    except KeyError:
        raise ConfigError(f"unknown loss '{cfg.name}': choose one of {', '.join(LOSSES)}") from None
    return factory(cfg, device)


def per_sample_loss(outputs: torch.Tensor, targets: torch.Tensor, output_kind: str) -> torch.Tensor:
    """Unreduced loss for evaluation: NLL of the model's log-probabilities, whatever it outputs."""
    log_probs = outputs if output_kind == "log_probs" else F.log_softmax(outputs.float(), dim=1)
    return F.nll_loss(log_probs, targets, reduction="none")
