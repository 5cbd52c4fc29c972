from __future__ import annotations

import pytest


@pytest.fixture
def tiny(idx_dir):
    """--set overrides for trials that take about a second: 200 synthetic digits (60 for validation), 2 epochs."""
    return ["data.dataset=idx", f'data.data_dir="{idx_dir}"', "data.limit=200", "data.val_size=60", "train.epochs=2",
            "train.batch_size=32", "train.device=cpu", "data.shuffle=true"]
