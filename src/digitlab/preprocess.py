"""Turn a person's image (a photo or a drawing, any size or mode) into an MNIST-style 28x28 digit.

MNIST's own recipe, applied to arbitrary images, step by step:
  1. decode safely (size and pixel limits, known formats only, EXIF rotation, first frame of animations),
     composite any transparency onto white, convert any colour mode to grayscale in [0, 1] (16-bit, float
     and CIELab included), box-reduce very large images; every failure is an ImageError (a DigitlabError);
  2. invert when the ink is dark on a light background (decided from the image border), so ink is bright;
  3. subtract the background level and stretch the ink to full contrast;
  4. crop to the bounding box of the ink;
  5. thicken thin strokes (pen drawings on big canvases) until the ink covers about as much of its box as
     MNIST's strokes do;
  6. scale to fit a 20x20 box keeping the aspect ratio (antialiased);
  7. paste into a 28x28 black canvas so that the ink's centre of mass sits at the centre.
The model's own transforms (e.g. resize to 32 for LeNet-5, normalization) come after, from its checkpoint.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from digitlab.errors import DigitlabError
from digitlab.io import read_limited

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 6000x6000 photo is fine; a decompression bomb is not
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")  # Pillow decoders we accept (MPO opens as JPEG)
WORK_SIDE = 1600  # pixels: larger images are box-reduced to at most this before any float work
INK_THRESHOLD = 0.35  # of full contrast: what counts as ink for the bounding box
TARGET_COVERAGE = 0.22  # MNIST ink (>0.5) covers 25-50% of its bounding box; thin pen strokes far less
WORK_SIZE = 80  # thickening happens at this resolution (4x the 20-pixel box)


class ImageError(DigitlabError):
    """An input image that cannot be used. kind: "too-large", "unreadable", "unsupported" or "content"."""

    def __init__(self, message: str, kind: str = "content") -> None:
        super().__init__(message)
        self.kind = kind


def _open(data: bytes, name: str) -> Image.Image:
    """Bytes -> a loaded Pillow image (first frame), upright; every failure is an ImageError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the image itself may be fine
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # only the formats we name: Pillow would hand EPS/PS to Ghostscript, and exotic decoders are attack surface
            Image.init()  # register every plugin once, so the formats named below are all known to Image.open
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{name}: {width}x{height} pixels is over the {MAX_PIXELS:,}-pixel limit", "too-large")
            if img.format == "JPEG" and max(width, height) > WORK_SIDE:
                img.draft("L", (WORK_SIDE, WORK_SIDE))  # DCT scaling: decode a big photo at a fraction of the cost
            img.load()  # the first frame of an animation or a multi-page TIFF
            return ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image is too large to decode safely (decompression bomb?)", "too-large") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises a zoo (OSError, SyntaxError, struct.error, ...) on bad files
        raise ImageError(f"{name}: not a readable image ({type(exc).__name__}); "
                         "use PNG, JPEG, BMP, GIF, WebP or TIFF", "unreadable") from None


def _alpha_onto_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("L")


# Each mode Pillow may decode to -> how to make it one channel: "L" (uint8) or "F" (float32, any range).
# Modes not named here go through RGB; a mode Pillow cannot convert is refused with a clear message.
_GRAY: dict[str, Callable[[Image.Image], Image.Image]] = {
    "L": lambda img: img,
    "1": lambda img: img.convert("L"),
    "LAB": lambda img: img.getchannel("L"),  # CIELab: lightness is the gray we want; Pillow has no LAB -> L
    "I": lambda img: img.convert("F"),
    "I;16": lambda img: img.convert("F"),
    "I;16L": lambda img: img.convert("F"),
    "I;16B": lambda img: img.convert("F"),
    "I;16N": lambda img: img.convert("F"),
    "F": lambda img: img,
}
ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def _gray(img: Image.Image, name: str) -> Image.Image:
    """Any decoded image -> mode "L" or "F", transparency composited onto white paper."""
    try:
        if img.mode in ALPHA_MODES or (img.mode in ("P", "L", "RGB", "1") and "transparency" in img.info):
            return _alpha_onto_white(img)
        convert = _GRAY.get(img.mode)
        if convert is not None:
            return convert(img)
        try:
            return img.convert("L")
        except ValueError:
            return img.convert("RGB").convert("L")
    except Exception as exc:  # noqa: BLE001 - a mode Pillow decodes but cannot convert
        raise ImageError(f"{name}: images in colour mode {img.mode} are not supported ({type(exc).__name__}); "
                         "save it as an 8-bit PNG or JPEG", "unsupported") from None


