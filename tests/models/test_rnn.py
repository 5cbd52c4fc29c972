"""The recurrent models read an image as a sequence of rows (time steps) of pixels (features)."""

from __future__ import annotations

import pytest
import torch

from digitlab.models import get_model


@pytest.mark.parametrize("name,cell", [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
def test_rows_are_time_steps(name, cell):
    torch.manual_seed(0)
    model = get_model(name).eval()
    assert isinstance(model.rnn, cell) and model.rnn.input_size == 28 and model.rnn.batch_first
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        out, _ = model.rnn(x[:, 0])  # (B, 28 rows, 28 pixels): row t is time step t
        assert torch.allclose(model(x), model.fc(out[:, -1]), atol=1e-6)
        # the order of the rows matters (a sequence, not a bag of rows)
        assert not torch.allclose(model(x), model(x.flip(2)), atol=1e-4)
        # channels_last memory gives the same answer
        assert torch.allclose(model(x.contiguous(memory_format=torch.channels_last)), model(x), atol=1e-6)
