"""checkpoint.py's header-only reader (read_info), beside the full reader it agrees with."""

import pytest
import torch
from safetensors.torch import save_file

from digitlab.checkpoint import read_info, read_weights, save_weights
from digitlab.errors import CheckpointError
from digitlab.models import get_model
from tests.helpers import make_info


def test_read_info_is_the_header_of_read_weights(tmp_path):
    path = save_weights(tmp_path / "w.safetensors", get_model("lenet5"), make_info("lenet5", mean=0.2, std=0.4))
    info = read_info(path)
    assert info == read_weights(path).info
    assert info.model == "lenet5" and info.preprocessing.input_size == 32 and info.preprocessing.std == 0.4


def test_read_info_refuses_files_without_digitlab_metadata(tmp_path):
    save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="without digitlab metadata") as info:
        read_info(tmp_path / "foreign.safetensors")
    assert "\n" not in str(info.value)
    (tmp_path / "junk.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        read_info(tmp_path / "junk.safetensors")
