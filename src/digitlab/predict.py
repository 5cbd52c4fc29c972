"""Predict digits: for a person's image files (MNIST-style preprocessing) or for dataset samples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from digitlab.data.sources import load_dataset
from digitlab.device import pick_device
from digitlab.errors import DigitlabError
from digitlab.evaluate import load_model
from digitlab.preprocess import image_files, read_image, to_mnist
from digitlab.training.checkpoint import Checkpoint
from digitlab.training.engine import tensors


@torch.inference_mode()
def probabilities(model: torch.nn.Module, ckpt: Checkpoint, images28: np.ndarray,
                  device: torch.device) -> np.ndarray:
    """(N, 28, 28) uint8 MNIST-style images -> (N, C) class probabilities, via the model's own transforms."""
    x, _ = tensors(images28, np.zeros(len(images28), dtype=np.int64), ckpt.info["preprocessing"], device)
    out = model(x).float()
    probs = out.exp() if ckpt.info.get("output") == "log_probs" else torch.softmax(out, dim=1)
    return probs.cpu().numpy()


def describe(probs: np.ndarray, classes: list[str], top_k: int) -> dict:
    order = np.argsort(-probs)[: max(1, min(top_k, len(probs)))]
    best = int(order[0])
    return {
        "prediction": best,
        "label": classes[best],
        "probability": round(float(probs[best]), 6),
        "top_k": [{"class": int(c), "label": classes[int(c)], "probability": round(float(probs[c]), 6)}
                  for c in order],
    }


def predict_files(
    target: str | os.PathLike,
    paths: list[str | os.PathLike],
    top_k: int = 3,
    device: str = "auto",
    explain_dir: str | os.PathLike | None = None,
) -> tuple[list[dict], list[dict]]:
    """Returns (results, errors): one result per readable image, one error {file, error} per bad one."""
    dev = pick_device(device)
    model, ckpt = load_model(target, dev)
    classes = ckpt.info["preprocessing"].get("classes") or [str(i) for i in range(10)]
    files = image_files(paths)
    if not files:
        raise DigitlabError(f"no image files in {', '.join(map(str, paths))} (PNG, JPEG, BMP, GIF, WebP, TIFF)")
    prepared, names, errors = [], [], []
    for f in files:
        try:
            prepared.append(to_mnist(read_image(f), str(f)))
            names.append(str(f))
        except DigitlabError as exc:
            errors.append({"file": str(f), "error": str(exc)})
    results = []
    if prepared:
        batch = np.stack(prepared)
        probs = probabilities(model, ckpt, batch, dev)
        for name, p, img in zip(names, probs, batch):
            results.append({"file": name, **describe(p, classes, top_k)})
            if explain_dir is not None:
                from digitlab.plots import explanation

                out = Path(explain_dir) / (Path(name).stem + ".explain.png")
                explanation(img, p, classes, out, title=Path(name).name)
                results[-1]["explain"] = str(out)
    return results, errors


def predict_dataset(target: str | os.PathLike, dataset: str | None = None, split: str = "test", n: int = 10,
                    data_dir: str | os.PathLike | None = None, device: str = "auto") -> dict:
    """The tutorials' check: Predicted vs Actual for the first n samples of a split."""
    dev = pick_device(device)
    model, ckpt = load_model(target, dev)
    name = dataset or ckpt.info["preprocessing"].get("dataset") or "mnist"
    ds = load_dataset(name, data_dir)
    images, labels = ds.split(split)
    probs = probabilities(model, ckpt, images[:n], dev)
    return {"predicted": probs.argmax(1).tolist(), "actual": labels[:n].tolist(),
            "probability": [round(float(p.max()), 6) for p in probs], "dataset": ds.name, "split": split,
            "data": ds.provenance()}
