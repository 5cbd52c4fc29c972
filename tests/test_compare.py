"""compare.plot_runs: each run's batch size goes with its curves (for --x images); the CLI's --x and --title."""

import json

import pytest
from typer.testing import CliRunner

from digitlab import curves
from digitlab.cli import app
from digitlab.compare import plot_runs
from digitlab.errors import DigitlabError
from tests.test_curves import records

runner = CliRunner()


def logged_run(root, name: str, batch_size: int, batches: int):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(f'recipe = "quickstart"\n\n[train]\nbatch_size = {batch_size}\n')
    rows = records(2, batches=batches, log_every=5)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in rows))
    return folder


def test_plot_runs_passes_each_runs_batch_size(tmp_path, monkeypatch):
    folders = [logged_run(tmp_path, "b32", 32, 20), logged_run(tmp_path, "b64", 64, 10)]
    seen = {}
    monkeypatch.setattr(curves, "overlay_runs", lambda series, out, x, title: seen.update(series=series, x=x) or out)
    plot_runs(folders, tmp_path / "c.png", x="images")
    assert seen["x"] == "images"
    assert [(s.label.split()[0], s.batch_size) for s in seen["series"]] == [("b32", 32), ("b64", 64)]


def test_plot_cli_x_and_title(tmp_path):
    folders = [str(logged_run(tmp_path, "b32", 32, 20)), str(logged_run(tmp_path, "b64", 64, 10))]
    result = runner.invoke(app, ["plot", *folders, "--x", "images", "--title", "batch 32 vs 64", "--out",
                                 str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(app, ["plot", *folders, "--x", "hours", "--out", str(tmp_path / "d.png")])
    assert bad.exit_code != 0 and "--x hours: choose steps, epochs, images" in bad.output
    assert not (tmp_path / "d.png").exists()
    bad = runner.invoke(app, ["compare", *folders, "--x", "hours", "--out", str(tmp_path / "e.png")])
    assert bad.exit_code != 0 and "--x hours" in bad.output


def test_images_axis_needs_a_batch_size(tmp_path):
    folder = logged_run(tmp_path, "r", 32, 10)
    (folder / "config.toml").write_text("[train\n")
    with pytest.raises(DigitlabError, match="train.batch_size"):
        plot_runs([folder], tmp_path / "c.png", x="images")
