import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitlab.preprocess import ImageError, decode, image_files, read_image, to_mnist


def stroke_image(size=200, dark_on_light=True, box=(60, 30, 90, 170), width=6, mode="L"):
    """A vertical bar (a '1') drawn with a pen: dark ink on light paper by default."""
    paper, ink = (255, 0) if dark_on_light else (0, 255)
    img = Image.new("L", (size, size), paper)
    ImageDraw.Draw(img).rectangle(box, fill=ink)
    return img.convert(mode)


def png_bytes(img, fmt="PNG"):
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def com(a):
    ys, xs = np.indices(a.shape)
    return (ys * a).sum() / a.sum(), (xs * a).sum() / a.sum()


def test_inversion_makes_ink_bright_either_way():
    dark = to_mnist(decode(png_bytes(stroke_image(dark_on_light=True))))
    light = to_mnist(decode(png_bytes(stroke_image(dark_on_light=False))))
    assert dark.dtype == np.uint8 and dark.shape == (28, 28)
    assert dark[0, 0] == 0 and dark.max() > 200  # background black, ink white: MNIST's convention
    assert np.abs(dark.astype(int) - light.astype(int)).max() <= 2


def test_crop_scale_and_centre_of_mass():
    # a tall bar far off-centre on a big canvas: cropped, scaled to 20 px tall, centred by mass
    out = to_mnist(decode(png_bytes(stroke_image(size=400, box=(20, 200, 60, 390)))))
    rows = np.nonzero(out.max(1) > 50)[0]
    assert 18 <= rows.max() - rows.min() + 1 <= 21
    cy, cx = com(out.astype(float))
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1


def test_aspect_ratio_kept():
    out = to_mnist(decode(png_bytes(stroke_image(box=(20, 90, 180, 110)))))  # a wide bar
    cols = np.nonzero(out.max(0) > 50)[0]
    rows = np.nonzero(out.max(1) > 50)[0]
    assert cols.max() - cols.min() + 1 >= 18 and rows.max() - rows.min() + 1 <= 6


def test_thin_strokes_are_thickened():
    img = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(img).line([(80, 60), (200, 60), (120, 230)], fill=0, width=2)  # a thin '7'
    out = to_mnist(decode(png_bytes(img)))
    assert (out > 127).sum() >= 40  # a 2-pixel pen line on 280 px would vanish without thickening


def test_transparent_drawing_on_alpha():
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((40, 10, 55, 90), fill=(0, 0, 0, 255))
    out = to_mnist(decode(png_bytes(img)))
    assert out.max() > 200 and out[0, 0] == 0


@pytest.mark.parametrize("fmt,mode", [("JPEG", "RGB"), ("BMP", "RGB"), ("GIF", "P"), ("WEBP", "RGB"),
                                      ("PNG", "LA"), ("TIFF", "L")])
def test_formats_and_modes(fmt, mode):
    img = stroke_image(mode=mode)
    out = to_mnist(decode(png_bytes(img, fmt)))
    assert out.max() > 150


def test_blank_image_is_a_clear_error():
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(decode(png_bytes(Image.new("L", (50, 50), 255))), "blank.png")


def test_bad_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match=r"notes.txt: not a readable image"):
        read_image(tmp_path / "notes.txt")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "cut.png").write_bytes(png_bytes(stroke_image())[:200])
    with pytest.raises(ImageError, match="cut.png: not a readable image"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="file not found"):
        read_image(tmp_path / "missing.png")


def test_decompression_bomb_is_refused(tmp_path):
    # 10000x10000 pixels of one colour compresses to a few KB but would need 100 MB decoded
    img = Image.new("1", (10000, 10000), 1)
    path = tmp_path / "bomb.png"
    img.save(path)
    assert path.stat().st_size < 200_000
    with pytest.raises(ImageError, match="pixel limit|too large"):
        read_image(path)


