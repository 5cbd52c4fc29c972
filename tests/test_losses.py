import pytest
import torch
import torch.nn.functional as F

from digitlab.config import LossConfig
from digitlab.errors import ConfigError
from digitlab.losses import LossInputWarning, looks_normalized, make_loss


@pytest.fixture()
def batch():
    torch.manual_seed(0)
    return torch.randn(8, 10), torch.randint(0, 10, (8,))


def test_ce_matches_torch(batch):
    logits, y = batch
    w = tuple(float(i + 1) for i in range(10))
    loss = make_loss(LossConfig(name="ce", label_smoothing=0.1, class_weights=w, reduction="sum"))
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1, reduction="sum")
    assert torch.allclose(loss(logits, y), ref(logits, y))


def test_ce_ignore_index(batch):
    logits, y = batch
    y = y.clone()
    y[:3] = -100
    assert torch.allclose(make_loss(LossConfig())(logits, y), F.cross_entropy(logits[3:], y[3:]))


def test_ce_soft_targets(batch):
    logits, y = batch
    soft = F.one_hot(y, 10).float() * 0.9 + 0.01
    assert torch.allclose(make_loss(LossConfig())(logits, soft), F.cross_entropy(logits, soft))


def test_nll_and_softmax_ce(batch):
    logits, y = batch
    assert torch.allclose(make_loss(LossConfig(name="nll"))(F.log_softmax(logits, 1), y),
                          F.nll_loss(F.log_softmax(logits, 1), y))
    # MindSpore's SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean') = mean of -log softmax[label]
    manual = -(F.log_softmax(logits, 1)[torch.arange(8), y]).mean()
    assert torch.allclose(make_loss(LossConfig(name="softmax-ce"))(logits, y), manual)


def test_classic_mistake_warns(batch):
    logits, y = batch
    loss = make_loss(LossConfig(name="ce"))
    with pytest.warns(LossInputWarning, match="log-probs"):
        loss(F.log_softmax(logits, 1), y)
    assert looks_normalized(torch.softmax(logits, 1)) == "probs"
    assert looks_normalized(logits) is None


def test_bad_loss_configs():
    with pytest.raises(ConfigError):
        make_loss(LossConfig(name="hinge"))
    with pytest.raises(ConfigError):
        make_loss(LossConfig(name="softmax-ce", label_smoothing=0.1))


def test_mse_on_one_hot_targets_matches_torch():
    from digitlab.config import LossConfig

    outputs = torch.randn(4, 10)
    targets = torch.tensor([1, 0, 9, 3])
    expected = torch.nn.MSELoss()(outputs, torch.nn.functional.one_hot(targets, 10).float())
    assert torch.allclose(make_loss(LossConfig(name="mse"))(outputs, targets), expected)
    summed = make_loss(LossConfig(name="mse", reduction="sum"))(outputs, targets)
    assert torch.allclose(summed, expected * 4)
