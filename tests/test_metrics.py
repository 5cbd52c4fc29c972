"""predict_logits / quick_eval: the whole split's outputs, in order, whatever the batch size, sharding or TTA."""

import pytest
import torch

from digitlab.data.loader import TensorLoader, prepare_images
from digitlab.data.transforms import Normalize
from digitlab.errors import DataError
from digitlab.losses import per_sample_loss
from digitlab.metrics import predict_logits, quick_eval
from digitlab.models import get_model
from tests.helpers import synthetic_digits


@pytest.fixture(scope="module")
def split():
    images, labels = synthetic_digits(103, seed=5)  # 103: no batch size below divides it
    x = Normalize(0.13, 0.31)(prepare_images(images))
    return x, torch.as_tensor(labels, dtype=torch.long)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return get_model("mlp").eval()


@pytest.mark.parametrize("batch_size", [1, 10, 64, 1000])
def test_outputs_are_every_example_in_order(split, model, batch_size):
    x, y = split
    with torch.no_grad():
        expected = model(x)
    outputs, labels = predict_logits(model, TensorLoader(x, y, batch_size=batch_size))
    assert outputs.shape == (103, 10) and torch.equal(labels, y)
    torch.testing.assert_close(outputs, expected, rtol=1e-5, atol=1e-5)  # batch size may change float rounding


def test_a_ranks_share_is_only_its_own_examples(split, model):
    x, y = split
    loader = TensorLoader(x, y, batch_size=10, rank=1, world_size=2)  # every second example of each batch
    outputs, labels = predict_logits(model, loader)
    ours = torch.cat([torch.arange(lo, min(lo + 10, 103))[1::2] for lo in range(0, 103, 10)])
    assert torch.equal(labels, y[ours]) and outputs.shape == (len(ours), 10)


def test_tta_and_the_quick_scores(split, model):
    x, y = split
    loader = TensorLoader(x, y, batch_size=32)
    log_probs, _ = predict_logits(model, loader, tta=True, background=-0.13 / 0.31)
    assert log_probs.shape == (103, 10) and torch.allclose(log_probs.exp().sum(1), torch.ones(103), atol=1e-5)
    acc, loss = quick_eval(model, loader, "logits")
    outputs, _ = predict_logits(model, loader)
    assert acc == round(100.0 * (outputs.argmax(1) == y).double().mean().item(), 4)
    assert loss == round(per_sample_loss(outputs, y, "logits").mean().item(), 6)


def test_an_empty_split_is_a_clear_error(model):
    empty = TensorLoader(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), batch_size=8)
    with pytest.raises(DataError, match="no examples"):
        predict_logits(model, empty)


def test_model_mode_is_restored(split):
    x, y = split
    net = get_model("mlp").train()
    predict_logits(net, TensorLoader(x, y, batch_size=50))
    assert net.training