def test_image_files_expands_folders(tmp_path):
    for name in ("b.png", "a.jpg", "readme.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in image_files([tmp_path])] == ["a.jpg", "b.png"]


# ------------------------------------------------------------------------------------------------ odd images
def _float_tiff(nan: bool) -> bytes:
    arr = np.asarray(stroke_image(), dtype=np.float32) / 255.0 * 3.5 - 1.0  # any float range
    if nan:
        arr[5, 5] = np.nan
    return png_bytes(Image.fromarray(arr), "TIFF")  # float32 -> mode F


def _i16(fmt: str, mode: str = "I;16") -> bytes:
    arr = np.asarray(stroke_image(), dtype=np.uint16) * 257  # 0..65535
    img = Image.frombytes("I;16", (arr.shape[1], arr.shape[0]), arr.astype("<u2").tobytes())
    return png_bytes(img if mode == "I;16" else Image.fromarray(arr.astype(np.int32)), fmt)


def _palette_with_transparency(fmt: str) -> bytes:
    img = Image.new("P", (100, 100), 0)
    img.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    ImageDraw.Draw(img).rectangle((40, 10, 55, 90), fill=1)
    img.info["transparency"] = 0  # the paper is the transparent colour
    return png_bytes(img, fmt) if fmt != "GIF" else _save(img, "GIF", transparency=0)


def _save(img, fmt, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _animated_gif() -> bytes:
    frames = [stroke_image(), stroke_image(box=(20, 90, 180, 110)), Image.new("L", (200, 200), 255)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _cmyk(fmt: str) -> bytes:
    rgb = stroke_image(mode="RGB")
    return png_bytes(rgb.convert("CMYK"), fmt)


def _exif_rotated_jpeg() -> bytes:
    img = stroke_image(mode="RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    return _save(img, "JPEG", exif=exif.tobytes())


ODD_GOOD = {  # decode to a usable digit
    "cielab-tiff": lambda: png_bytes(stroke_image(mode="RGB").convert("LAB"), "TIFF"),
    "float-tiff": lambda: _float_tiff(nan=False),
    "cmyk-jpeg": lambda: _cmyk("JPEG"),
    "cmyk-tiff": lambda: _cmyk("TIFF"),
    "i16-png": lambda: _i16("PNG"),
    "i16-tiff": lambda: _i16("TIFF"),
    "i32-tiff": lambda: _i16("TIFF", "I"),
    "1bit-png": lambda: png_bytes(stroke_image(mode="1")),
    "1bit-tiff": lambda: png_bytes(stroke_image(mode="1"), "TIFF"),
    "1bit-bmp": lambda: png_bytes(stroke_image(mode="1"), "BMP"),
    "palette-transparent-png": lambda: _palette_with_transparency("PNG"),
    "palette-transparent-gif": lambda: _palette_with_transparency("GIF"),
    "animated-gif": _animated_gif,
    "la-png": lambda: png_bytes(stroke_image(mode="LA")),
    "rgba-webp": lambda: png_bytes(stroke_image(mode="RGBA"), "WEBP"),
    "ycbcr-jpeg": lambda: png_bytes(stroke_image(mode="YCbCr"), "JPEG"),
    "exif-rotated-jpeg": _exif_rotated_jpeg,
    "rgb-png-with-trns": lambda: _save(stroke_image(mode="RGB"), "PNG", transparency=(255, 255, 255)),
}


@pytest.mark.parametrize("name", sorted(ODD_GOOD))
def test_odd_modes_become_a_digit(name):
    out = to_mnist(decode(ODD_GOOD[name](), name), name)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() > 150 and out[0, 0] == 0  # ink found and made bright on black, whatever the mode


def test_exif_rotation_is_applied():
    upright = to_mnist(decode(png_bytes(stroke_image(mode="RGB"), "JPEG")))
    rotated = to_mnist(decode(_exif_rotated_jpeg()))
    # a vertical bar shown rotated by 90 degrees becomes horizontal: wide, not tall
    cols, rows = np.nonzero(rotated.max(0) > 100)[0], np.nonzero(rotated.max(1) > 100)[0]
    assert np.ptp(cols) > np.ptp(rows)
    cols, rows = np.nonzero(upright.max(0) > 100)[0], np.nonzero(upright.max(1) > 100)[0]
    assert np.ptp(rows) > np.ptp(cols)


@pytest.mark.parametrize("data,words", [
    (lambda: _float_tiff(nan=True), "not numbers"),
    (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a readable image"),  # never Ghostscript
    (lambda: b"\x00\x00\x01\x00\x01\x00\x10\x10" + b"\x00" * 64, "not a readable image"),  # ICO: not accepted
    (lambda: png_bytes(Image.new("F", (40, 40), 0.5), "TIFF"), "no digit found"),
])
def test_odd_images_refused_with_image_error(data, words):
    with pytest.raises(ImageError, match=words) as info:
        to_mnist(decode(data(), "odd"), "odd")
    assert "\n" not in str(info.value) and info.value.kind in ("too-large", "unreadable", "unsupported", "content")


SAMPLES = {"png": lambda: png_bytes(stroke_image()), "jpeg": lambda: png_bytes(stroke_image(mode="RGB"), "JPEG"),
           "gif": _animated_gif, "tiff-lab": ODD_GOOD["cielab-tiff"], "tiff-float": ODD_GOOD["float-tiff"],
           "webp": ODD_GOOD["rgba-webp"], "bmp": ODD_GOOD["1bit-bmp"]}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_damaged_files_raise_only_image_error(fmt):
    """Cut and bit-flipped files of every format: a digit or an ImageError, never another exception."""
    good = SAMPLES[fmt]()
    rng = np.random.default_rng(0)
    variants = [good[:cut] for cut in (8, 16, 40, len(good) // 3, len(good) // 2, len(good) - 5)]
    for _ in range(12):
        flipped = bytearray(good)
        for pos in rng.integers(0, len(good), 4):
            flipped[pos] ^= 0xFF
        variants.append(bytes(flipped))
    for data in variants:
        try:
            out = to_mnist(decode(data, fmt), fmt)
        except ImageError as exc:
            assert "\n" not in str(exc)
        else:
            assert out.shape == (28, 28)


def test_huge_image_is_reduced_before_float_work():
    # 6000x6000 (36 megapixels, within the limit): a digit drawn large on paper, PNG of a few tens of KB
    img = Image.new("L", (6000, 6000), 255)
    ImageDraw.Draw(img).rectangle((2500, 1000, 3100, 5000), fill=0)
    data = png_bytes(img)
    gray = decode(data)
    assert max(gray.shape) <= 1600 and gray.dtype == np.float32
    out = to_mnist(gray)
    rows = np.nonzero(out.max(1) > 100)[0]
    assert 18 <= np.ptp(rows) + 1 <= 21  # still a tall bar, 20 pixels high like MNIST


def test_big_jpeg_decodes_at_a_reduced_size():
    img = stroke_image(size=200).resize((4000, 4000)).convert("RGB")
    gray = decode(png_bytes(img, "JPEG"))
    assert max(gray.shape) <= 1600
    assert to_mnist(gray).max() > 150


def test_predict_isolates_odd_files(tmp_path, idx_dir):
    """The odd images through `digitlab predict DIR`: one error line per bad file, the others predicted."""
    from typer.testing import CliRunner

    from digitlab.cli import app as cli

    run = tmp_path / "run"
    trained = CliRunner().invoke(cli, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                       "--epochs", "1", "--run-dir", str(run)])
    assert trained.exit_code == 0, trained.output
    images = tmp_path / "images"
    images.mkdir()
    (images / "a-good.png").write_bytes(png_bytes(stroke_image()))
    (images / "b-lab.tif").write_bytes(ODD_GOOD["cielab-tiff"]())
    (images / "c-nan.tif").write_bytes(_float_tiff(nan=True))
    (images / "d-cut.png").write_bytes(png_bytes(stroke_image())[:100])
    (images / "e-cmyk.jpg").write_bytes(_cmyk("JPEG"))
    result = CliRunner().invoke(cli, ["predict", str(run), str(images), "--device", "cpu", "--json"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "c-nan.tif" in errors[0] + errors[1] and "d-cut.png" in errors[0] + errors[1]
