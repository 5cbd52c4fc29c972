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
