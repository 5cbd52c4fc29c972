"""Turn a person's image (a photo or a drawing, any size or mode) into an MNIST-style 28x28 digit.

MNIST's own recipe, applied to arbitrary images, step by step:
  1. decode safely (size and pixel limits, EXIF rotation, first frame of animations), composite any
     transparency onto white, convert to grayscale in [0, 1];
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
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from digitlab.errors import DigitlabError

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 6000x6000 photo is fine; a decompression bomb is not
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
INK_THRESHOLD = 0.35  # of full contrast: what counts as ink for the bounding box
TARGET_COVERAGE = 0.22  # MNIST ink (>0.5) covers 25-50% of its bounding box; thin pen strokes far less
WORK_SIZE = 80  # thickening happens at this resolution (4x the 20-pixel box)


class ImageError(DigitlabError):
    """An input image that cannot be used."""


def decode(data: bytes, name: str = "<image>") -> np.ndarray:
    """Bytes of an image file -> (H, W) float32 grayscale in [0, 1], transparency composited onto white."""
    if not data:
        raise ImageError(f"{name}: empty file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name}: {len(data) / 1e6:.1f} MB is over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{name}: {width}x{height} pixels is over the {MAX_PIXELS:,}-pixel limit")
            img.load()
            img = ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image is too large to decode safely (decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: not a readable image ({type(exc).__name__}); use PNG, JPEG, BMP, GIF or WebP") from None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode in ("I", "I;16", "F"):
        arr = np.asarray(img, dtype=np.float32)
        span = float(arr.max() - arr.min()) or 1.0
        return (arr - arr.min()) / span
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def read_image(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{path}: {size / 1e6:.1f} MB is over the {MAX_FILE_BYTES // (1024 * 1024)} MB limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
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
