"""The confusion matrix and the --explain figure, read through matplotlib's objects."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from digitlab.errors import DigitlabError
from digitlab.plots import build_confusion_matrix, build_explanation, confusion_matrix, explanation

CLASSES = tuple(str(i) for i in range(10))


def drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig, fig.canvas.get_renderer()


def test_confusion_matrix_has_a_colour_bar_in_counts():
    matrix = np.diag([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]).astype(np.int64)
    matrix[4, 9] = 7
    fig = build_confusion_matrix(matrix, CLASSES, title="mlp on mnist test")
    heat, bar = fig.axes  # the matrix and its colour bar
    assert heat.get_title() == "mlp on mnist test"
    assert bar.get_ylabel() == "images (log scale)"
    assert [t.get_text() for t in bar.get_yticklabels()] == ["0", "1", "10", "100", "1,000", "1,135"]
    assert (heat.get_xlabel(), heat.get_ylabel()) == ("predicted", "true")


def test_explanation_shows_the_original_beside_the_input_without_collisions():
    original = np.ones((120, 90), dtype=np.float32)  # a white photo, 90 wide and 120 high, dark ink
    original[20:100, 40:50] = 0.0
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 12:16] = 255
    probs = np.array([0.01, 0.9, 0.01, 0.01, 0.01, 0.02, 0.01, 0.01, 0.01, 0.01])
    fig, renderer = drawn(build_explanation(image, probs, CLASSES, title="photo.jpg", original=original))
    photo, model_input, bars = fig.axes
    assert photo.get_title() == "your image (90x120)"
    assert photo.get_images()[0].get_array().shape == (120, 90)
    assert model_input.get_title() == "model input (28x28)"
    assert bars.get_title() == "prediction: 1 (90.0%)"
    assert bars.get_ylim() == (0, 1)

    def box(artist):
        return artist.get_window_extent(renderer)

    ylabel = box(bars.yaxis.label)
    assert not any(ylabel.overlaps(box(t)) for t in bars.get_yticklabels() if t.get_text())
    suptitle = box(fig._suptitle)
    assert not any(suptitle.overlaps(box(ax.title)) for ax in fig.axes)
    titles = [box(ax.title) for ax in fig.axes]
    assert not any(a.overlaps(b) for i, a in enumerate(titles) for b in titles[i + 1 :])


def test_explanation_without_original_keeps_two_panels(tmp_path):
    path = explanation(np.zeros((28, 28), np.uint8), np.full(10, 0.1), CLASSES, tmp_path / "x.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert len(build_explanation(np.zeros((28, 28), np.uint8), np.full(10, 0.1), CLASSES).axes) == 2


def test_figure_suffix_is_checked(tmp_path):
    with pytest.raises(DigitlabError, match="png"):
        confusion_matrix(np.eye(10, dtype=np.int64), CLASSES, tmp_path / "m.jpg")
    assert not (tmp_path / "m.jpg").exists()
