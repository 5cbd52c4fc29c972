"""Figures, written as PNG (or SVG by the suffix) with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digitlab.errors import DigitlabError  # noqa: E402
from digitlab.io import atomic_save  # noqa: E402


def _save(fig, out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.suffix.lower() not in {".png", ".svg", ".pdf"}:
        raise DigitlabError(f"{out}: choose a .png, .svg or .pdf file name for the figure")
    try:
        return atomic_save(out, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)


def image_grid(
    images: np.ndarray, titles: Sequence[str], out: str | os.PathLike, suptitle: str = ""
) -> Path:
    """A labelled grid of (N, H, W) uint8 images, ink white on black as MNIST stores it."""
    n = len(images)
    cols = min(n, max(1, math.ceil(math.sqrt(n))))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _save(fig, out)


def loss_curves(records: Sequence[dict], out: str | os.PathLike, title: str = "") -> Path:
    """Training loss per logged step (faint raw + smoothed) and test accuracy per epoch, for one run.

    records: metrics.jsonl rows; step rows have kind="step" with step/loss, epoch rows kind="epoch".
    """
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch" and r.get("test_acc") is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    if steps:
        x = np.array([r["step"] for r in steps])
        y = np.array([r["loss"] for r in steps])
        ax1.plot(x, y, alpha=0.3, lw=0.8, label="loss (logged steps)")
        if len(y) >= 5:
            k = max(2, len(y) // 20)
            smooth = np.convolve(y, np.ones(k) / k, mode="valid")
            ax1.plot(x[k - 1 :], smooth, lw=1.6, label=f"moving mean ({k})")
        ax1.legend(fontsize=8)
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss")
    ax1.grid(alpha=0.3)
    if epochs:
        ax2.plot([r["epoch"] for r in epochs], [r["test_acc"] for r in epochs], marker="o")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy (%)")
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, out)


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], out: str | os.PathLike, title: str = "") -> Path:
    """Heatmap of a (C, C) count matrix: rows are true classes, columns predictions."""
    c = len(classes)
    fig, ax = plt.subplots(figsize=(0.55 * c + 2.5, 0.55 * c + 2))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for i in range(c):
        for j in range(c):
            v = int(matrix[i, j])
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if i == j else "black")
    ax.set_xticks(range(c), classes, rotation=45 if max(map(len, classes)) > 2 else 0, fontsize=8)
    ax.set_yticks(range(c), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _save(fig, out)


def explanation(image: np.ndarray, probs: np.ndarray, classes: Sequence[str], out: str | os.PathLike,
                title: str = "") -> Path:
    """The preprocessed 28x28 input beside the model's ten probability bars."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 3), gridspec_kw={"width_ratios": [1, 1.6]})
    ax1.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax1.set_title("model input (28x28)", fontsize=9)
    ax1.axis("off")
    best = int(np.argmax(probs))
    colors = ["tab:blue" if i == best else "tab:gray" for i in range(len(probs))]
    ax2.bar(range(len(probs)), probs, color=colors)
    ax2.set_xticks(range(len(probs)), classes, fontsize=8)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("probability")
    ax2.set_title(f"prediction: {classes[best]} ({probs[best]:.1%})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def mistakes_gallery(images: np.ndarray, true: Sequence[int], pred: Sequence[int], prob: Sequence[float],
                     classes: Sequence[str], out: str | os.PathLike, title: str = "") -> Path:
    """The worst mistakes: image, true label, predicted label and the probability given to it."""
    titles = [f"true {classes[t]} / pred {classes[p]}\n{q:.0%}" for t, p, q in zip(true, pred, prob)]
    return image_grid(images, titles, out, suptitle=title)


def overlay_runs(runs: Sequence[tuple[str, list[dict]]], out: str | os.PathLike) -> Path:
    """Several runs in one figure: loss per step (faint raw + smoothed) and test accuracy per epoch."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, records) in enumerate(runs):
        color = f"C{i % 10}"
        steps = [r for r in records if r.get("kind") == "step"]
        epochs = [r for r in records if r.get("kind") == "epoch" and r.get("test_acc") is not None]
        if steps:
            x = np.array([r["step"] for r in steps])
            y = np.array([r["loss"] for r in steps])
            ax1.plot(x, y, color=color, alpha=0.25, lw=0.7)
            k = max(1, len(y) // 20)
            if len(y) >= 2 * k and k > 1:
                ax1.plot(x[k - 1 :], np.convolve(y, np.ones(k) / k, mode="valid"), color=color, lw=1.6, label=label)
            else:
                ax1.plot(x, y, color=color, lw=1.6, label=label)
        if epochs:
            ax2.plot([r["epoch"] for r in epochs], [r["test_acc"] for r in epochs], marker="o", color=color,
                     label=label)
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy (%)")
    ax2.grid(alpha=0.3)
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, out)
