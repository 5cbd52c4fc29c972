"""Evaluate a run or checkpoint on a dataset split: accuracy, loss, per-class table, confusion matrix."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from digitlab import runs
from digitlab.data.loader import TensorLoader, carve_validation
from digitlab.data.sources import load_dataset
from digitlab.device import pick_device
from digitlab.errors import CheckpointError, ConfigError
from digitlab.models import get_model, model_spec
from digitlab.training.checkpoint import Checkpoint, load_state_checked, read_weights
from digitlab.training.engine import background_value, tensors
from digitlab.training.metrics import predict_logits, summarize


def load_model(target: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[nn.Module, Checkpoint]:
    """Rebuild a model from a run folder or checkpoint file alone (name + config inside), in eval mode."""
    ckpt = read_weights(runs.weights_path(target))
    try:
        model_spec(ckpt.model_name)
    except ConfigError:
        raise CheckpointError(f"{ckpt.path}: model '{ckpt.model_name}' is not in this digitlab's registry") from None
    model = get_model(ckpt.model_name, num_classes=int(ckpt.info.get("num_classes", 10)))
    load_state_checked(model, ckpt.state, str(ckpt.path))
    return model.to(device).eval(), ckpt


def evaluate(
    target: str | os.PathLike,
    dataset: str | None = None,
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    confusion_png: str | os.PathLike | None = None,
    tta: bool | None = None,
    strict_data: bool = False,
    mistakes_png: str | os.PathLike | None = None,
    n_mistakes: int = 16,
) -> dict:
    """Metrics dict: accuracy (%), avg_loss, per_class, confusion_matrix, n, plus provenance."""
    dev = pick_device(device)
    model, ckpt = load_model(target, dev)
    pre = ckpt.info["preprocessing"]
    conf = ckpt.info.get("config", {})
    data_conf = conf.get("data", {})
    name = dataset or pre.get("dataset") or "mnist"
    data_dir = data_dir or data_conf.get("data_dir") or None
    ds = load_dataset(name, data_dir, strict=strict_data)
    if split == "val":
        val_size = int(data_conf.get("val_size", 0))
        if not val_size:
            raise ConfigError(f"{ckpt.path}: this run had no validation split (data.val_size = 0); use --split test")
        _, (images, labels) = carve_validation(ds.train_images, ds.train_labels, val_size,
                                               int(conf.get("train", {}).get("seed", 0)))
    else:
        images, labels = ds.split(split)
    if len(ds.classes) != int(ckpt.info.get("num_classes", 10)):
        raise ConfigError(f"{ckpt.path}: model has {ckpt.info.get('num_classes')} classes, {name} has {len(ds.classes)}")
    # the checkpoint's own preprocessing, with the evaluated dataset's statistics only if it was trained on it
    x, y = tensors(images, labels, pre, dev)
    loader = TensorLoader(x, y, batch_size=int(data_conf.get("eval_batch_size", 1000)))
    use_tta = bool(conf.get("train", {}).get("tta", False)) if tta is None else tta
    outputs, labels_t = predict_logits(model, loader, tta=use_tta, background=background_value(pre))
    result = summarize(outputs, labels_t, len(ds.classes), ckpt.info.get("output", "logits"))
    result.update(checkpoint=str(ckpt.path), model=ckpt.model_name, split=split, tta=use_tta,
                  data=ds.provenance(), classes=list(ds.classes))
    if confusion_png:
        from digitlab.plots import confusion_matrix

        confusion_matrix(np.array(result["confusion_matrix"]), list(ds.classes), confusion_png,
                         title=f"{ckpt.model_name} on {ds.name} {split}: {result['accuracy']:.2f}%")
        result["confusion_png"] = str(confusion_png)
    result["worst_mistakes"] = worst_mistakes(outputs, labels_t, ckpt.info.get("output", "logits"), n_mistakes)
    if mistakes_png and result["worst_mistakes"]:
        from digitlab.plots import mistakes_gallery

        rows = result["worst_mistakes"]
        mistakes_gallery(images[[r["index"] for r in rows]], [r["true"] for r in rows], [r["predicted"] for r in rows],
                         [r["probability"] for r in rows], list(ds.classes), mistakes_png,
                         title=f"{ckpt.model_name}: the {len(rows)} most confident mistakes on {ds.name} {split}")
        result["mistakes_png"] = str(mistakes_png)
    return result


def worst_mistakes(outputs: torch.Tensor, labels: torch.Tensor, output_kind: str, n: int) -> list[dict]:
    """The n misclassified examples the model was most sure about: index, true, predicted, probability."""
    probs = outputs.exp() if output_kind == "log_probs" else torch.softmax(outputs, 1)
    conf, pred = probs.max(1)
    wrong = torch.nonzero(pred != labels).flatten()
    order = wrong[torch.argsort(conf[wrong], descending=True)][:n]
    return [{"index": int(i), "true": int(labels[i]), "predicted": int(pred[i]),
             "probability": round(float(conf[i]), 6)} for i in order]


def default_figure_path(target: str | os.PathLike, kind: str, split: str) -> Path | None:
    """runs/<name>/<kind>-<split>.png when evaluating a run folder; None for a bare checkpoint."""
    path = Path(target)
    return path / f"{kind}-{split}.png" if path.is_dir() else None
