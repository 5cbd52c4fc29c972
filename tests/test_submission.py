"""`digitlab predict RUN test.csv --submission submission.csv`: Kaggle's answer file."""

import json

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
    two = runner.invoke(app, ["predict", str(run), str(tmp_path / "test.csv"), str(tmp_path / "test.csv"),
                              "--submission", str(tmp_path / "s.csv")])
    assert two.exit_code != 0 and "give one CSV" in two.output
