"""The conv nets compute "conv -> ReLU -> max-pool" as "conv -> max-pool -> ReLU" (models/cnn.py's docstring).

That is only a speed change if it gives the same numbers bit for bit, forward and backward: each model is run
against its tutorial form (ReLU first, written out here from the model's own layers) on digit-like inputs with
blank regions (where a pooling window holds equal values), in float32 and bf16 autocast, NCHW and channels_last.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from digitlab.models import get_model


def _lenet5(m, x):
    x = m.max_pool2d(m.relu(m.conv1(x)))
    x = m.max_pool2d(m.relu(m.conv2(x)))
    x = m.relu(m.fc2(m.relu(m.fc1(torch.flatten(x, 1)))))
    return m.fc3(x)


def _cnn_small(m, x):
    x = m.pooling(F.relu(m.conv1(x)))
    x = m.pooling(F.relu(m.conv2(x)))
    return m.fc(x.flatten(1))


def _cnn_pt(m, x):
    x = F.relu(m.conv2(F.relu(m.conv1(x))))
    x = m.dropout1(F.max_pool2d(x, 2))
    x = m.dropout2(F.relu(m.fc1(torch.flatten(x, 1))))
    return F.log_softmax(m.fc2(x), dim=1)


def _fastnet(m, x):
    x = F.max_pool2d(F.relu(m.conv1(x)), 2)
    x = F.max_pool2d(F.relu(m.conv2(x)), 2)
    return m.fc2(F.relu(m.fc1(torch.flatten(x, 1))))


RELU_FIRST = {"lenet5": (_lenet5, 32), "cnn-small": (_cnn_small, 28), "cnn-pt": (_cnn_pt, 28),
              "cnn-fast": (_fastnet, 28), "cnn-wide": (_fastnet, 28)}


def _digits(size: int) -> torch.Tensor:
    """A batch of 4 with a blank (constant) border and random strokes in the middle, like normalized MNIST."""
    g = torch.Generator().manual_seed(0)
    x = torch.full((4, 1, size, size), -0.4242)
    x[:, :, 8:size - 8, 6:size - 10] = torch.randn(4, 1, size - 16, size - 16, generator=g)
    return x


def _run(model, forward, x, bf16: bool):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same dropout masks both ways (cnn-pt)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = forward(model, x)
    out.float().pow(2).sum().backward()
    return out.detach().float(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", sorted(RELU_FIRST))
@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_pool_then_relu_is_bit_identical(name: str, bf16: bool, channels_last: bool) -> None:
    relu_first, size = RELU_FIRST[name]
    torch.manual_seed(0)
    model = get_model(name, num_classes=10).train()
    x = _digits(size)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    ours, ours_grads = _run(model, lambda m, t: m(t), x, bf16)
    theirs, their_grads = _run(model, relu_first, x, bf16)
    assert torch.equal(ours, theirs)
    assert ours_grads.keys() == their_grads.keys()
    for key, grad in ours_grads.items():
        assert torch.equal(grad, their_grads[key]), key


def test_every_conv_model_is_covered() -> None:
    """A new conv net in the registry that pools after a ReLU belongs in RELU_FIRST above."""
    from digitlab.models import list_models

    for name in list_models():
        model = get_model(name, num_classes=10)
        if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            assert name in RELU_FIRST, f"{name}: add its ReLU-first form to RELU_FIRST"
