"""How runs end: every step's loss kept, --max-steps stops keep weights and a score, a killed-at-the-end run can be
finished, torch.compile on CPU, best chosen on validation when there is one."""

import json

import numpy as np
import pytest

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.evaluation import evaluate
from digitlab.runs import MetricsLog, run_status
from digitlab.steplosses import read_step_losses
from digitlab.training.engine import resume, train


def make_config(idx_dir, *overrides):
    base = ["data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.batch_size=32",
            "optim.lr=0.05", "optim.momentum=0.9", "train.log_every=5", "data.limit=256"]
    return cfgmod.with_overrides(Config(recipe="test"), base + list(overrides))


def test_every_step_loss_is_kept_whatever_log_every(idx_dir, tmp_path):
    train(make_config(idx_dir, "train.epochs=2", "train.log_every=100"), run_dir=tmp_path / "r")
    losses = read_step_losses(tmp_path / "r")
    assert losses.shape == (16,) and np.isfinite(losses).all()
    logged = {r["step"]: r["loss"] for r in MetricsLog.objects(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "step"}
    assert logged and all(losses[step - 1] == pytest.approx(loss, rel=1e-6) for step, loss in logged.items())
    epochs = [r for r in MetricsLog.objects(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert all(r["train_loss"] > 0 for r in epochs) and epochs[1]["train_loss"] < epochs[0]["train_loss"]


def test_losses_follow_a_resume_exactly(idx_dir, tmp_path):
    train(make_config(idx_dir, "train.epochs=2", "train.max_steps=11"), run_dir=tmp_path / "r")
    assert read_step_losses(tmp_path / "r").shape == (11,)
    resume(tmp_path / "r")
    train(make_config(idx_dir, "train.epochs=2"), run_dir=tmp_path / "straight")
    assert np.array_equal(read_step_losses(tmp_path / "r"), read_step_losses(tmp_path / "straight"))


def test_max_steps_run_keeps_weights_and_a_test_score(idx_dir, tmp_path):
    summary = train(make_config(idx_dir, "train.epochs=3", "train.max_steps=5"), run_dir=tmp_path / "r")
    assert summary["status"] == "stopped" and summary["ended"] == "max_steps"
    assert summary["final_test_acc"] is not None and (tmp_path / "r" / "checkpoints" / "last.safetensors").exists()
    assert evaluate(tmp_path / "r", data_dir=idx_dir)["accuracy"] == pytest.approx(summary["final_test_acc"])


def test_run_with_only_a_resume_checkpoint_is_usable(idx_dir, tmp_path):
    train(make_config(idx_dir, "train.epochs=3", "train.max_steps=5"), run_dir=tmp_path / "r")
    for name in ("last.safetensors", "best.safetensors"):
        (tmp_path / "r" / "checkpoints" / name).unlink(missing_ok=True)
    result = evaluate(tmp_path / "r", data_dir=idx_dir)
    assert result["checkpoint_kind"] == "resume" and result["n"] == 200


def test_run_killed_while_closing_can_be_finished(idx_dir, tmp_path):
    summary = train(make_config(idx_dir, "train.epochs=1"), run_dir=tmp_path / "r")
    (tmp_path / "r" / "summary.json").unlink()
    info = json.loads((tmp_path / "r" / "run.json").read_text())  # as if killed before the run was closed:
    (tmp_path / "r" / "run.json").write_text(json.dumps({**info, "status": "running", "pid": 2**22 + 12345}))
    assert run_status(tmp_path / "r") == "interrupted"
    finished = resume(tmp_path / "r")
    assert finished["status"] == "finished" and finished["steps"] == summary["steps"]
    assert finished["final_test_acc"] == summary["final_test_acc"]
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "finished"
    assert run_status(tmp_path / "r") == "finished"


def test_best_checkpoint_is_chosen_on_validation_when_there_is_one(idx_dir, tmp_path):
    with_val = train(make_config(idx_dir, "train.epochs=2", "data.val_size=64"), run_dir=tmp_path / "v")
    assert with_val["best_chosen_on"] == "val" and with_val["final_val_acc"] is not None
    # `digitlab eval --split val` scores the run's own validation split (carved after data.limit and data.classes,
    # as training did)
    scored = evaluate(tmp_path / "v" / "checkpoints" / "last.safetensors", split="val")
    assert scored["n"] == 64 and scored["accuracy"] == pytest.approx(with_val["final_val_acc"], abs=1e-3)
    train(make_config(idx_dir, "train.epochs=1", "data.val_size=20", "data.classes=[3, 7]"), run_dir=tmp_path / "c")
    pairs = evaluate(tmp_path / "c" / "checkpoints" / "last.safetensors", split="val")
    assert pairs["n"] == 20 and {row["class"] for row in pairs["per_class"] if row["support"]} <= {3, 7}
    without = train(make_config(idx_dir, "train.epochs=1"), run_dir=tmp_path / "t")
    assert without["best_chosen_on"] == "test"


@pytest.mark.slow
def test_compile_on_cpu_trains_a_few_steps(idx_dir, tmp_path):
    summary = train(make_config(idx_dir, "train.epochs=1", "train.max_steps=3", "train.compile=true",
                                "model.name=lenet5"), run_dir=tmp_path / "c")
    assert summary["steps"] == 3 and summary["final_test_acc"] is not None


def test_running_mean_log_format_prints_seed_003_lines(idx_dir, tmp_path):
    from typer.testing import CliRunner

    from digitlab.cli import app

    result = CliRunner().invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                      "--epochs", "1", "--batch-size", "32", "--run-dir", str(tmp_path / "r"),
                                      "--set", "train.log_every=4", "--set", "train.log_format=running-mean",
                                      "--set", "data.limit=256"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("[1,")]
    assert [line[:9] for line in lines] == ["[1,    4]", "[1,    8]"]  # after batches 4 and 8, as the notes print
    steps = [r for r in MetricsLog.objects(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "step"]
    losses = read_step_losses(tmp_path / "r")
    assert steps[0]["loss_mean"] == pytest.approx(float(losses[:4].mean()), rel=1e-5)


def test_loss_figure_and_overlay_draw_every_step(idx_dir, tmp_path):
    from digitlab.compare import plot_runs
    from digitlab.curves import build_loss_curves, with_every_step

    train(make_config(idx_dir, "train.epochs=2", "train.log_every=100"), run_dir=tmp_path / "r")
    records = with_every_step(MetricsLog.read(tmp_path / "r" / "metrics.jsonl"), read_step_losses(tmp_path / "r"))
    line = build_loss_curves(records).axes[0].get_lines()[0]
    assert len(line.get_xdata()) == 16 and line.get_label() == "loss at each step"  # 2 logged, 16 trained
    assert plot_runs([tmp_path / "r"], tmp_path / "o.png").exists()


@pytest.mark.parametrize("native", [True, False])
def test_amp_trains_bf16_only_where_the_cpu_has_it_and_says_so(idx_dir, tmp_path, monkeypatch, native):
    from digitlab import device

    monkeypatch.setattr(device, "cpu_bf16_feature", lambda: "avx512_bf16" if native else "")
    summary = train(make_config(idx_dir, "train.epochs=1", "train.amp=true", "train.max_steps=4"),
                    run_dir=tmp_path / "r")
    assert summary["precision"] == ("bfloat16" if native else "float32")
    assert ("no native bf16" in summary["precision_reason"]) is not native
    plain = train(make_config(idx_dir, "train.epochs=1", "train.max_steps=4"), run_dir=tmp_path / "p")
    assert plain["precision"] == "float32" and plain["precision_reason"] == "train.amp is off"


def test_a_reporter_hears_the_records_the_run_folder_keeps(idx_dir, tmp_path):
    """The Reporter receives typed records, the same ones metrics.jsonl and summary.json hold."""
    from digitlab.records import EvalRecord, RunStart, RunSummary, StepRecord
    from digitlab.training.report import Reporter

    class Keeper(Reporter):
        def __init__(self):
            self.heard = []

        def on_start(self, info):
            self.heard.append(info)

        def on_log(self, record):
            self.heard.append(record)

        def on_epoch_end(self, record):
            self.heard.append(record)

        def on_end(self, summary):
            self.heard.append(summary)

    keeper = Keeper()
    summary = train(make_config(idx_dir, "train.epochs=2", "data.val_size=32"), run_dir=tmp_path / "r", reporter=keeper)
    start, *records, end = keeper.heard
    assert isinstance(start, RunStart) and start.run_dir == str(tmp_path / "r") and start.n_train == 224
    assert isinstance(end, RunSummary) and end == summary
    assert summary.final_val_acc is not None and summary.best_chosen_on == "val" and summary.epochs == 2
    assert summary.to_json() == json.loads((tmp_path / "r" / "summary.json").read_text())
    assert all(isinstance(r, (StepRecord, EvalRecord)) for r in records)
    assert records == MetricsLog.read(tmp_path / "r" / "metrics.jsonl")  # what it heard is what the folder keeps
    assert [r.epoch for r in records if r.kind == "epoch"] == [1, 2]
