import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app

runner = CliRunner()


def test_data_info_json(idx_dir):
    result = runner.invoke(app, ["data", "info", "idx", "--data-dir", str(idx_dir), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["dataset"] == "idx" and info["source"] == "data-dir" and info["verified"] is False
    assert info["splits"]["train"]["n"] == 600 and info["splits"]["test"]["shape"] == [200, 28, 28]
    assert sum(info["splits"]["train"]["class_counts"]) == 600


def test_data_info_table(idx_dir):
    result = runner.invoke(app, ["data", "info", "idx", "--data-dir", str(idx_dir)])
    assert result.exit_code == 0 and "verified: no" in result.stdout


def test_data_show_writes_png(idx_dir, tmp_path):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["data", "show", "idx", "--data-dir", str(idx_dir), "--n", "12",
                                 "--classes", "3,5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size[0] > 100 and im.size[1] > 100
        assert len(np.unique(np.asarray(im.convert("L")))) > 10  # not blank


def test_bad_data_dir_is_one_line_error(tmp_path):
    result = runner.invoke(app, ["data", "info", "mnist", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "error:" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_classes(idx_dir, tmp_path):
    result = runner.invoke(app, ["data", "show", "idx", "--data-dir", str(idx_dir), "--classes", "x",
                                 "--out", str(tmp_path / "g.png")])
    assert result.exit_code != 0 and "--classes" in result.stderr


def test_fallback_is_loud_and_strict_fails():
    result = runner.invoke(app, ["data", "info", "mnist", "--json"])
    assert result.exit_code == 0
    assert "WARNING" in result.stderr and "offline sample" in result.stderr
    assert json.loads(result.stdout)["fallback"]
    strict = runner.invoke(app, ["data", "info", "mnist", "--strict-data"])
    assert strict.exit_code != 0 and "--strict-data" in strict.stderr


def test_fetch_idx_is_an_error():
    result = runner.invoke(app, ["data", "fetch", "idx"])
    assert result.exit_code != 0 and "nothing to fetch" in result.stderr
