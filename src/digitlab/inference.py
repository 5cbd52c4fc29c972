"""Inference: rebuild a model from a run folder or checkpoint file alone, feed it, read its answer.

    load_model(target, device) -> (model, Checkpoint)   the model in eval mode; checkpoint.info is a CheckpointInfo
    class_probabilities(model, info, images28, device)  (N, 28, 28) uint8 -> (N, C) probabilities
    describe(probs, classes, top_k)                     one image's prediction, label and top-k as data

Used by eval, predict, export, serve and interop; it imports nothing of the training loop, so the web server
does not load it. The typed metadata (Preprocessing, CheckpointInfo) lives in digitlab.contract and is re-exported
here; `to_probabilities` is the one function that turns model outputs (logits or log-probs) into probabilities.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn as nn

from digitlab import runs
from digitlab.checkpoint import Checkpoint, load_state_checked, read_info, read_weights
from digitlab.contract import CheckpointInfo, Preprocessing, to_probabilities
from digitlab.errors import CheckpointError, DigitlabNote
from digitlab.models import build, trust

__all__ = ["CheckpointInfo", "Preprocessing", "class_probabilities", "describe", "load_model", "to_probabilities"]


def check_finite(ckpt: Checkpoint) -> None:
    """Refuse weights holding NaN or inf: such a model answers every image the same and would report 10%."""
    bad = [name for name, t in ckpt.state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{ckpt.path}: weights hold NaN/inf values ({', '.join(bad[:4])}); this checkpoint "
                              "is unusable: use an earlier checkpoint of the run or train again")


def load_model(target: str | os.PathLike, device: torch.device | str = "cpu",
               trust_code: bool = False) -> tuple[nn.Module, Checkpoint]:
    """Rebuild a model from a run folder or checkpoint file alone (name + settings, or recorded code), in eval mode.

    A run stopped before its first epoch ended has only resume.safetensors; its weights are used then, and
    `checkpoint.kind == "resume"` says so. A model of the user's own runs its recorded code only when that code is
    trusted (digitlab.models.trust; `trust_code=True` for this call); otherwise a one-line UntrustedCodeError.
    """
    ckpt = read_weights(runs.weights_path(target))
    check_finite(ckpt)
    with trust.allowing(trust_code):
        model = build.rebuild(ckpt.info, str(ckpt.path))
    if ckpt.info.code is not None and (note := build.changed_on_disk(ckpt.info.code)):
        warnings.warn(note, DigitlabNote, stacklevel=2)
    load_state_checked(model, ckpt.state, str(ckpt.path))
    return model.to(device).eval(), ckpt


def runs_untrusted_code(target: str | os.PathLike) -> bool:
    """Whether loading this run's model would need code that is not trusted here (from the checkpoint's header alone;
    False for a registry model or a checkpoint that cannot be read: loading it says why)."""
    try:
        code = read_info(runs.weights_path(target)).code
    except Exception:  # noqa: BLE001 - a damaged run is reported by whoever loads it
        return False
    return code is not None and bool(code.text) and not trust.is_trusted(code)


@torch.inference_mode()
def class_probabilities(model: nn.Module, info: CheckpointInfo, images28: np.ndarray,
                        device: torch.device | str) -> np.ndarray:
    """(N, 28, 28) uint8 MNIST-style images -> (N, C) float32 class probabilities, via the model's own transforms."""
    x = info.preprocessing.model_input(images28, device)
    return to_probabilities(model(x), info.output).cpu().numpy()


def describe(probs: np.ndarray, classes: tuple[str, ...] | list[str], top_k: int) -> dict:
    """One image's answer: prediction (index), label, probability, and the top-k classes with theirs."""
    order = np.argsort(-probs)[: max(1, min(top_k, len(probs)))]
    best = int(order[0])
    return {
        "prediction": best,
        "label": classes[best],
        "probability": round(float(probs[best]), 6),
        "top_k": [{"class": int(c), "label": classes[int(c)], "probability": round(float(probs[c]), 6)}
                  for c in order],
    }
