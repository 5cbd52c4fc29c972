"""End-to-end training on generated data: accuracy floor, exact resume, kills, interrupts, NaN, checkpoints."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from digitlab import checkpoint
from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.errors import CheckpointError, ConfigError, TrainingError
from digitlab.evaluation import evaluate
from digitlab.inference import load_model
from digitlab.models import get_model
from digitlab.runs import MetricsLog, run_status
from digitlab.steplosses import PendingLosses
from digitlab.training import loop
from digitlab.training.engine import resume, train
from tests.helpers import make_info


def make_config(idx_dir, *overrides):
    base = ["data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.batch_size=32",
            "optim.lr=0.05", "optim.momentum=0.9", "train.log_every=5"]
    return cfgmod.with_overrides(Config(recipe="test"), base + list(overrides))


def weights(run_dir):
    return load_file(str(Path(run_dir) / "checkpoints" / "last.safetensors"))


def test_tiny_run_learns_and_writes_run_folder(idx_dir, tmp_path):
    summary = train(make_config(idx_dir, "train.epochs=3"), run_dir=tmp_path / "run")
    run = tmp_path / "run"
    assert summary["final_test_acc"] >= 90.0  # the synthetic task is easy; chance is 10%
    for name in ("config.toml", "metrics.jsonl", "summary.json", "loss.png", "run.json",
                 "checkpoints/last.safetensors", "checkpoints/best.safetensors", "checkpoints/resume.safetensors"):
        assert (run / name).exists(), name
    saved = json.loads((run / "summary.json").read_text())
    for key in ("final_test_acc", "best_test_acc", "epochs", "train_seconds", "images_per_second", "device",
                "seed", "versions", "data", "data_verified", "recipe", "model", "params"):
        assert key in saved
    assert saved["epochs"] == 3 and saved["data"]["dataset"] == "idx" and run_status(run) == "finished"
    rows = MetricsLog.objects(run / "metrics.jsonl")
    assert [r["epoch"] for r in rows if r["kind"] == "epoch"] == [1, 2, 3]
    assert all("loss" in r for r in rows if r["kind"] == "step")
    # the resolved config round-trips
    assert cfgmod.from_dict(cfgmod.load_toml(run / "config.toml")).train.epochs == 3
    # the checkpoint alone rebuilds the model
    model, ckpt = load_model(run)
    assert ckpt.model_name == "mlp" and ckpt.info.preprocessing.input_size == 28
    result = evaluate(run, data_dir=idx_dir)
    assert result["accuracy"] == pytest.approx(summary["best_test_acc"], abs=1e-6)
    assert sum(map(sum, result["confusion_matrix"])) == result["n"] == 200


@pytest.mark.parametrize("model,stop_at", [("mlp", "epoch"), ("cnn-pt", "mid-epoch")])
def test_resume_is_exact(idx_dir, tmp_path, model, stop_at):
    """2 epochs straight == stopped part-way + resume, bit for bit (cnn-pt has dropout: RNG state matters)."""
    overrides = [f"model.name={model}", "train.epochs=2", "data.limit=256"]
    if model == "cnn-pt":
        overrides += ["loss.name=nll", "optim.name=adadelta", "optim.lr=1.0", "schedule.name=step",
                      "schedule.gamma=0.7"]
    train(make_config(idx_dir, *overrides), run_dir=tmp_path / "straight")
    steps_per_epoch = 256 // 32
    stop = steps_per_epoch if stop_at == "epoch" else steps_per_epoch + 3
    part = train(make_config(idx_dir, *overrides, f"train.max_steps={stop}"), run_dir=tmp_path / "parts")
    assert part["status"] == "stopped" and part["steps"] == stop
    resumed = resume(tmp_path / "parts")
    assert resumed["status"] == "finished" and resumed["steps"] == 2 * steps_per_epoch
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "parts")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_config_changes(idx_dir, tmp_path):
    train(make_config(idx_dir, "train.epochs=1", "data.limit=64"), run_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="cannot change mid-run"):
        resume(tmp_path / "r", ["optim.lr=1.0"])
    with pytest.raises(ConfigError, match="already trained 1 epochs"):
        resume(tmp_path / "r")
    summary = resume(tmp_path / "r", ["train.epochs=2"])
    assert summary["epochs"] == 2
    with pytest.raises(ConfigError, match="not a run folder"):
        resume(tmp_path)


@pytest.mark.parametrize("chunk,log_every", [(1024, 1), (3, 5)])  # (3, 5): found later, across chunk boundaries
def test_nan_stops_with_step_and_keeps_last_good_checkpoint(idx_dir, tmp_path, monkeypatch, chunk, log_every):
    monkeypatch.setattr(PendingLosses, "CHUNK", chunk)
    real = loop.train_step
    calls = {"n": 0}

    def poisoned(model, *args, **kwargs):
        calls["n"] += 1
        loss = real(model, *args, **kwargs)
        if calls["n"] >= 12:  # epoch 1 has 8 steps; poison epoch 2
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))
            return torch.tensor(float("nan"))
        return loss

    monkeypatch.setattr(loop, "train_step", poisoned)
    with pytest.raises(TrainingError, match=r"NaN/inf at step 11 .*lower learning rate"):
        train(make_config(idx_dir, "train.epochs=3", "data.limit=256", f"train.log_every={log_every}"),
              run_dir=tmp_path / "r")
    saved = weights(tmp_path / "r")
    assert all(torch.isfinite(v).all() for v in saved.values())
    assert run_status(tmp_path / "r") == "failed"


def test_checkpoint_round_trip_and_mismatch_report(tmp_path):
    model = get_model("lenet5")
    path = checkpoint.save_weights(tmp_path / "w.safetensors", model, make_info("lenet5", origin={"note": "x"}))
    ckpt = checkpoint.read_weights(path)
    assert ckpt.model_name == "lenet5" and ckpt.info.origin["note"] == "x"
    other = get_model("lenet5")
    checkpoint.load_state_checked(other, ckpt.state, str(path))
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k])
    with pytest.raises(CheckpointError, match=r"missing: .*conv1.weight.*unexpected: dense_relu_sequential"):
        checkpoint.load_state_checked(model, get_model("mlp").state_dict(), "mlp.safetensors")
    bad = dict(ckpt.state)
    bad["fc3.weight"] = torch.zeros(5, 84)
    with pytest.raises(CheckpointError, match=r"shape mismatch: fc3.weight \(5, 84\) vs \(10, 84\)"):
        checkpoint.load_state_checked(model, bad, "x")


def test_damaged_checkpoints_are_clear_errors(tmp_path):
    path = checkpoint.save_weights(tmp_path / "w.safetensors", get_model("mlp"), make_info("mlp"))
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        checkpoint.read_weights(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"hello")
    with pytest.raises(CheckpointError):
        checkpoint.read_weights(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.read_weights(tmp_path / "none.safetensors")


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    path = checkpoint.save_weights(tmp_path / "w.safetensors", get_model("mlp"), make_info("mlp", origin={"v": "1"}))
    before = path.read_bytes()

    def killed(fd):
        raise KeyboardInterrupt  # the process dies between writing the temp file and renaming it

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_weights(path, get_model("mlp"), make_info("mlp", origin={"v": "2"}))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert checkpoint.read_weights(path).info.origin["v"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left behind


def _cli(*args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "digitlab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def _wait_for(predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _train_args(idx_dir, run, *extra):
    return ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu", "--run-dir", str(run),
            "--epochs", "200", "--batch-size", "32", "--set", "train.log_every=1", *extra]


def test_sigkill_then_resume_loses_at_most_ckpt_every(idx_dir, tmp_path):
    run = tmp_path / "run"
    proc = _cli(*_train_args(idx_dir, run, "--ckpt-every", "7"))
    resume_file = run / "checkpoints" / "resume.safetensors"
    assert _wait_for(lambda: resume_file.exists() and len(MetricsLog.objects(run / "metrics.jsonl")) > 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = max(r["step"] for r in MetricsLog.objects(run / "metrics.jsonl"))
    assert run_status(run) == "interrupted"
    saved_step = checkpoint.read_resume_header(resume_file)[1]["global_step"]
    assert done - saved_step <= 7
    result = subprocess.run([sys.executable, "-m", "digitlab", "train", "--resume", str(run), "--epochs", "3",
                             "--json"], capture_output=True, text=True, timeout=300)
    if saved_step >= 3 * 19:  # already past 3 epochs: resume must say so
        assert result.returncode != 0 and "already trained" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "finished" and summary["epochs"] == 3
    assert max(r["step"] for r in MetricsLog.objects(run / "metrics.jsonl")) == summary["steps"]


def test_ctrl_c_saves_and_explains_how_to_resume(idx_dir, tmp_path):
    run = tmp_path / "run"
    proc = _cli(*_train_args(idx_dir, run))
    assert _wait_for(lambda: len(MetricsLog.objects(run / "metrics.jsonl")) > 30)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert run_status(run) == "interrupted"
    position = checkpoint.read_resume_header(run / "checkpoints" / "resume.safetensors")[1]
    assert position["global_step"] >= 30


def test_bf16_autocast_trains(idx_dir, tmp_path):
    """train.amp: bf16 autocast (the GPU option) also runs on the CPU; the loss stays finite and it learns."""
    summary = train(make_config(idx_dir, "train.epochs=3", "train.amp=true", "model.name=cnn-small"),
                    run_dir=tmp_path / "amp")
    assert summary["final_test_acc"] > 50
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "amp").values())


def test_a_bf16_run_reports_the_accuracy_digitlab_eval_gives(idx_dir, tmp_path, monkeypatch):
    """The test pass inside training stays float32 even when the run trains in bf16, so summary.json, the
    checkpoints' test_acc, best.safetensors' choice, compare and serve all agree with `digitlab eval` to the digit."""
    from digitlab import device as dev

    monkeypatch.setattr(dev, "cpu_bf16_feature", lambda: "AVX512-BF16")
    summary = train(make_config(idx_dir, "train.epochs=1", "train.amp=true", "model.name=cnn-small"),
                    run_dir=tmp_path / "amp")
    assert summary["precision"] == "bfloat16"
    result = evaluate(tmp_path / "amp", data_dir=idx_dir)
    assert result["accuracy"] == pytest.approx(summary["final_test_acc"])
    # the loss is continuous: a bf16 test pass would differ from float32's in the third digit, not the sixth
    assert result["avg_loss"] == pytest.approx(summary["final_test_loss"], rel=1e-5, abs=1e-6)
