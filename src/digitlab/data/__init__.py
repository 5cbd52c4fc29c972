"""Data: find, verify, download and load datasets; keep them as device tensors; batch and augment them."""

from digitlab.data.loader import TensorLoader, prepare_images
from digitlab.data.sources import DATASETS, Dataset, load_dataset, resolve

__all__ = ["DATASETS", "Dataset", "TensorLoader", "load_dataset", "prepare_images", "resolve"]
