"""`digitlab predict RUN test.csv --submission submission.csv`: Kaggle's answer file."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from digitlab.cli import app
from digitlab.inference import class_probabilities, load_model
from tests.data.test_ownfiles import write_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def run(idx_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sub") / "run"
    result = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                 "--epochs", "1", "--max-steps", "20", "--run-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_submission_has_one_row_per_test_row_in_order(run, tmp_path):
    x, _ = write_csv(tmp_path / "test.csv", n=25, labelled=False)
    out = tmp_path / "submission.csv"
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "test.csv"), "--submission", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 26
    model, ckpt = load_model(run)
    expected = class_probabilities(model, ckpt.info, x, "cpu").argmax(1)
    assert [line.split(",") for line in lines[1:]] == [[str(i), str(p)] for i, p in enumerate(expected, 1)]


def test_submission_never_replaces_a_file_without_force(run, tmp_path):
    write_csv(tmp_path / "test.csv", n=5, labelled=False)
    out = tmp_path / "submission.csv"
    out.write_text("mine")
    args = ["predict", str(run), str(tmp_path / "test.csv"), "--submission", str(out)]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "--force" in refused.output and out.read_text() == "mine"
    assert runner.invoke(app, args + ["--force"]).exit_code == 0
    assert out.read_text().startswith("ImageId,Label\n1,")
    (tmp_path / "link.csv").symlink_to(tmp_path / "gone.csv")  # a dangling link is somebody's name too
    linked = runner.invoke(app, [*args[:-1], str(tmp_path / "link.csv")])
    assert linked.exit_code != 0 and "--force" in linked.output and (tmp_path / "link.csv").is_symlink()


def test_submission_never_replaces_its_own_input_even_with_force(run, tmp_path):
    write_csv(tmp_path / "test.csv", n=5, labelled=False)
    before = (tmp_path / "test.csv").read_bytes()
    same = runner.invoke(app, ["predict", str(run), str(tmp_path / "test.csv"), "--submission",
                               str(tmp_path / "." / "test.csv"), "--force"])
    assert same.exit_code != 0 and "is the input CSV itself" in same.output
    assert (tmp_path / "test.csv").read_bytes() == before


def test_labelled_csv_reports_accuracy_and_bad_rows_are_one_line(run, tmp_path):
    write_csv(tmp_path / "train.csv", n=30)
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "train.csv"), "--submission",
                                 str(tmp_path / "s.csv"), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["n"] == 30 and 0 <= record["accuracy"] <= 100
    lines = (tmp_path / "train.csv").read_text().splitlines()
    lines[3] = lines[3] + ",7"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    bad = runner.invoke(app, ["predict", str(run), str(tmp_path / "bad.csv"), "--submission", str(tmp_path / "b.csv")])
    assert bad.exit_code != 0 and "line 4: 786 columns" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "b.csv").exists()


def test_a_csv_without_submission_says_how(run, tmp_path):
    write_csv(tmp_path / "test.csv", n=3, labelled=False)
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "test.csv")])
    assert result.exit_code != 0 and "--submission" in result.output


def _refused(run, inputs, out):
    result = runner.invoke(app, ["predict", str(run), *map(str, inputs), "--submission", str(out)])
    assert result.exit_code != 0 and "Traceback" not in result.output and not out.exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_every_wrong_input_to_submission_is_one_line_saying_what_it_needs(run, tmp_path):
    """A folder, several files, an image, a file of another layout: which file, what is wrong, what to do (and no
    advice about `--dataset csv`, which is training's option)."""
    from PIL import Image

    write_csv(tmp_path / "test.csv", n=3, labelled=False)
    images = tmp_path / "mine"
    images.mkdir()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(images / "a.png")
    (tmp_path / "other.csv").write_text("a,b,c\n1,2,3\n")
    out = tmp_path / "submission.csv"
    needs = "--submission needs Kaggle's test.csv (784 pixel columns, no label)"
    folder = _refused(run, [images], out)
    assert folder.startswith(f"error: {images}: a folder; {needs}") and f"predict {run} {images} --csv" in folder
    image = _refused(run, [images / "a.png"], out)
    assert image.startswith(f"error: {images / 'a.png'}: an image; {needs}") and "--csv out.csv" in image
    several = _refused(run, [tmp_path / "test.csv", images / "a.png"], out)
    assert "2 inputs given" in several and "needs one file" in several and "--csv out.csv" in several
    none = _refused(run, [], out)
    assert needs in none and f"predict {run} test.csv --submission" in none
    other = _refused(run, [tmp_path / "other.csv"], out)
    assert other.startswith(f"error: {tmp_path / 'other.csv'} line 1: a header of 3 columns") and needs in other
    (tmp_path / "digits.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")  # an image under a .csv name
    assert "not a text CSV file; " + needs in _refused(run, [tmp_path / "digits.csv"], out)
    assert "file not found; " + needs in _refused(run, [tmp_path / "missing.csv"], out)
    for line in (folder, image, several, none, other):
        assert "--dataset" not in line


def test_a_folder_as_the_submission_file_is_named_as_such(run, tmp_path):
    write_csv(tmp_path / "test.csv", n=3, labelled=False)
    result = runner.invoke(app, ["predict", str(run), str(tmp_path / "test.csv"), "--submission", str(tmp_path),
                                 "--force"])
    assert result.exit_code != 0 and f"--submission {tmp_path}: a folder" in result.output
    assert "--submission submission.csv" in result.output
