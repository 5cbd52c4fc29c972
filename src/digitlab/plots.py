"""Figures, written as PNG (or SVG/PDF by the suffix) without a display: image grids, the confusion matrix, the
explanation of one prediction, the mistakes gallery; training curves live in digitlab.curves.

Each figure has a build_* function returning the matplotlib Figure (tests read its axes, limits, ticks and titles)
and a wrapper that writes it with save_figure (digitlab.io.atomic_save). Figures are plain matplotlib.figure.Figure
objects (no pyplot state, so nothing to close and nothing shared between threads); constrained layout keeps titles,
labels and tick labels from overlapping.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from digitlab.errors import DigitlabError
from digitlab.io import atomic_save

SUFFIXES = {".png", ".svg", ".pdf"}


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure with constrained layout (titles, labels and legends placed so they do not collide)."""
    return Figure(figsize=figsize, layout="constrained")


def save_figure(fig: Figure, out: str | os.PathLike) -> Path:
    """Write a figure atomically; the format follows the suffix (.png, .svg, .pdf)."""
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise DigitlabError(f"{out}: choose a .png, .svg or .pdf file name for the figure")
    return atomic_save(out, lambda tmp: fig.savefig(tmp, dpi=100, format=out.suffix.lower()[1:]))


def image_grid(
    images: np.ndarray, titles: Sequence[str], out: str | os.PathLike, suptitle: str = ""
) -> Path:
    """A labelled grid of (N, H, W) uint8 images, ink white on black as MNIST stores it."""
    n = len(images)
    cols = min(n, max(1, math.ceil(math.sqrt(n))))
    rows = max(1, math.ceil(n / cols))
    fig = new_figure(figsize=(1.4 * cols, 1.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return save_figure(fig, out)


def build_confusion_matrix(matrix: np.ndarray, classes: Sequence[str], title: str = "") -> Figure:
    """Heatmap of a (C, C) count matrix: rows are true classes, columns predictions. Colour is log(1 + count) so
    a few mistakes still show beside thousands of correct answers; the colour bar is labelled in counts."""
    c = len(classes)
    fig = new_figure(figsize=(0.55 * c + 3.2, 0.55 * c + 2))
    ax = fig.subplots()
    image = ax.imshow(np.log1p(matrix), cmap="Blues")
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
    bar = fig.colorbar(image, ax=ax, shrink=0.85)
    top = int(matrix.max()) if matrix.size else 0
    counts = sorted({v for v in (0, 1, 10, 100, 1000, 10000, top) if v <= top})
    bar.set_ticks([math.log1p(v) for v in counts], labels=[f"{v:,}" for v in counts])
    bar.set_label("images (log scale)")
    if title:
        ax.set_title(title)
    return fig


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], out: str | os.PathLike, title: str = "") -> Path:
    return save_figure(build_confusion_matrix(matrix, classes, title), out)


def build_explanation(image: np.ndarray, probs: np.ndarray, classes: Sequence[str], title: str = "",
                      original: np.ndarray | None = None) -> Figure:
    """The image as given (`original`: its decoded grayscale, (H, W) in [0, 1] or uint8), the 28x28 input the model
    saw, and the model's probability per class; the prediction is the bars' title, the file name the figure's."""
    panels = 3 if original is not None else 2
    fig = new_figure(figsize=(9.5 if original is not None else 7, 3.3))
    axes = fig.subplots(1, panels, width_ratios=[1] * (panels - 1) + [1.6])
    if original is not None:
        top = 1.0 if original.dtype.kind == "f" else 255
        axes[0].imshow(original, cmap="gray", vmin=0, vmax=top)
        axes[0].set_title(f"your image ({original.shape[1]}x{original.shape[0]})", fontsize=9)
    ax_in, ax_bars = axes[-2], axes[-1]
    ax_in.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax_in.set_title("model input (28x28)", fontsize=9)
    for ax in axes[:-1]:  # a frame without ticks: a white photo stays visible against the white page
        ax.set_xticks([])
        ax.set_yticks([])
    best = int(np.argmax(probs))
    colors = ["tab:blue" if i == best else "tab:gray" for i in range(len(probs))]
    ax_bars.bar(range(len(probs)), probs, color=colors)
    ax_bars.set_xticks(range(len(probs)), classes, fontsize=8)
    ax_bars.set_xlabel("class", fontsize=9)
    ax_bars.tick_params(axis="y", labelsize=8)
    ax_bars.set_ylim(0, 1)
    ax_bars.set_ylabel("probability", fontsize=9)
    ax_bars.set_title(f"prediction: {classes[best]} ({probs[best]:.1%})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def explanation(image: np.ndarray, probs: np.ndarray, classes: Sequence[str], out: str | os.PathLike,
                title: str = "", original: np.ndarray | None = None) -> Path:
    return save_figure(build_explanation(image, probs, classes, title, original), out)


def mistakes_gallery(images: np.ndarray, true: Sequence[int], pred: Sequence[int], prob: Sequence[float],
                     classes: Sequence[str], out: str | os.PathLike, title: str = "") -> Path:
    """The worst mistakes: image, true label, predicted label and the probability given to it."""
    titles = [f"true {classes[t]} / pred {classes[p]}\n{q:.0%}" for t, p, q in zip(true, pred, prob)]
    return image_grid(images, titles, out, suptitle=title)