def decode(data: bytes, name: str = "<image>") -> np.ndarray:
    """Bytes of an image file -> (H, W) float32 grayscale in [0, 1], transparency composited onto white.

    Images wider or taller than WORK_SIDE are box-reduced first: the digit ends up 20 pixels tall anyway, and a
    40-megapixel scan would otherwise cost ~160 MB of float32 per step.
    """
    if not data:
        raise ImageError(f"{name}: empty file", "unreadable")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name}: {len(data) / 1e6:.1f} MB is over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit",
                         "too-large")
    img = _gray(_open(data, name), name)
    if min(img.size) < 1:
        raise ImageError(f"{name}: image has no pixels ({img.width}x{img.height})")
    factor = -(-max(img.size) // WORK_SIDE)  # ceil
    if factor > 1:
        img = img.reduce(factor)
    arr = np.asarray(img, dtype=np.float32)
    if img.mode == "L":
        return arr / 255.0
    finite = np.isfinite(arr)
    if not finite.all():
        raise ImageError(f"{name}: {int((~finite).sum())} pixels are not numbers (NaN or infinite); "
                         "save the image with finite values")
    low, span = float(arr.min()), float(arr.max() - arr.min())
    return (arr - low) / (span or 1.0)  # 16-bit, 32-bit and float images: stretch their own range to [0, 1]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A person's image file -> (H, W) float32 grayscale; a device, a named pipe or a file over MAX_FILE_BYTES is
    refused without reading more than the limit (io.read_limited)."""
    data = read_limited(path, MAX_FILE_BYTES, lambda message: ImageError(message, "unreadable"))
    return decode(data, str(path))


def _border(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    k = max(1, min(h, w) // 50)
    return np.concatenate([gray[:k].ravel(), gray[-k:].ravel(), gray[:, :k].ravel(), gray[:, -k:].ravel()])


def to_mnist(gray: np.ndarray, name: str = "<image>") -> np.ndarray:
    """(H, W) float grayscale in [0, 1] -> (28, 28) uint8, white ink on black, MNIST-centred."""
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"{name}: expected a 2-D grayscale image, got shape {gray.shape}")
    background = float(np.median(_border(gray)))
    if background > 0.5:  # dark ink on light paper: invert so ink is bright, like MNIST
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, None)
    peak = float(np.percentile(ink, 99.9)) if ink.size > 1000 else float(ink.max())
    if peak < 0.08:
        raise ImageError(f"{name}: no digit found (the image is blank or has almost no contrast)")
    ink = np.clip(ink / peak, 0.0, 1.0)
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    img = Image.fromarray(np.round(crop * 255).astype(np.uint8), mode="L")
    # work at a fixed resolution so thickening steps mean the same on any canvas
    scale = WORK_SIZE / max(img.size)
    work = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    for _ in range(8):
        if (np.asarray(work) > 127).mean() >= TARGET_COVERAGE:
            break
        work = work.filter(ImageFilter.MaxFilter(3))
    scale = 20 / max(work.size)
    small = work.resize((max(1, round(work.width * scale)), max(1, round(work.height * scale))),
                        Image.Resampling.LANCZOS)
    digit = np.asarray(small, dtype=np.float32)
    total = digit.sum()
    ys, xs = np.indices(digit.shape)
    cy, cx = (float((ys * digit).sum() / total), float((xs * digit).sum() / total)) if total else (10.0, 10.0)
    h, w = digit.shape
    top = int(np.clip(round(14 - cy), 0, 28 - h))
    left = int(np.clip(round(14 - cx), 0, 28 - w))
    canvas = np.zeros((28, 28), dtype=np.float32)
    canvas[top : top + h, left : left + w] = digit
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def image_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders to the image files inside (sorted); files given by name are kept whatever they are."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out
