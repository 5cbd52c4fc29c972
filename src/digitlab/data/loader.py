"""TensorLoader: a whole split as one tensor on the device, shuffled with randperm, sliced into batches.

airbench's recipe, for MNIST: the split goes to the device as uint8, resize / pad / NCHW happen once for all of it,
and training normalizes it once into float32 (setup.split_loader), so a batch is one gather (index_select) and
nothing else. (A uint8 split with a per-batch `transform` also works: 4x less memory, but three more tensor ops a
step; on the quickstart MLP that was 26 against 15 us a batch, docs/benchmarks.md.) Each epoch draws one
permutation from its own generator seeded by (seed, epoch), so the order never depends on the global RNG and a
resumed run sees exactly the same batches. Augmentation is a batch op whose randomness comes from a generator seeded
by (seed, epoch, step). The loader is just __len__ and __iter__; `start_step` skips batches already trained on when
resuming.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from digitlab.data.transforms import Augment, Normalize, resize_pad
from digitlab.errors import DataError


def prepare_images(
    images: np.ndarray | torch.Tensor,
    device: torch.device | str = "cpu",
    size: int = 0,
    pad: int = 0,
) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, S, S) uint8 on `device`, resized and padded once for a whole split."""
    t = torch.as_tensor(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    if t.dtype != torch.uint8:
        raise DataError(f"expected uint8 images, got {t.dtype}")
    return resize_pad(t.to(device), size=size, pad=pad)


def select(
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[int] = (),
    limit: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only some classes (labels unchanged), then the first `limit` examples."""
    if classes:
        keep = np.isin(labels, np.asarray(classes))
        images, labels = images[keep], labels[keep]
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def carve_validation(
    images: np.ndarray, labels: np.ndarray, val_size: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split a seeded random `val_size` examples off the training set: ((train), (val))."""
    if not 0 < val_size < len(labels):
        # a setting the data cannot meet: name the key and what the data allows (1 example must stay for training)
        hint = f"1..{len(labels) - 1}" if len(labels) > 1 else "0 (no validation split)"
        raise DataError(f"data.val_size {val_size}: the training split has {len(labels)} examples (after "
                        f"data.classes / data.limit); choose {hint}")
    order = np.random.default_rng(seed).permutation(len(labels))
    val, train = np.sort(order[:val_size]), np.sort(order[val_size:])
    return (images[train], labels[train]), (images[val], labels[val])


def epoch_generator(seed: int, *parts: int) -> torch.Generator:
    """A CPU generator for one (seed, epoch[, step]) cell: independent of the global RNG."""
    g = torch.Generator()
    key = seed
    for p in parts:
        key = (key * 1_000_003 + p + 1) % (2**63 - 1)
    g.manual_seed(key)
    return g


class TensorLoader:
    """Batches of (images, labels) from device tensors.

    images: (N, C, H, W) on the device, already float (normalized once for the split), or uint8 as prepare_images
    leaves them with a `transform` (e.g. Normalize) that turns each batch into floats; labels: (N,) int64 on the
    same device.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        augment: Augment | None = None,
        rank: int = 0,
        world_size: int = 1,
        transform: Normalize | None = None,
    ) -> None:
        if batch_size <= 0:
            raise DataError(f"batch size must be positive, got {batch_size}")
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.augment, self.transform = seed, augment, transform
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        """Choose the epoch's order, and skip `start_step` batches (resume mid-epoch)."""
        self.epoch, self.start_step = epoch, start_step

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self) -> torch.Tensor | None:
        """This epoch's permutation of example indices (None = natural order)."""
        if not self.shuffle:
            return None
        return torch.randperm(len(self.labels), generator=epoch_generator(self.seed, self.epoch))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = self.order()
        if perm is not None:
            perm = perm.to(self.images.device)
        n, bs = len(self.labels), self.batch_size
        for step in range(self.start_step, len(self)):
            lo, hi = step * bs, min((step + 1) * bs, n)
            if perm is None:
                x, y = self.images[lo:hi], self.labels[lo:hi]
            else:
                idx = perm[lo:hi]
                x, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            if self.world_size > 1:  # each rank takes its strided share of the same global batch
                x, y = x[self.rank :: self.world_size], y[self.rank :: self.world_size]
            if self.transform is not None:
                x = self.transform(x)
            if self.augment is not None and self.augment.active:
                x = self.augment(x, epoch_generator(self.seed, self.epoch, step))
            yield x, y
        self.start_step = 0

    def dicts(self) -> Iterator[dict[str, torch.Tensor]]:
        """The tutorials' create_dict_iterator habit: {"image": ..., "label": ...} per batch."""
        for x, y in self:
            yield {"image": x, "label": y}
