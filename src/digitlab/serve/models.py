"""The models the server answers with: loaded once per run, checked by a first forward pass, then shared.

This is the one place in serve/ that knows how a checkpoint is loaded and read (model, classes, the model's own
transforms); everything else sees `Served`: a name, classes and a probabilities function.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from digitlab.errors import CheckpointError, DigitlabError
from digitlab.inference import CheckpointInfo, class_probabilities, describe, load_model
from digitlab.models.trust import UntrustedCodeError
from digitlab.runs import weights_path
from digitlab.serve.limits import scrub_paths


@dataclass(frozen=True)
class Served:
    """One loaded model: `probabilities` maps (N, 28, 28) uint8 MNIST-style images to (N, C) probabilities."""

    run: str
    model_name: str
    classes: tuple[str, ...]
    model: torch.nn.Module
    info: CheckpointInfo  # the checkpoint's metadata: the model's transforms come from it
    device: torch.device

    def probabilities(self, images28: np.ndarray) -> np.ndarray:
        return class_probabilities(self.model, self.info, images28, self.device)

    def describe(self, probs: np.ndarray, top_k: int) -> dict:
        return describe(probs, list(self.classes), top_k)


def _load(run: str, target: Path, device: torch.device, root: Path) -> Served:
    try:
        model, ckpt = load_model(target, device)  # CheckpointInfo.from_json has checked the metadata
        classes = ckpt.info.classes
        served = Served(run, ckpt.model_name, classes, model, ckpt.info, device)
        probs = served.probabilities(np.zeros((1, 28, 28), dtype=np.uint8))  # proves transforms and shapes fit
        if probs.shape != (1, len(classes)):
            raise CheckpointError(f"the model gives {probs.shape[1]} outputs for {len(classes)} classes")
    except UntrustedCodeError as exc:  # its own advice (digitlab trust RUN) is the way on; eval would refuse too
        raise CheckpointError(f"run '{run}' cannot be served: {scrub_paths(str(exc), root)}") from None
    except DigitlabError as exc:
        raise CheckpointError(f"run '{run}' cannot be served: {scrub_paths(str(exc), root)}; "
                              f"check it with `digitlab eval {run}`") from None
    except Exception as exc:  # noqa: BLE001 - metadata of the wrong shape surfaces as KeyError, TypeError, ...
        raise CheckpointError(f"run '{run}' cannot be served: its checkpoint metadata is damaged or incomplete "
                              f"({type(exc).__name__}); check it with `digitlab eval {run}`") from None
    return served


def stamp(target: Path) -> tuple | None:
    """Which file a run's weights come from, and which version of it (inode, size, mtime): a checkpoint replaced
    (training went on, a run removed and trained again under its name) is a new stamp. None: no weights now."""
    try:
        path = weights_path(target)
        st = path.stat()
    except (DigitlabError, OSError):
        return None
    return str(path), st.st_ino, st.st_size, st.st_mtime_ns


class ModelCache:
    """Load each run's model once per version of its weights file; requests share it (inference only). A run whose
    checkpoint is replaced while the server runs is loaded again; one whose checkpoint is gone is not served."""

    def __init__(self, device: torch.device, root: Path) -> None:
        self.device = device
        self.root = root
        self.models: dict[str, tuple[tuple | None, Served]] = {}
        self.lock = threading.Lock()

    def cached(self, run: str, target: Path) -> Served | None:
        held = self.models.get(run)
        return held[1] if held is not None and held[0] is not None and held[0] == stamp(target) else None

    def get(self, run: str, target: Path) -> Served:
        with self.lock:  # one load at a time: two first requests for one run load it once
            now = stamp(target)
            held = self.models.get(run)
            if held is None or held[0] != now or now is None:
                self.models[run] = (now, _load(run, target, self.device, self.root))
            return self.models[run][1]
