"""Evaluate a run or checkpoint on a dataset split: accuracy, loss, per-class table, confusion matrix."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from digitlab import runs
from digitlab.contract import CheckpointInfo, to_probabilities
from digitlab.data.loader import TensorLoader, carve_validation, select
from digitlab.data.sources import load_dataset
from digitlab.device import pick_device
from digitlab.errors import ConfigError, DigitlabNote
from digitlab.inference import load_model
from digitlab.metrics import predict_logits, summarize


def warn_if_data_changed(checkpoint: Path, ds) -> None:
    """Your own files changed since the run trained on them (their content digest differs from the run's data.json):
    the split is carved again from what is there now, so say so rather than score another test set silently."""
    folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    recorded = ds.extra.get("digest") and folder is not None and runs.json_or_empty(folder / "data.json")
    if recorded and recorded.get("digest") and recorded["digest"] != ds.extra["digest"]:
        warnings.warn(f"{ds.path}: these files changed since the run trained on them (content digest "
                      f"{recorded['digest'][:12]}... then, {ds.extra['digest'][:12]}... now): its test split is "
                      "carved from what is there now, so the figures are not the run's", DigitlabNote, stacklevel=3)


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
    info = ckpt.info
    pre, conf = info.preprocessing, info.config
    ds = load_dataset(*data_source(info, dataset, data_dir), strict=strict_data, test_size=conf.data.test_size)
    warn_if_data_changed(ckpt.path, ds)
    if split == "val":
        if not conf.data.val_size:
            raise ConfigError(f"{ckpt.path}: this run had no validation split (data.val_size = 0); use --split test")
        # the run's own validation split: carved, as training carves it, after its data.classes / data.limit
        kept = select(ds.train_images, ds.train_labels, conf.data.classes, conf.data.limit)
        _, (images, labels) = carve_validation(*kept, conf.data.val_size, conf.train.seed)
    else:
        images, labels = ds.split(split)
    if len(ds.classes) != info.num_classes:
        raise ConfigError(f"{ckpt.path}: model has {info.num_classes} classes, {ds.name} has {len(ds.classes)}")
    # the checkpoint's own preprocessing (its training statistics), whatever dataset is evaluated
    x, y = pre.model_input(images, dev), torch.as_tensor(labels, dtype=torch.long, device=dev)
    loader = TensorLoader(x, y, batch_size=conf.data.eval_batch_size)
    use_tta = conf.train.tta if tta is None else tta
    outputs, labels_t = predict_logits(model, loader, tta=use_tta, background=pre.background, output_kind=info.output)
    result = summarize(outputs, labels_t, len(ds.classes), info.output)
    result.update(checkpoint=str(ckpt.path), checkpoint_kind=ckpt.kind, model=ckpt.model_name, split=split,
                  tta=use_tta, data=ds.provenance(), classes=list(ds.classes))
    if confusion_png:
        from digitlab.plots import confusion_matrix

        confusion_matrix(np.array(result["confusion_matrix"]), list(ds.classes), confusion_png,
                         title=f"{ckpt.model_name} on {ds.name} {split}: {result['accuracy']:.2f}%")
        result["confusion_png"] = str(confusion_png)
    result["worst_mistakes"] = worst_mistakes(outputs, labels_t, info.output, n_mistakes)
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
    probs = to_probabilities(outputs, output_kind)
    conf, pred = probs.max(1)
    wrong = torch.nonzero(pred != labels).flatten()
    order = wrong[torch.argsort(conf[wrong], descending=True)][:n]
    return [{"index": int(i), "true": int(labels[i]), "predicted": int(pred[i]),
             "probability": round(float(conf[i]), 6)} for i in order]


def data_source(info: CheckpointInfo, dataset: str | None, data_dir: str | os.PathLike | None) -> tuple[str, str | None]:
    """(dataset name, data folder) to evaluate a checkpoint on: the one it was trained on unless another is named.
    The run's own data folder is reused only for its own dataset: another dataset's files are never there."""
    name = dataset or info.preprocessing.dataset
    if data_dir is None and name == info.config.data.dataset and info.config.data.data_dir:
        data_dir = info.config.data.data_dir
    return name, (str(data_dir) if data_dir else None)


def default_figure_path(target: str | os.PathLike, kind: str, split: str) -> Path | None:
    """runs/<name>/<kind>-<split>.png when evaluating a run folder; None for a bare checkpoint, or for a run folder
    that cannot be written (a read-only mount, another user's runs): evaluating it still works."""
    path = Path(target)
    return path / f"{kind}-{split}.png" if path.is_dir() and os.access(path, os.W_OK) else None
