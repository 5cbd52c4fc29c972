"""Small generated datasets for tests: no network, no ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab.data import idx

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def synthetic_digits(n: int, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size) uint8 images and (n,) uint8 labels that a small model can learn.

    Class k is a bright bar whose position and orientation depend on k, jittered by a pixel or two and
    sprinkled with noise, so the task is easy but not trivial.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, size, size)).astype(np.uint8)
    for i, k in enumerate(labels):
        dy, dx = rng.integers(-1, 2, 2)
        pos = 3 + 4 * (int(k) % 5) + dy
        lo, hi = 4 + dx, size - 4 + dx
        if k < 5:
            images[i, pos : pos + 3, lo:hi] = 255
        else:
            images[i, lo:hi, pos : pos + 3] = 255
    return images, labels


def write_dataset(folder: Path, n_train: int = 200, n_test: int = 100, seed: int = 0, gz: bool = True,
                  dotted: bool = False) -> Path:
    """Write the four MNIST-named IDX files of a synthetic dataset into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    xtr, ytr = synthetic_digits(n_train, seed)
    xte, yte = synthetic_digits(n_test, seed + 1)
    suffix = ".gz" if gz else ""
    for stem, arr in (("train-images-idx3-ubyte", xtr), ("train-labels-idx1-ubyte", ytr),
                      ("t10k-images-idx3-ubyte", xte), ("t10k-labels-idx1-ubyte", yte)):
        name = stem.replace("-idx", ".idx") if dotted else stem
        idx.write(folder / (name + suffix), arr)
    return folder


def make_info(model: str, dataset: str = "idx", mean: float = 0.1, std: float = 0.3, **fields):
    """A CheckpointInfo for a registry model, as training would write it (for checkpoint-level tests)."""
    from digitlab.config import Config, ModelConfig
    from digitlab.contract import CheckpointInfo, Preprocessing
    from digitlab.models import model_spec

    spec = model_spec(model)
    pre = Preprocessing(dataset=dataset, input_size=spec.input_size, resize=spec.input_size, pad=0, mean=mean, std=std,
                        normalize=True, classes=tuple(str(i) for i in range(10)))
    return CheckpointInfo(model=model, num_classes=10, output=spec.output, preprocessing=pre,
                          config=Config(model=ModelConfig(name=model)), **fields)
