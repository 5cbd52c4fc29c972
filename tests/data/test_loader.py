import numpy as np
import pytest
import torch

from digitlab.data.loader import TensorLoader, carve_validation, prepare_images, select
from digitlab.data.transforms import Augment, Normalize
from digitlab.errors import DataError
from tests.helpers import synthetic_digits


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(1000, seed=3)


def test_prepare_keeps_uint8_and_normalize_per_batch(digits):
    images, _ = digits
    u8 = prepare_images(images)
    assert u8.shape == (1000, 1, 28, 28) and u8.dtype == torch.uint8  # 4x smaller than float32 on the device
    pixels = images / 255.0
    mean, std = float(pixels.mean()), float(pixels.std())
    x = Normalize(mean, std)(u8)
    assert x.dtype == torch.float32 and abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    raw = Normalize(mean, std, normalize=False)(u8)
    assert raw.min().item() >= 0 and raw.max().item() <= 1
    np.testing.assert_allclose(raw[5, 0].numpy(), images[5] / 255.0, atol=1e-7)
    # the same numbers as torchvision's ToTensor + Normalize (to float rounding)
    ref = (torch.as_tensor(images[:3]).float().div(255).sub(mean).div(std)).unsqueeze(1)
    assert torch.allclose(x[:3], ref, atol=1e-5)


def test_resize_and_pad(digits):
    images, _ = digits
    u8 = prepare_images(images, size=32)
    assert u8.shape == (1000, 1, 32, 32) and u8.dtype == torch.uint8  # resized to whole levels, as MindSpore
    p = Normalize(0.13, 0.31)(prepare_images(images, pad=2))
    assert p.shape == (1000, 1, 32, 32)
    assert torch.allclose(p[:, :, 0, :], torch.tensor(-0.13 / 0.31))  # padding is background, not ink


def test_uint8_required():
    with pytest.raises(DataError, match="uint8"):
        prepare_images(np.zeros((2, 28, 28), np.float32))


def make_loader(digits, **kw):
    images, labels = digits
    return TensorLoader(prepare_images(images), torch.as_tensor(labels, dtype=torch.long),
                        transform=Normalize(0.1, 0.3), **kw)


def test_batches_len_and_drop_last(digits):
    loader = make_loader(digits, batch_size=64)
    batches = list(loader)
    assert len(loader) == len(batches) == 16
    assert batches[-1][0].shape == (1000 - 15 * 64, 1, 28, 28)
    assert batches[0][1].dtype == torch.long
    dropped = make_loader(digits, batch_size=64, drop_last=True)
    assert len(dropped) == len(list(dropped)) == 15


def test_no_shuffle_keeps_order(digits):
    loader = make_loader(digits, batch_size=100)
    labels = torch.cat([y for _, y in loader])
    np.testing.assert_array_equal(labels.numpy(), digits[1])


def test_shuffle_determinism(digits):
    def order(seed, epoch):
        loader = make_loader(digits, batch_size=100, shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return torch.cat([y for _, y in loader])

    a, b = order(1, 0), order(1, 0)
    assert torch.equal(a, b)
    assert not torch.equal(a, order(2, 0))
    assert not torch.equal(a, order(1, 1))
    assert sorted(a.tolist()) == sorted(digits[1].tolist())  # a permutation: every example once


def test_shuffle_ignores_global_rng(digits):
    loader = make_loader(digits, batch_size=100, shuffle=True, seed=5)
    torch.manual_seed(0)
    a = torch.cat([y for _, y in loader])
    torch.manual_seed(123)
    torch.rand(10)
    b = torch.cat([y for _, y in loader])
    assert torch.equal(a, b)


def test_start_step_resumes_mid_epoch(digits):
    loader = make_loader(digits, batch_size=64, shuffle=True, seed=2)
    loader.set_epoch(3)
    full = list(loader)
    loader.set_epoch(3, start_step=5)
    tail = list(loader)
    assert len(tail) == len(full) - 5
    for (xa, ya), (xb, yb) in zip(full[5:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert len(list(loader)) == len(full)  # start_step applies once


def test_augment_is_batched_reproducible_and_keeps_shape(digits):
    background = -0.1 / 0.3
    aug = Augment(shift=2, rotate=10, scale=0.1, background=background)
    loader = make_loader(digits, batch_size=50, shuffle=True, augment=aug)
    plain = make_loader(digits, batch_size=50, shuffle=True)
    xa, _ = next(iter(loader))
    xb, _ = next(iter(loader))
    xp, _ = next(iter(plain))
    assert xa.shape == xp.shape and torch.equal(xa, xb)
    assert not torch.allclose(xa, xp)
    # a blank image stays blank (padding is background)
    blank = torch.full((3, 1, 28, 28), background)
    assert torch.allclose(aug(blank, torch.Generator().manual_seed(0)), blank, atol=1e-5)


def test_augment_shift_only_moves_ink():
    aug = Augment(shift=3)
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10:14, 10:14] = 1
    y = aug(x, torch.Generator().manual_seed(1))
    assert abs(y.sum().item() - x.sum().item()) < 1.0  # ink conserved (bilinear sub-pixel moves)


def test_dict_form(digits):
    batch = next(make_loader(digits, batch_size=8).dicts())
    assert set(batch) == {"image", "label"} and batch["image"].shape == (8, 1, 28, 28)


def test_select_and_validation(digits):
    images, labels = digits
    x, y = select(images, labels, classes=[3, 5])
    assert set(np.unique(y)) == {3, 5}
    x, y = select(images, labels, limit=10)
    assert len(y) == 10
    (xt, yt), (xv, yv) = carve_validation(images, labels, 100, seed=0)
    assert len(yv) == 100 and len(yt) == 900
    (_, yv2) = carve_validation(images, labels, 100, seed=0)[1]
    assert np.array_equal(yv, yv2)
    with pytest.raises(DataError):
        carve_validation(images, labels, 1000, seed=0)


def test_world_size_shards_cover_global_batch(digits):
    full = make_loader(digits, batch_size=64, shuffle=True, seed=9)
    shards = [make_loader(digits, batch_size=64, shuffle=True, seed=9, rank=r, world_size=2) for r in (0, 1)]
    for (_, y), (_, y0), (_, y1) in zip(full, *shards):
        assert torch.equal(torch.sort(torch.cat([y0, y1])).values, torch.sort(y).values)
