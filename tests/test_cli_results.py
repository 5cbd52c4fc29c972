"""predict / plot / compare / runs / eval figures through the CLI, and the photo-digit acceptance check."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.runs import MetricsLog
from tests.helpers import SHARED_MNIST
from tests.render import render_photo
from tests.test_preprocess import png_bytes, stroke_image

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(idx_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    folders = []
    for name, model in (("a", "mlp"), ("b", "cnn-small")):
        result = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                     "--model", model, "--epochs", "2", "--lr", "0.05", "--set", "optim.momentum=0.9",
                                     "--batch-size", "32", "--run-dir", str(root / name)])
        assert result.exit_code == 0, result.output
        folders.append(root / name)
    return folders


def image_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "one.png").write_bytes(png_bytes(stroke_image()))
    (folder / "two.jpg").write_bytes(png_bytes(stroke_image(box=(20, 90, 180, 110)), "JPEG"))
    return folder


def test_predict_files_json(two_runs, tmp_path):
    folder = image_folder(tmp_path)
    result = runner.invoke(app, ["predict", str(two_runs[0]), str(folder), "--json", "--top-k", "3"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [os.path.basename(r["file"]) for r in rows] == ["one.png", "two.jpg"]
    for r in rows:
        assert set(r) == {"file", "prediction", "probability", "top_k"}
        assert 0 <= r["prediction"] <= 9 and len(r["top_k"]) == 3
        assert r["top_k"][0]["class"] == r["prediction"] and 0 < r["probability"] <= 1


def test_predict_bad_files_continue_and_fail_at_end(two_runs, tmp_path):
    folder = image_folder(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    result = runner.invoke(app, ["predict", str(two_runs[0]), str(folder / "one.png"), str(tmp_path / "notes.txt"),
                                 "--json"])
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)) == 1  # the good image was still predicted
    assert "notes.txt: not a readable image" in result.stderr and "Traceback" not in result.output


def test_predict_csv_never_overwrites_silently(two_runs, tmp_path):
    folder = image_folder(tmp_path)
    out = tmp_path / "preds.csv"
    assert runner.invoke(app, ["predict", str(two_runs[0]), str(folder), "--csv", str(out)]).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and rows[0]["file"].endswith("one.png")
    out.write_text("precious")
    again = runner.invoke(app, ["predict", str(two_runs[0]), str(folder), "--csv", str(out)])
    assert again.exit_code != 0 and "exists" in again.stderr and out.read_text() == "precious"
    assert runner.invoke(app, ["predict", str(two_runs[0]), str(folder), "--csv", str(out), "--force"]).exit_code == 0
    assert out.read_text() != "precious"


def test_predict_explain_writes_pngs(two_runs, tmp_path):
    folder = image_folder(tmp_path)
    result = runner.invoke(app, ["predict", str(two_runs[1]), str(folder), "--explain", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert pngs == ["one.explain.png", "two.explain.png"]
    with Image.open(tmp_path / "ex" / "one.explain.png") as im:
        assert im.size[0] > 300 and len(np.unique(np.asarray(im.convert("L")))) > 10


def test_predict_dataset_samples(two_runs, idx_dir):
    result = runner.invoke(app, ["predict", str(two_runs[0]), "--dataset", "idx", "--data-dir", str(idx_dir),
                                 "--n", "10"])
    assert result.exit_code == 0, result.output
    # seed 000's own format: Predicted: "[4 2 5 ...]", Actual: "[4 2 5 ...]"
    assert re.match(r'Predicted: "\[(\d )+\d\]", Actual: "\[(\d )+\d\]"', result.stdout), result.stdout


def test_plot_overlays_runs_png_and_svg(two_runs, tmp_path):
    for suffix in ("png", "svg"):
        out = tmp_path / f"curves.{suffix}"
        result = runner.invoke(app, ["plot", *map(str, two_runs), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 5000
    with Image.open(tmp_path / "curves.png") as im:
        assert im.size[0] >= 800 and im.size[1] >= 300
        assert len(np.unique(np.asarray(im.convert("L")))) > 20  # not blank
    assert "a (mlp)" in (tmp_path / "curves.svg").read_text()


def test_compare_json_and_csv(two_runs, tmp_path):
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--json", "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 2 and {r["run"] for r in rows} == {"a", "b"}
    assert rows[0]["best_test_acc"] >= rows[1]["best_test_acc"]
    for key in ("recipe", "model", "params", "epochs", "best_test_acc", "final_test_acc", "final_test_loss",
                "train_seconds", "images_per_second", "data_source"):
        assert key in rows[0]
    assert (tmp_path / "c.png").exists()
    again = runner.invoke(app, ["compare", *map(str, two_runs), "--csv", "--out", str(tmp_path / "c.png")])
    assert again.exit_code == 2 and "file exists" in again.output and "--force" in again.output  # never replaced silently
    as_csv = runner.invoke(app, ["compare", *map(str, two_runs), "--csv", "--out", str(tmp_path / "c.png"), "--force"])
    assert as_csv.stdout.splitlines()[0].startswith("run,recipe,model")


def test_compare_recipes_trains_then_compares(idx_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_RUNS", str(tmp_path / "runs"))
    result = runner.invoke(app, ["compare", "--recipes", "quickstart", "quickstart-deep", "--epochs", "1",
                                 "--data-dir", str(idx_dir), "--set", "data.dataset=idx", "--set", "train.device=cpu",
                                 "--json", "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(r["recipe"] for r in rows) == ["quickstart", "quickstart-deep"]
    assert all(r["epochs"] == 1 for r in rows)


def test_runs_lists_status_including_interrupted(idx_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_RUNS", str(tmp_path / "runs"))
    runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu", "--epochs", "1",
                        "--name", "done"])
    proc = subprocess.Popen([sys.executable, "-m", "digitlab", "train", "--dataset", "idx", "--data-dir", str(idx_dir),
                             "--device", "cpu", "--epochs", "500", "--name", "killed", "--set", "train.log_every=1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    metrics = tmp_path / "runs" / "killed" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and len(MetricsLog.objects(metrics)) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = runner.invoke(app, ["runs", "--json"])
    status = {r["run"]: r["status"] for r in json.loads(result.stdout)}
    assert status == {"done": "finished", "killed": "interrupted"}
    assert "interrupted" in runner.invoke(app, ["runs"]).stdout


def test_eval_writes_confusion_and_mistakes(two_runs, idx_dir):
    result = runner.invoke(app, ["eval", str(two_runs[0]), "--data-dir", str(idx_dir), "--json"])
    assert result.exit_code == 0
    metrics = json.loads(result.stdout)
    for key in ("confusion_png", "mistakes_png"):
        if key == "mistakes_png" and not metrics["worst_mistakes"]:
            continue
        with Image.open(metrics[key]) as im:
            assert im.size[0] > 200


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="../shared/data/mnist not present")
def test_acceptance_photographed_digits(tmp_path):
    """LeNet-5 (the lenet5 recipe, 2 epochs here) reads >=97% of MNIST test digits rendered as a person would
    photograph them: dark ink on light paper, 200x200, off-centre, uneven light, PNG or JPEG."""
    run = tmp_path / "lenet"
    trained = runner.invoke(app, ["train", "--recipe", "lenet5", "--data-dir", str(SHARED_MNIST), "--epochs", "2",
                                  "--run-dir", str(run), "--device", "cpu", "--json"])
    assert trained.exit_code == 0, trained.output
    from digitlab.data.sources import load_dataset

    ds = load_dataset("mnist", SHARED_MNIST)
    rng = np.random.default_rng(7)
    folder = tmp_path / "photos"
    folder.mkdir()
    n = 1000
    for i in range(n):
        fmt = "PNG" if i % 2 else "JPEG"
        (folder / f"{i:04d}.{fmt.lower()}").write_bytes(render_photo(ds.test_images[i], rng, fmt=fmt))
    result = runner.invoke(app, ["predict", str(run), str(folder), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    predicted = np.array([r["prediction"] for r in rows])
    accuracy = (predicted == ds.test_labels[:n]).mean()
    assert accuracy >= 0.97, accuracy
