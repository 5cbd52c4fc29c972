import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from digitlab.checkpoint import save_weights
from digitlab.cli import app
from digitlab.export import _run_onnx, _run_torchscript, export_model
from digitlab.models import get_model, list_models, model_spec
from tests.helpers import make_info

runner = CliRunner()


def make_checkpoint(tmp_path, name):
    torch.manual_seed(0)
    model = get_model(name).eval()
    return save_weights(tmp_path / f"{name}.safetensors", model, make_info(name)), model


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list_models())
def test_export_round_trip_every_model(tmp_path, idx_dir, name, fmt):
    ckpt, model = make_checkpoint(tmp_path, name)
    out = tmp_path / f"m.{fmt}"
    result = export_model(ckpt, fmt, out, n_check=50, data_dir=idx_dir)
    assert result["top1_agreement"] == 1.0 and result["max_abs_diff"] <= 1e-4
    meta = json.loads((tmp_path / f"m.{fmt}.json").read_text())
    assert meta["preprocessing"]["mean"] == 0.1 and meta["input"]["shape"][0] == "batch"
    # dynamic batch: any batch size runs and matches PyTorch
    size = model_spec(name).input_size
    x = torch.randn(7, 1, size, size)
    with torch.inference_mode():
        ref = model(x).numpy()
    got = (_run_onnx if fmt == "onnx" else _run_torchscript)(out, x.numpy())
    assert got.shape == (7, 10) and np.abs(got - ref).max() < 1e-4


def test_export_never_overwrites_and_cli(tmp_path, idx_dir):
    ckpt, _ = make_checkpoint(tmp_path, "mlp")
    out = tmp_path / "m.onnx"
    out.write_text("keep me")
    result = runner.invoke(app, ["export", str(ckpt), "--format", "onnx", "--out", str(out), "--data-dir", str(idx_dir)])
    assert result.exit_code != 0 and "exists" in result.stderr and out.read_text() == "keep me"
    bad = runner.invoke(app, ["export", str(ckpt), "--format", "tflite", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "onnx, torchscript or mindspore" in bad.stderr
    ok = runner.invoke(app, ["export", str(ckpt), "--format", "onnx", "--out", str(out), "--data-dir", str(idx_dir),
                             "--force", "--check", "20", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["checked"] == 20
