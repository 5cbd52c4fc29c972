"""TensorBoard logging (--tensorboard): scalars per logged step and per epoch, and once per epoch a grid of
misclassified test digits, in runs/<name>/tb/ for `tensorboard --logdir runs`."""

from __future__ import annotations

from pathlib import Path

import torch

from digitlab.contract import Preprocessing
from digitlab.data.loader import TensorLoader
from digitlab.errors import ConfigError
from digitlab.records import EvalRecord, StepRecord


class TensorBoardLog:
    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install 'digitlab[tensorboard]'") from None
        self.writer = SummaryWriter(log_dir=str(run_dir / "tb"))

    def step(self, record: StepRecord) -> None:
        self.writer.add_scalar("train/loss", record.loss, record.step)
        self.writer.add_scalar("train/lr", record.lr, record.step)

    def epoch(self, record: EvalRecord, model: torch.nn.Module, test: TensorLoader, pre: Preprocessing,
              n: int = 32) -> None:
        step = record.step
        for key in ("test_acc", "test_loss", "val_acc", "val_loss"):
            if getattr(record, key) is not None:
                self.writer.add_scalar(f"eval/{key}", getattr(record, key), step)
        self.writer.add_image("eval/misclassified", self._mistakes(model, test, pre, n), step)
        self.writer.flush()

    @torch.inference_mode()
    def _mistakes(self, model: torch.nn.Module, test: TensorLoader, pre: Preprocessing, n: int) -> torch.Tensor:
        """(3, H, W) grid of up to n misclassified test images, back in 0..1 pixel values."""
        was_training = model.training
        model.eval()
        wrong = []
        for x, y in test:
            miss = model(x).argmax(1) != y
            wrong.append(x[miss][: n - sum(len(w) for w in wrong)])
            if sum(len(w) for w in wrong) >= n:
                break
        model.train(was_training)
        images = torch.cat(wrong) if wrong else torch.zeros(0, 1, 28, 28)
        if pre.normalize:
            images = images * pre.std + pre.mean
        images = images.clamp(0, 1).cpu()
        if not len(images):
            return torch.zeros(3, 28, 28)
        cols = 8
        rows = -(-len(images) // cols)
        h, w = images.shape[-2:]
        grid = torch.zeros(1, rows * (h + 2), cols * (w + 2))
        for i, img in enumerate(images):
            r, c = divmod(i, cols)
            grid[:, r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (w + 2) + 1 : c * (w + 2) + 1 + w] = img
        return grid.expand(3, -1, -1)

    def close(self) -> None:
        self.writer.close()
