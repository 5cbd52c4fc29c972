"""Your own files as datasets: a folder of images, Kaggle's CSV, Keras's npz; the split; the folder cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.data import folder as folder_mod
from digitlab.data.ownfiles import stratified_split
from digitlab.data.sources import load_dataset
from digitlab.errors import DataError
from tests.helpers import synthetic_digits


def write_folder(root: Path, n: int = 120, seed: int = 0, layout: str = "flat") -> Path:
    """Synthetic digits as PNGs in DIR/<class>/ (or DIR/train|test/<class>/), white ink on black like MNIST."""
    x, y = synthetic_digits(n, seed)
    for i, (image, label) in enumerate(zip(x, y)):
        part = ("train" if i % 4 else "test") if layout == "split" else ""
        folder = root / part / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root


def write_csv(path: Path, n: int = 100, labelled: bool = True, header: bool = True) -> tuple[np.ndarray, np.ndarray]:
    x, y = synthetic_digits(n, 3)
    rows = []
    if header:
        rows.append(",".join((["label"] if labelled else []) + [f"pixel{i}" for i in range(784)]))
    for image, label in zip(x, y):
        rows.append(",".join(([str(label)] if labelled else []) + [str(v) for v in image.ravel()]))
    path.write_text("\n".join(rows) + "\n")
    return x, y


# ------------------------------------------------------------------------------------------------ folder
def test_folder_loads_like_mnist_with_a_seeded_stratified_split(tmp_path):
    root = write_folder(tmp_path / "digits")
    ds = load_dataset("folder", root, test_size=0.25)
    assert ds.train_images.dtype == np.uint8 and ds.train_images.shape[1:] == (28, 28)
    assert ds.train_labels.dtype == np.int64 and ds.classes == tuple(str(d) for d in range(10))
    assert len(ds.train_labels) + len(ds.test_labels) == 120
    # stratified: every class is in both splits, about a quarter of it in test
    for c in range(10):
        n_c = int((ds.train_labels == c).sum() + (ds.test_labels == c).sum())
        assert int((ds.test_labels == c).sum()) == min(max(round(n_c * 0.25), 1), n_c - 1)
    prov = ds.provenance()
    assert prov["format"] == "folder" and "data.test_size" in prov["split"] and prov["digest"]
    assert sum(prov["counts"]["train"].values()) == len(ds.train_labels)
    again = load_dataset("folder", root, test_size=0.25)  # the same split every time (seeded)
    assert np.array_equal(again.test_labels, ds.test_labels) and np.array_equal(again.test_images, ds.test_images)
    assert again.extra["cache"]["hit"] and not ds.extra["cache"]["hit"]


def test_folder_images_go_through_predicts_preprocessing(tmp_path):
    from digitlab.preprocess import read_image, to_mnist

    root = tmp_path / "d"
    for label in ("3", "7"):
        (root / label).mkdir(parents=True)
        for i in range(3):  # dark ink on white paper, big: as a person's photo or drawing would be
            canvas = Image.new("L", (200, 160), 255)
            canvas.paste(0, (60 + 10 * i, 20, 90 + 10 * i, 140 if label == "7" else 100))
            canvas.save(root / label / f"{i}.jpg")
    ds = load_dataset("folder", root)
    expected = to_mnist(read_image(sorted((root / "3").iterdir())[0]))
    allx = np.concatenate([ds.train_images, ds.test_images])
    assert any(np.array_equal(expected, im) for im in allx)
    assert allx[:, 0, :].max() == 0  # ink bright on black, centred: the border is background


def test_folder_with_its_own_train_and_test(tmp_path):
    root = write_folder(tmp_path / "d", layout="split")
    ds = load_dataset("folder", root)
    assert len(ds.test_labels) == 30 and len(ds.train_labels) == 90
    assert ds.provenance()["split"].startswith("the data's own")


def test_named_classes_sort_and_digit_folders_keep_ten_classes(tmp_path):
    root = tmp_path / "named"
    for name in ("cat", "10", "2", "dog"):
        write_one(root / name / "a.png", seed=len(name))
        write_one(root / name / "b.png", seed=len(name) + 1)
    assert load_dataset("folder", root).classes == ("2", "10", "cat", "dog")
    few = tmp_path / "few"
    for name in ("3", "5"):
        write_one(few / name / "a.png")
        write_one(few / name / "b.png", seed=2)
    ds = load_dataset("folder", few)
    assert len(ds.classes) == 10 and set(np.concatenate([ds.train_labels, ds.test_labels]).tolist()) == {3, 5}


def write_one(path: Path, seed: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x, _ = synthetic_digits(1, seed)
    Image.fromarray(x[0]).save(path)


def test_skipped_files_are_one_line_and_strict_refuses_them(tmp_path):
    root = write_folder(tmp_path / "d", n=60)
    (root / "3" / "notes.txt").write_text("not an image")
    (root / "4" / "broken.png").write_bytes(b"\x89PNG but not really")
    (root / "README").write_text("at the top")
    (root / ".DS_Store").write_bytes(b"ignored")
    ds = load_dataset("folder", root)
    assert ds.notice.count("\n") == 0 and "skipped 3 of 63 files" in ds.notice
    assert {s["file"] for s in ds.provenance()["skipped"]} == {"3/notes.txt", "4/broken.png", "README"}
    with pytest.raises(DataError, match="--strict-data: cannot use 3 of 63 files") as exc:
        load_dataset("folder", root, strict=True)
    assert "\n" not in str(exc.value)


def test_a_pipe_a_device_or_a_link_loop_in_the_folder_is_skipped_not_read(tmp_path):
    """A named pipe among the images hung the load (its open blocks); a link to /dev/zero never ended its read."""
    root = write_folder(tmp_path / "d", n=60)
    os.mkfifo(root / "3" / "pipe.png")
    (root / "4" / "zero.png").symlink_to("/dev/zero")
    (root / "5" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "6" / "loop").symlink_to(root / "6")
    ds = load_dataset("folder", root)
    assert len(ds.train_labels) + len(ds.test_labels) == 60 and ds.notice.count("\n") == 0
    assert {s["file"] for s in ds.provenance()["skipped"]} == {"3/pipe.png", "4/zero.png", "5/gone.png"}
    assert "not a regular file" in ds.notice


@pytest.mark.parametrize("make,message", [
    (lambda r: (r / "empty").mkdir(), "empty: an empty class folder"),
    (lambda r: [p.unlink() for p in (r / "7").iterdir()] and (r / "7" / "x.txt").write_text("x"),
     "7: no readable images"),
    (lambda r: (r / "train").mkdir(), "has train/ but no test/"),
])
def test_bad_folders_are_one_line(tmp_path, make, message):
    root = write_folder(tmp_path / "d", n=60)
    make(root)
    with pytest.raises(DataError, match=message) as exc:
        load_dataset("folder", root)
    assert "\n" not in str(exc.value)


def test_single_class_no_class_and_missing_folder(tmp_path):
    one = tmp_path / "one"
    write_one(one / "3" / "a.png")
    with pytest.raises(DataError, match="only one class folder"):
        load_dataset("folder", one)
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_dataset("folder", tmp_path / "none")
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset("folder", tmp_path / "absent")
    with pytest.raises(DataError, match="pass --data-dir"):
        load_dataset("folder")
    split = write_folder(tmp_path / "s", n=40, layout="split")
    write_one(split / "test" / "x" / "a.png")
    with pytest.raises(DataError, match="a class with no folder in"):
        load_dataset("folder", split)


def test_more_classes_than_the_model_has_outputs_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_mod, "MAX_CLASSES", 3)
    root = write_folder(tmp_path / "d", n=60)
    with pytest.raises(DataError, match="10 class folders, over the 3"):
        load_dataset("folder", root)


def test_cache_notices_a_changed_added_or_removed_file(tmp_path):
    root = write_folder(tmp_path / "d", n=50)
    first = load_dataset("folder", root)
    assert load_dataset("folder", root).extra["cache"]["hit"]
    digests = {first.extra["digest"]}
    victim = sorted((root / "2").iterdir())[0]
    stat = victim.stat()
    x, _ = synthetic_digits(1, 99)
    Image.fromarray(255 - x[0]).save(victim)  # changed content, same name; mtime put back as it was
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = load_dataset("folder", root)
    assert not changed.extra["cache"]["hit"] and changed.extra["digest"] not in digests
    digests.add(changed.extra["digest"])
    write_one(root / "2" / "new.png", seed=5)  # added
    added = load_dataset("folder", root)
    assert not added.extra["cache"]["hit"] and added.extra["digest"] not in digests
    n_added = len(added.train_labels) + len(added.test_labels)
    digests.add(added.extra["digest"])
    (root / "2" / "new.png").unlink()  # removed: back to the previous content, whose arrays are cached
    removed = load_dataset("folder", root)
    assert removed.extra["digest"] == changed.extra["digest"] and removed.extra["cache"]["hit"]
    assert len(removed.train_labels) + len(removed.test_labels) == n_added - 1


def test_damaged_cache_is_rebuilt(tmp_path):
    root = write_folder(tmp_path / "d", n=40)
    ds = load_dataset("folder", root)
    Path(ds.extra["cache"]["path"]).write_bytes(b"garbage")
    again = load_dataset("folder", root)
    assert not again.extra["cache"]["hit"] and np.array_equal(again.train_images, ds.train_images)


def test_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(4), [10, 5, 2, 1])
    train, test = stratified_split(labels, 0.2)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(18))
    assert [int((labels[test] == c).sum()) for c in range(4)] == [2, 1, 1, 0]
    assert np.array_equal(test, stratified_split(labels, 0.2)[1])
    assert not np.array_equal(test, stratified_split(labels, 0.2, seed=1)[1])


# ------------------------------------------------------------------------------------------------ csv
def test_kaggle_csv_loads_and_splits(tmp_path):
    x, y = write_csv(tmp_path / "train.csv")
    ds = load_dataset("csv", tmp_path / "train.csv", test_size=0.3)
    assert len(ds.train_labels) + len(ds.test_labels) == 100
    both = np.concatenate([ds.train_images, ds.test_images])
    assert sorted(map(bytes, both)) == sorted(map(bytes, x))
    assert ds.provenance()["format"] == "csv" and "0.3" in ds.provenance()["split"]
    write_csv(tmp_path / "noheader.csv", header=False)
    assert len(load_dataset("csv", tmp_path / "noheader.csv").classes) == 10


def _bad_row(path: Path, row: int, edit) -> None:
    lines = path.read_text().splitlines()
    cells = lines[row].split(",")
    lines[row] = ",".join(edit(cells))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("edit,message", [
    (lambda c: c[:-1], "line 5: 784 columns, expected 785"),
    (lambda c: c[:10] + ["abc"] + c[11:], "line 5 column 11: 'abc' is not a whole number"),
    (lambda c: c[:10] + ["300"] + c[11:], "line 5 column 11: pixel value 300 is outside 0-255"),
    (lambda c: c[:10] + ["-1"] + c[11:], "line 5 column 11: pixel value -1 is outside 0-255"),
    (lambda c: ["12"] + c[1:], "line 5: label 12 is not a class"),
    (lambda c: c[:10] + ["1.5"] + c[11:], "line 5 column 11: '1.5' is not a whole number"),
])
def test_bad_csv_rows_are_one_line_naming_the_line(tmp_path, edit, message):
    path = tmp_path / "train.csv"
    write_csv(path, n=20)
    _bad_row(path, 4, edit)
    with pytest.raises(DataError, match=message) as exc:
        load_dataset("csv", path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_bad_csv_files(tmp_path):
    write_csv(tmp_path / "test.csv", labelled=False)
    with pytest.raises(DataError, match="no label column.*--submission"):
        load_dataset("csv", tmp_path / "test.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_dataset("csv", tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="line 1: a header of 3 columns"):
        load_dataset("csv", tmp_path / "other.csv")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not a text CSV"):
        load_dataset("csv", tmp_path / "binary.csv")
    with pytest.raises(DataError, match="is a folder, not a file; expected Kaggle's layout"):
        load_dataset("csv", tmp_path)


def test_the_likely_csv_mistakes_say_what_to_do(tmp_path):
    """Values scaled to 0-1, another separator, every cell quoted (accepted), a header alone."""
    from digitlab.data.tabular import read_csv

    scaled = tmp_path / "scaled.csv"
    scaled.write_text(",".join(["0.5"] * 784) + "\n")
    with pytest.raises(DataError, match=r"line 1: pixel values must be whole numbers 0-255, not '0.5'.*multiply by 255"):
        read_csv(scaled)
    semi = tmp_path / "semi.csv"
    semi.write_text(";".join(["0"] * 784) + "\n")
    with pytest.raises(DataError, match="separated by ';', not commas"):
        read_csv(semi)
    x, y = write_csv(tmp_path / "plain.csv", n=20)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text("".join(",".join(f'"{c}"' for c in line.split(",")) + "\n"
                              for line in (tmp_path / "plain.csv").read_text().splitlines()))
    table = read_csv(quoted)
    assert np.array_equal(table.images, x) and np.array_equal(table.labels, y)
    (tmp_path / "header.csv").write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
    with pytest.raises(DataError, match="a header but no rows; it needs one row of 784 pixel values per image"):
        read_csv(tmp_path / "header.csv")


@pytest.mark.parametrize("dataset", ["csv", "npz"])
def test_a_pipe_or_a_device_as_the_table_is_refused_at_once(tmp_path, dataset):
    """Read through io.read_limited: a named pipe nobody writes to never hangs, /dev/zero is never read to the end."""
    fifo = tmp_path / f"fifo.{dataset}"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="named pipe, not a file saved on disk"):
        load_dataset(dataset, fifo)
    with pytest.raises(DataError, match="character device"):
        load_dataset(dataset, Path("/dev/zero"))
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(dataset, tmp_path / f"missing.{dataset}")


# ------------------------------------------------------------------------------------------------ npz
def test_keras_npz_loads_with_its_own_split(tmp_path):
    x, y = synthetic_digits(90, 4)
    np.savez(tmp_path / "mnist.npz", x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    ds = load_dataset("npz", tmp_path / "mnist.npz")
    assert np.array_equal(ds.train_images, x[:60]) and np.array_equal(ds.test_labels, y[60:].astype(np.int64))
    assert ds.provenance()["format"] == "npz" and len(ds.provenance()["digest"]) == 64


@pytest.mark.parametrize("arrays,message", [
    ({"x_train": 1}, "no y_train, x_test, y_test"),
    ({"x_train": "float"}, r"x_train is float32 \(60, 28, 28\); expected uint8"),
    ({"x_train": "flat"}, r"x_train is uint8 \(60, 784\)"),
    ({"y_train": "2d"}, r"y_train is uint8 \(60, 1\)"),
    ({"y_test": "short"}, "x_test has 30 images but y_test has 29 labels"),
    ({"y_train": "label"}, "y_train holds label 10, not a class"),
])
def test_bad_npz_is_one_line(tmp_path, arrays, message):
    x, y = synthetic_digits(90, 4)
    good = {"x_train": x[:60], "y_train": y[:60], "x_test": x[60:], "y_test": y[60:]}
    kind = next(iter(arrays.values()))
    key = next(iter(arrays))
    if kind == 1:
        good = {"x_train": x[:60]}
    elif kind == "float":
        good[key] = good[key].astype(np.float32)
    elif kind == "flat":
        good[key] = good[key].reshape(60, 784)
    elif kind == "2d":
        good[key] = good[key][:, None]
    elif kind == "short":
        good[key] = good[key][:-1]
    elif kind == "label":
        good[key] = good[key].copy()
        good[key][0] = 10
    np.savez(tmp_path / "m.npz", **good)
    with pytest.raises(DataError, match=message):
        load_dataset("npz", tmp_path / "m.npz")


def test_not_an_npz(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="not a .npz file"):
        load_dataset("npz", tmp_path / "m.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DataError, match="a single .npy array"):
        load_dataset("npz", tmp_path / "one.npy")
    np.savez(tmp_path / "obj.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1), x_test=np.zeros(1),
             y_test=np.zeros(1))
    with pytest.raises(DataError, match="pickled"):
        load_dataset("npz", tmp_path / "obj.npz")


# ------------------------------------------------------------------------------------------------ runs record it
def test_a_run_on_a_folder_records_its_data_and_says_what_it_skipped(tmp_path):
    root = write_folder(tmp_path / "d", n=80)
    (root / "1" / "x.txt").write_text("x")
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--dataset", "folder", "--data-dir", str(root), "--device", "cpu",
                                      "--epochs", "1", "--max-steps", "3", "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    assert "skipped 1 of 81 files" in result.output and "data split: test = 0.2 of each class" in result.output
    data = json.loads((run / "data.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    for record in (data, summary["data"]):
        assert record["format"] == "folder" and record["skipped"][0]["file"] == "1/x.txt" and record["counts"]
    strict = CliRunner().invoke(cli, ["train", "--dataset", "folder", "--data-dir", str(root), "--strict-data",
                                      "--device", "cpu", "--max-steps", "1", "--run-dir", str(tmp_path / "r2")])
    assert strict.exit_code != 0 and "1/x.txt" in strict.output and "Traceback" not in strict.output
    evaluated = CliRunner().invoke(cli, ["eval", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["n"] == summary["n_test"]


def test_a_second_load_stats_the_files_instead_of_reading_them(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "d", n=40)
    load_dataset("folder", root)
    read = []
    real = folder_mod._sha256
    monkeypatch.setattr(folder_mod, "_sha256", lambda path: read.append(path) or real(path))
    assert load_dataset("folder", root).extra["cache"]["hit"] and read == []
    victim = sorted((root / "5").iterdir())[0]
    victim.write_bytes(victim.read_bytes())  # the same bytes rewritten: its ctime changed, so it is hashed again
    again = load_dataset("folder", root)
    assert read == [victim] and again.extra["cache"]["hit"]  # same content: same digest, the cached arrays


# ------------------------------------------------------------------------------------------- a newcomer's walk
def test_a_run_on_your_folder_is_found_from_any_folder_and_a_changed_folder_is_named(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from digitlab.cli import app

    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "my-digits", n=60)
    trained = runner.invoke(app, ["train", "--dataset", "folder", "--data-dir", "my-digits", "--max-steps", "5",
                                  "--device", "cpu", "--run-dir", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the data was named relative to another folder
    same = runner.invoke(app, ["eval", str(tmp_path / "run")])
    assert same.exit_code == 0 and "changed since" not in same.output, same.output
    for png in sorted((tmp_path / "my-digits").rglob("*.png"))[:3]:
        png.unlink()
    changed = runner.invoke(app, ["eval", str(tmp_path / "run")])
    assert changed.exit_code == 0 and "these files changed since the run trained on them" in changed.stderr


def test_too_few_images_per_class_is_refused_before_a_run_folder_exists(tmp_path, isolated_env):
    from typer.testing import CliRunner

    from digitlab.cli import app

    x, y = synthetic_digits(60, 3)
    for label in (3, 7):  # one image in each class, as after a short Collect session
        (tmp_path / "few" / str(label)).mkdir(parents=True)
        Image.fromarray(x[list(y).index(label)]).save(tmp_path / "few" / str(label) / "a.png")
    result = CliRunner().invoke(app, ["train", "--dataset", "folder", "--data-dir", str(tmp_path / "few"),
                                      "--max-steps", "2", "--device", "cpu", "--name", "few"])
    assert result.exit_code != 0 and "each class needs at least 2 examples" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and not (isolated_env / "runs" / "few").exists()
