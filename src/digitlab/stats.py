"""Descriptive statistics of a dataset, for `digitlab data info` and for the records a run keeps."""

from __future__ import annotations

import numpy as np
import torch

from digitlab.data.sources import Dataset


def split_stats(images: np.ndarray, labels: np.ndarray, n_classes: int) -> dict:
    """n, shape, dtype, class counts and the pixel mean/std of x/255 (what Normalize needs)."""
    pixels = torch.from_numpy(np.ascontiguousarray(images))
    # float64 sums: 47M pixels in float32 lose digits in the mean
    mean = pixels.double().mean().item() / 255.0 if len(pixels) else 0.0
    std = pixels.double().std().item() / 255.0 if len(pixels) > 1 else 0.0
    return {
        "n": int(len(labels)),
        "shape": list(images.shape),
        "dtype": str(images.dtype),
        "class_counts": np.bincount(labels, minlength=n_classes).astype(int).tolist(),
        "pixel_mean": round(mean, 6),
        "pixel_std": round(std, 6),
    }


def dataset_info(ds: Dataset) -> dict:
    """The JSON `digitlab data info` prints."""
    return {
        **ds.provenance(),
        "verify_note": ds.verify_note,
        "files": ds.files,
        "classes": list(ds.classes),
        "normalize": {"mean": ds.mean, "std": ds.std},
        "splits": {
            split: split_stats(*ds.split(split), n_classes=len(ds.classes)) for split in ("train", "test")
        },
    }
