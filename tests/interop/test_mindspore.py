import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.errors import CheckpointError
from digitlab.inference import load_model
from digitlab.interop.mindspore import import_checkpoint, infer_model, read_ckpt, write_ckpt
from digitlab.models import get_model
from tests.helpers import SHARED_MNIST

SHARED_MS = SHARED_MNIST.parent / "mindspore"
runner = CliRunner()


def hand_made_ckpt() -> bytes:
    """One Value {tag: "fc.bias", tensor: {dims: [3], tensor_type: "Float32", tensor_content: ...}}, byte by byte."""
    content = struct.pack("<3f", 1.0, -2.0, 0.5)
    tensor = b"\x08\x03" + b"\x12\x07Float32" + b"\x1a" + bytes([len(content)]) + content
    value = b"\x0a\x07fc.bias" + b"\x12" + bytes([len(tensor)]) + tensor
    return b"\x0a" + bytes([len(value)]) + value


def test_reads_hand_made_protobuf(tmp_path):
    path = tmp_path / "tiny.ckpt"
    path.write_bytes(hand_made_ckpt())
    params = read_ckpt(path)
    assert list(params) == ["fc.bias"]
    np.testing.assert_array_equal(params["fc.bias"], np.array([1.0, -2.0, 0.5], np.float32))


def test_write_read_round_trip(tmp_path):
    params = {"a.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "step": np.array([7], np.int32),
              "h": np.ones((2, 2), np.float16)}
    back = read_ckpt(write_ckpt(tmp_path / "x.ckpt", params))
    for k, v in params.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k], v)


def test_import_maps_names_and_reports_unmapped(tmp_path):
    model = get_model("lenet5")
    params = {k: v.numpy() for k, v in model.state_dict().items()}
    params["moments.fc1.weight"] = np.zeros((120, 400), np.float32)  # optimizer slots MindSpore saves
    params["learning_rate"] = np.array(0.01, np.float32)
    summary = import_checkpoint(write_ckpt(tmp_path / "l.ckpt", params), "lenet5", tmp_path / "run")
    assert sorted(summary["unmapped"]) == ["learning_rate", "moments.fc1.weight"]
    loaded, ckpt = load_model(tmp_path / "run")
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert ckpt.info.preprocessing.input_size == 32


def test_import_wrong_model_is_one_line(tmp_path):
    params = {k: v.numpy() for k, v in get_model("mlp").state_dict().items()}
    with pytest.raises(CheckpointError, match="does not fit model 'lenet5': missing: conv1.weight"):
        import_checkpoint(write_ckpt(tmp_path / "m.ckpt", params), "lenet5", tmp_path / "run")
    (tmp_path / "junk.ckpt").write_bytes(b"\xff\xff\xff\xff")
    result = runner.invoke(app, ["import-mindspore", str(tmp_path / "junk.ckpt"), "--model", "mlp", "--out",
                                 str(tmp_path / "r2")])
    assert result.exit_code != 0 and "not a MindSpore checkpoint" in result.stderr


def ms_params(*models: str, prefix: str = "") -> dict:
    return {prefix + k: v.numpy() for m in models for k, v in get_model(m).state_dict().items()}


@pytest.mark.parametrize("model", ["mlp", "mlp-deep", "lenet5"])
def test_model_is_inferred_from_parameter_names(model, tmp_path):
    params = ms_params(model, prefix="network.")  # as a TrainOneStepCell saves them
    params["moments.x"] = np.zeros(3, np.float32)
    assert infer_model(params) == model
    ckpt = write_ckpt(tmp_path / "m.ckpt", params)
    result = runner.invoke(app, ["import-mindspore", str(ckpt), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == model and summary["model_inferred"] is True
    text = runner.invoke(app, ["import-mindspore", str(ckpt), "--out", str(tmp_path / "run2")])
    assert f"(model {model}, inferred from its parameter names)" in text.stdout


def test_inference_refuses_ambiguous_or_unknown_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"fit several models \(mlp-deep, lenet5\); choose one with --model"):
        infer_model(ms_params("mlp-deep", "lenet5"), "both.ckpt")
    with pytest.raises(CheckpointError, match="fit none of the importable models") as info:
        infer_model({"fc.bias": np.zeros(3, np.float32)}, "odd.ckpt")
    assert "\n" not in str(info.value)
    # an explicit --model still decides when the names fit several
    summary = import_checkpoint(write_ckpt(tmp_path / "b.ckpt", ms_params("mlp-deep", "lenet5")), "lenet5",
                                tmp_path / "run")
    assert summary["model"] == "lenet5" and summary["model_inferred"] is False


@pytest.mark.skipif(not (SHARED_MS / "checkpoints.json").exists(), reason="../shared/data/mindspore not present")
@pytest.mark.parametrize("name", ["quickstart_mlp.ckpt", "lenet5.ckpt"])
def test_real_mindspore_checkpoints_reproduce_their_accuracy(name, tmp_path):
    facts = json.loads((SHARED_MS / "checkpoints.json").read_text())[name]
    run = tmp_path / "run"
    result = runner.invoke(app, ["import-mindspore", str(SHARED_MS / name), "--model", facts["digitlab_model"],
                                 "--out", str(run)])
    assert result.exit_code == 0, result.output
    ev = runner.invoke(app, ["eval", str(run), "--data-dir", str(SHARED_MNIST), "--json"])
    assert ev.exit_code == 0, ev.output
    assert abs(json.loads(ev.stdout)["accuracy"] - facts["mindspore_test_acc"]) <= 0.1
    assert Path(run / "checkpoints" / "best.safetensors").exists()
