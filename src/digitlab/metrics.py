"""Evaluation metrics from predictions: accuracy, average loss, confusion matrix, per-class P/R/F1."""

from __future__ import annotations

import torch
import torch.nn as nn

from digitlab.contract import to_probabilities
from digitlab.data.loader import TensorLoader
from digitlab.errors import DataError
from digitlab.losses import per_sample_loss


def tta_shifts() -> list[tuple[int, int]]:
    return [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]


@torch.inference_mode()
def predict_logits(model: nn.Module, loader: TensorLoader, tta: bool = False, background: float = 0.0,
                   output_kind: str = "logits"):
    """Concatenated (N, C) outputs and (N,) labels over a loader, in eval mode.

    tta: average the probabilities of the image and its four 1-pixel shifts (background-filled); the outputs are
    then the log of that mean (log-probabilities, which every output kind's loss and argmax accept).
    """
    was_training = model.training
    model.eval()
    # written into tensors sized for the whole split at the first batch, rather than a list of per-batch outputs
    # concatenated at the end: small tensors kept alive among each batch's large temporaries fragment the CPU heap
    # and cost page faults on every batch (see steplosses.PendingLosses)
    outs = labels = None
    filled = 0
    for x, y in loader:
        if tta:
            probs = 0
            for dy, dx in tta_shifts():
                shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                if dy:
                    shifted[:, :, 0 if dy > 0 else -1, :] = background
                if dx:
                    shifted[:, :, :, 0 if dx > 0 else -1] = background
                probs = probs + to_probabilities(model(shifted), output_kind)
            out = torch.log(probs / len(tta_shifts()))
        else:
            out = model(x).float()
        if outs is None:  # at most len(labels) examples (fewer for one rank's share of a sharded split)
            outs = torch.empty((len(loader.labels), *out.shape[1:]), dtype=out.dtype, device=out.device)
            labels = torch.empty(len(loader.labels), dtype=y.dtype, device=y.device)
        outs[filled : filled + len(y)] = out
        labels[filled : filled + len(y)] = y
        filled += len(y)
    model.train(was_training)
    if outs is None:
        raise DataError("nothing to evaluate: the split has no examples")
    return outs[:filled], labels[:filled]


def confusion(pred: torch.Tensor, true: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, C) counts: rows true class, columns predicted class."""
    return torch.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def summarize(outputs: torch.Tensor, labels: torch.Tensor, n_classes: int, output_kind: str = "logits") -> dict:
    """accuracy (%), avg_loss (mean NLL per sample), confusion matrix and per-class precision/recall/F1."""
    pred = outputs.argmax(1)
    matrix = confusion(pred, labels, n_classes).cpu()
    tp = matrix.diag().double()
    support = matrix.sum(1).double()
    predicted = matrix.sum(0).double()
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12),
                     torch.zeros_like(tp))
    n = len(labels)
    return {
        "n": n,
        "accuracy": round(100.0 * tp.sum().item() / max(n, 1), 4),
        "avg_loss": per_sample_loss(outputs, labels, output_kind).mean().item() if n else float("nan"),
        "per_class": [
            {"class": c, "support": int(support[c]), "accuracy": 100.0 * recall[c].item(),
             "precision": precision[c].item(), "recall": recall[c].item(), "f1": f1[c].item()}
            for c in range(n_classes)
        ],
        "confusion_matrix": matrix.tolist(),
    }


def quick_eval(model: nn.Module, loader: TensorLoader, output_kind: str, tta: bool = False,
               background: float = 0.0) -> tuple[float, float]:
    """(accuracy %, avg loss) without the per-class tables: what each epoch prints."""
    outputs, labels = predict_logits(model, loader, tta=tta, background=background, output_kind=output_kind)
    acc = 100.0 * (outputs.argmax(1) == labels).double().mean().item()
    loss = per_sample_loss(outputs, labels, output_kind).mean().item()
    return round(acc, 4), round(loss, 6)
