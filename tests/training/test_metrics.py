"""training/metrics.py: predict_logits in float32 and under bf16 autocast."""

from __future__ import annotations

import torch

from digitlab.data.loader import TensorLoader
from digitlab.models import get_model
from digitlab.training.metrics import predict_logits, quick_eval


def _loader() -> TensorLoader:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(64, 1, 28, 28, generator=g)
    return TensorLoader(images, torch.randint(0, 10, (64,), generator=g), batch_size=16)


def test_bf16_outputs_are_float32_close_to_float32_and_really_bf16():
    torch.manual_seed(0)
    model = get_model("cnn-small", num_classes=10).train()
    full, labels = predict_logits(model, _loader())
    half, labels2 = predict_logits(model, _loader(), bf16=True)
    assert full.dtype == half.dtype == torch.float32 and torch.equal(labels, labels2)
    assert not torch.equal(full, half)  # the forward really ran in bf16 ...
    assert torch.allclose(full, half, atol=0.1, rtol=0.05)  # ... and gives nearly the same outputs
    assert model.training  # left as it was found


def test_bf16_with_test_time_augmentation_and_quick_eval():
    torch.manual_seed(0)
    model = get_model("cnn-fast", num_classes=10)
    out, _ = predict_logits(model, _loader(), tta=True, background=-0.42, bf16=True)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    acc, loss = quick_eval(model, _loader(), "logits", bf16=True)
    assert 0 <= acc <= 100 and loss > 0
