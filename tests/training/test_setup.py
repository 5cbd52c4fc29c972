"""Training's data: each split normalized once into float32, the same numbers a per-batch transform gives."""

import torch

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.data.loader import TensorLoader
from digitlab.training import setup
from digitlab.training.setup import check_config, prepare_data


def test_splits_are_normalized_once_and_batches_match_the_per_batch_way(idx_dir):
    config = check_config(cfgmod.with_overrides(Config(recipe="test"), [
        "data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.batch_size=32", "data.val_size=50"]))
    data = prepare_data(config, torch.device("cpu"))
    pre = data.preprocessing
    for loader in (data.train, data.test, data.val):
        assert loader.images.dtype == torch.float32 and loader.transform is None
    assert data.train.shuffle and not data.test.shuffle
    images, labels = data.dataset.split("test")
    per_batch = TensorLoader(pre.prepare(images, "cpu"), torch.as_tensor(labels, dtype=torch.long),
                             batch_size=config.data.eval_batch_size, transform=pre.normalizer())
    for (a, ya), (b, yb) in zip(data.test, per_batch, strict=True):
        assert torch.equal(a, b) and torch.equal(ya, yb)  # bit for bit: the same elementwise ops
    assert torch.equal(data.test.images, pre.model_input(images, "cpu"))  # what `digitlab eval` feeds the model


def test_a_split_too_big_for_float32_stays_uint8_with_the_same_batches(idx_dir, monkeypatch):
    config = check_config(cfgmod.with_overrides(Config(recipe="test"), [
        "data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.batch_size=32"]))
    floats = prepare_data(config, torch.device("cpu"))
    monkeypatch.setattr(setup, "FLOAT_SPLIT_LIMIT", 1000)
    small = prepare_data(config, torch.device("cpu"))
    assert small.train.images.dtype == torch.uint8 and small.train.transform is not None
    for (a, ya), (b, yb) in zip(floats.train, small.train, strict=True):
        assert torch.equal(a, b) and torch.equal(ya, yb)
