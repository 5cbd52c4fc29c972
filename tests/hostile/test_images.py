"""Hostile class 2b: images given to `predict`. A bad file (empty, truncated, not an image, huge dimensions, NaN
pixels, a folder, missing) is one `error:` line naming it, and never stops the other files of the same call; odd but
valid files (CIELab, float, 16-bit, CMYK, animated GIF) are predicted. --explain never lets one output replace
another, nor an earlier one (unless --force)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.hostile.conftest import assert_nothing_lost, assert_ok, assert_one_line_error, error_lines, hashes, invoke
from tests.hostile.test_server import _pixel_bomb
from tests.test_preprocess import ODD_GOOD, _float_tiff, png_bytes, stroke_image

GOOD = png_bytes(stroke_image())

BAD_IMAGES = {  # name -> (bytes, or None for a folder / a missing file; words of its error line)
    "empty.png": (b"", "empty"),
    "truncated.png": (GOOD[:120], "not a readable image"),
    "text.png": (b"hello, I am text\n" * 10, "not a readable image"),
    "huge.png": (_pixel_bomb(), "too large"),
    "nan.tiff": (_float_tiff(nan=True), "not numbers"),
    "script.jpg": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a readable image"),
    "blank.png": (png_bytes(Image.new("L", (64, 64), 255)), "no digit"),
    "folder.png": (None, "no image files"),
    "missing.png": (None, "not found"),
}


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_one_bad_image_does_not_stop_the_others(trained, tmp_path, name):
    content, words = BAD_IMAGES[name]
    bad = tmp_path / name
    if content is not None:
        bad.write_bytes(content)
    elif name == "folder.png":
        bad.mkdir()
    good = tmp_path / "good.png"
    good.write_bytes(GOOD)
    before = hashes(trained, tmp_path)
    result = invoke("predict", trained, bad, good, "--device", "cpu", "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0] and words in lines[0].lower()
    assert [r["file"] for r in json.loads(result.stdout)] == [str(good)]  # the good one still answered
    assert_nothing_lost(before, trained, tmp_path)


@pytest.mark.parametrize("name", ["cielab-tiff", "float-tiff", "i16-png", "i16-tiff", "cmyk-jpeg", "animated-gif",
                                  "1bit-png", "palette-transparent-gif"])
def test_odd_but_valid_images_are_predicted(trained, tmp_path, name):
    path = tmp_path / f"{name}.img"
    path.write_bytes(ODD_GOOD[name]())
    result = invoke("predict", trained, path, "--device", "cpu", "--json")
    assert_ok(result)
    assert 0 <= json.loads(result.stdout)[0]["prediction"] <= 9


@pytest.mark.parametrize("name", ["dígito ünï [1] (copy).png", "[bold red]x[link=y].png", "a b  c.png", "数字.png"])
def test_odd_file_names_are_printed_literally(trained, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(GOOD)
    result = invoke("predict", trained, path, "--device", "cpu")
    assert_ok(result)
    assert name in result.stdout
    (tmp_path / ("bad " + name)).write_bytes(b"")
    line = assert_one_line_error(invoke("predict", trained, tmp_path / ("bad " + name), "--device", "cpu"))
    assert "bad " + name in line


def test_explain_never_replaces_another_output(trained, tmp_path):
    images = tmp_path / "in"
    images.mkdir()
    (images / "x.png").write_bytes(GOOD)
    (images / "x.jpg").write_bytes(png_bytes(stroke_image(mode="RGB"), "JPEG"))
    out = tmp_path / "out [x]"
    first = invoke("predict", trained, images, "--explain", out, "--device", "cpu", "--json")
    assert_ok(first)
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 2 and len(json.loads(first.stdout)) == 2  # x.png and x.jpg: two files, neither replaced
    before = hashes(out)
    again = invoke("predict", trained, images, "--explain", out, "--device", "cpu")
    assert_one_line_error(again, "--force")
    assert_nothing_lost(before, out)
    assert sorted(p.name for p in out.iterdir()) == written


def test_csv_output_never_replaces_an_earlier_file(trained, tmp_path):
    good = tmp_path / "g.png"
    good.write_bytes(GOOD)
    earlier = tmp_path / "results.csv"
    earlier.write_text("an earlier result\n")
    before = hashes(earlier)
    assert_one_line_error(invoke("predict", trained, good, "--csv", earlier, "--device", "cpu"), "--force")
    assert_nothing_lost(before, earlier)


def test_a_whole_folder_of_bad_images_is_one_line_each(trained, tmp_path):
    folder = tmp_path / "all-bad"
    folder.mkdir()
    for name in ("a.png", "b.jpg", "c.gif"):
        (folder / name).write_bytes(b"")
    result = invoke("predict", trained, folder, "--device", "cpu")
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = error_lines(result)
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)


def test_image_path_is_a_file_under_a_file(trained, tmp_path):
    (tmp_path / "plain").write_text("x")
    line = assert_one_line_error(invoke("predict", trained, tmp_path / "plain" / "x.png", "--device", "cpu"))
    assert "x.png" in line


