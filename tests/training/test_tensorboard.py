import pytest
from typer.testing import CliRunner

from digitlab.cli import app

runner = CliRunner()


def test_tensorboard_scalars_and_mistakes(idx_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                 "--epochs", "2", "--run-dir", str(run), "--tensorboard", "--set", "train.log_every=5"])
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "eval/test_acc", "eval/test_loss"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("eval/test_acc")] == [10, 20]  # 600 images, batch 64
    assert "eval/misclassified" in tags["images"]
