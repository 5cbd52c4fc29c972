"""predict_files --explain: each explanation gets the image as decoded (shown beside the 28x28 input)."""

import numpy as np
from typer.testing import CliRunner

from digitlab import plots
from digitlab.cli import app
from digitlab.predict import predict_files
from tests.test_preprocess import png_bytes, stroke_image

runner = CliRunner()


def test_explanations_get_the_original_image(idx_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                 "--max-steps", "2", "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    (tmp_path / "digit.png").write_bytes(png_bytes(stroke_image()))
    calls = []
    monkeypatch.setattr(plots, "explanation", lambda image, probs, classes, out, title="", original=None:
                        calls.append((image.shape, original, title)))
    results, errors = predict_files(run, [tmp_path / "digit.png"], explain_dir=tmp_path / "explain")
    assert not errors and len(results) == 1
    ((shape, original, title),) = calls
    assert shape == (28, 28) and title == "digit.png"
    assert original.shape == (200, 200) and original.dtype.kind == "f"  # the decoded grayscale, as given
    assert original.min() < 0.1 and original.max() > 0.9  # dark ink on white paper, not yet inverted
    calls.clear()
    predict_files(run, [tmp_path / "digit.png"])  # no --explain: nothing drawn, nothing kept
    assert calls == [] and np.isfinite(results[0]["probability"])
