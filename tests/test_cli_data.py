import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app
from tests.data.toy import register_toy
from tests.helpers import write_dataset

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


# ------------------------------------------------------------------------------------ data fetch --from
def _one_error_line(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_fetch_from_installs_and_later_commands_need_no_data_dir(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "copy")
    result = runner.invoke(app, ["data", "fetch", "toy", "--from", str(tmp_path / "copy")])
    assert result.exit_code == 0, result.output
    assert "installed into" in result.stdout and "4 copied" in result.stdout and "no --data-dir" in result.stdout
    again = runner.invoke(app, ["data", "fetch", "toy", "--from", str(tmp_path / "copy"), "--json"])
    assert json.loads(again.stdout)["kept"] and json.loads(again.stdout)["copied"] == []
    info = runner.invoke(app, ["data", "info", "toy", "--json", "--strict-data"])
    assert info.exit_code == 0, info.output
    got = json.loads(info.stdout)
    assert got["source"] == "cache" and got["verified"] is True and got["fallback"] is None


def test_fetch_messages_name_only_fetchs_options(tmp_path, monkeypatch):
    """Offline, or every mirror failing: no --data-dir (fetch lacks it), no --strict-data (nobody passed it)."""
    for args in (["data", "fetch", "mnist"], ["data", "fetch", "kmnist"]):
        line = _one_error_line(runner.invoke(app, args))
        assert "downloads are off" in line and "--from DIR" in line
        assert "--data-dir" not in line and "strict" not in line
    register_toy(monkeypatch, tmp_path / "elsewhere", stand_in="mnist-sample")  # mirrors: 127.0.0.1:9, refused
    monkeypatch.delenv("DIGITLAB_OFFLINE")
    line = _one_error_line(runner.invoke(app, ["data", "fetch", "toy"]))
    assert "could not download toy file" in line and "cannot connect" in line and "--from DIR" in line
    assert "--data-dir" not in line and "strict" not in line and "stand-in" not in line


def test_fetch_from_the_wrong_datasets_folder(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "a", name="toy-a", seed=0)
    register_toy(monkeypatch, tmp_path / "b", name="toy-b", seed=5)
    line = _one_error_line(runner.invoke(app, ["data", "fetch", "toy-b", "--from", str(tmp_path / "a")]))
    assert "this is the toy-a train-images-idx3-ubyte, not the toy-b" in line and "keep it" in line
    assert "delete" not in line.lower() and "--data-dir" not in line
    line = _one_error_line(runner.invoke(app, ["data", "info", "toy-b", "--data-dir", str(tmp_path / "a")]))
    assert "this is the toy-a" in line and "--data-dir DIR" in line and "delete" not in line.lower()


@pytest.mark.parametrize("name", ["idx", "mnist-sample"])
def test_fetch_from_for_what_cannot_be_installed(tmp_path, name):
    line = _one_error_line(runner.invoke(app, ["data", "fetch", name, "--from", str(tmp_path)]))
    assert "nothing to" in line and "install" in line


def test_fetch_from_files_that_are_not_the_datasets(tmp_path):
    write_dataset(tmp_path / "mine")  # valid IDX files, but not MNIST's
    line = _one_error_line(runner.invoke(app, ["data", "fetch", "mnist", "--from", str(tmp_path / "mine")]))
    assert "checksum mismatch" in line and "not the mnist train-images-idx3-ubyte" in line
    assert "--data-dir" not in line


def test_fallback_and_strict_advice_from_loading_commands():
    fallback = runner.invoke(app, ["data", "info", "mnist", "--json"])
    assert "--from DIR" in fallback.stderr and "--data-dir DIR" in fallback.stderr
    line = _one_error_line(runner.invoke(app, ["data", "info", "kmnist"]))
    assert "not found" in line and "strict" not in line and "--data-dir DIR" in line
