"""Fine-tune: --init-from a run (same and other classes), train.freeze, the record, resume of a fine-tune run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from digitlab import config as cfgmod
from digitlab.cli import app
from digitlab.errors import ConfigError
from digitlab.recipes import load_recipe
from digitlab.training.engine import resume, train
from tests.data.test_ownfiles import write_one

runner = CliRunner()


@pytest.fixture(scope="module")
def base(idx_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ft") / "base"
    result = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                 "--epochs", "1", "--lr", "0.05", "--run-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def weights(run: Path, name: str = "last.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / name))


def fine_tune(base: Path, run: Path, *args: str) -> str:
    result = runner.invoke(app, ["train", "--recipe", "fine-tune", "--init-from", str(base), "--device", "cpu",
                                 "--run-dir", str(run), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_fine_tune_starts_from_the_runs_weights_and_records_it(base, idx_dir, tmp_path):
    run = tmp_path / "ft"
    out = fine_tune(base, run, "--dataset", "idx", "--data-dir", str(idx_dir), "--epochs", "1", "--max-steps", "1",
                    "--set", "optim.lr=1e-9")
    best = base / "checkpoints" / "best.safetensors"
    sha = hashlib.sha256(best.read_bytes()).hexdigest()
    assert f"fine-tuning from {base.name} (best.safetensors, sha256 {sha[:12]}" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["init_from"]["sha256"] == sha and summary["init_from"]["run"] == base.name
    assert summary["recipe"] == "fine-tune"
    start, after = weights(base, "best.safetensors"), weights(run)
    for key in start:  # one step at lr 1e-9: the weights are the base run's (to float precision)
        assert torch.allclose(start[key], after[key], atol=1e-6), key
    config = cfgmod.from_dict(cfgmod.load_toml(run / "config.toml"))
    assert config.train.init_from == str(base) and config.model.name == "mlp"


def test_other_classes_get_a_fresh_last_layer_said_in_the_header(base, tmp_path):
    letters = tmp_path / "letters"
    for k, name in enumerate(("a", "b", "c")):
        for i in range(4):
            write_one(letters / name / f"{i}.png", seed=10 * k + i)
    run = tmp_path / "ft"
    out = fine_tune(base, run, "--dataset", "folder", "--data-dir", str(letters), "--epochs", "1")
    assert "fresh last layer dense_relu_sequential.4" in out and "this data 3 (a, b, c)" in out
    tuned = weights(run)
    assert tuned["dense_relu_sequential.4.weight"].shape == (3, 512)
    from digitlab.inference import load_model

    _, ckpt = load_model(run)
    assert ckpt.info.classes == ("a", "b", "c")
    base_pre = load_model(base)[1].info.preprocessing
    assert (ckpt.info.preprocessing.mean, ckpt.info.preprocessing.std) == (base_pre.mean, base_pre.std)


def test_freeze_trains_only_the_last_layers(base, idx_dir, tmp_path):
    run = tmp_path / "ft"
    out = fine_tune(base, run, "--dataset", "idx", "--data-dir", str(idx_dir), "--epochs", "1", "--max-steps", "5",
                    "--freeze", "1", "--set", "optim.lr=0.01")
    assert "training only dense_relu_sequential.4 (2 of 3 layers frozen)" in out
    start, after = weights(base, "best.safetensors"), weights(run)
    for key in start:
        same = torch.equal(start[key], after[key])
        assert same == (not key.startswith("dense_relu_sequential.4")), key


def test_resume_of_a_fine_tune_run_is_exact(base, idx_dir, tmp_path):
    overrides = ["data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.epochs=2",
                 "data.limit=128", f"train.init_from='{base}'", "train.freeze=2"]
    config = cfgmod.with_overrides(load_recipe("fine-tune").config, overrides)
    straight = train(config, run_dir=tmp_path / "straight")
    part = train(cfgmod.with_overrides(config, ["train.max_steps=5"]), run_dir=tmp_path / "parts")
    assert part["status"] == "stopped"
    (base / "moved").mkdir(exist_ok=True)  # the origin is not read again on resume
    resumed = resume(tmp_path / "parts")
    assert resumed["status"] == "finished" and resumed["steps"] == straight["steps"]
    assert resumed["init_from"] == straight["init_from"]
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "parts")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_fine_tune_refuses_another_architecture_and_a_missing_origin(base, idx_dir, tmp_path):
    result = runner.invoke(app, ["train", "--init-from", str(base), "--model", "cnn-small", "--dataset", "idx",
                                 "--data-dir", str(idx_dir), "--device", "cpu", "--run-dir", str(tmp_path / "x")])
    assert result.exit_code != 0 and "keeps the architecture" in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["train", "--init-from", str(tmp_path / "nope"), "--device", "cpu"])
    assert missing.exit_code != 0 and "no such run folder or checkpoint" in missing.output
    config = cfgmod.with_overrides(load_recipe("fine-tune").config, [f"train.init_from='{base}'",
                                                                      "model.name=cnn-small", "data.dataset=idx",
                                                                      f"data.data_dir='{idx_dir}'"])
    with pytest.raises(ConfigError, match="keeps the architecture"):
        train(config, run_dir=tmp_path / "y")
    resumed = runner.invoke(app, ["train", "--resume", str(base), "--init-from", str(base)])
    assert resumed.exit_code != 0 and "drop --init-from" in resumed.output


def test_the_fresh_layer_is_the_one_that_maps_to_the_classes():
    from digitlab.training.finetune import classifier

    class HeadFirst(torch.nn.Module):  # a network of one's own: its classifier is not registered last
        def __init__(self, classes: int) -> None:
            super().__init__()
            self.head = torch.nn.Linear(16, classes)
            self.body = torch.nn.Linear(4, 16)

        def forward(self, x):
            return self.head(torch.relu(self.body(x)))

    assert classifier(HeadFirst(3), HeadFirst(10).state_dict(), 3) == "head"
    # the same count of other classes: no shape differs; the layer with one output row per class is the one
    assert classifier(HeadFirst(10), HeadFirst(10).state_dict(), 10) == "head"
