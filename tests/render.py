"""Render MNIST digits the way a person would photograph or draw them: dark ink on light paper, a larger
canvas, off-centre, uneven lighting and sensor noise, saved as PNG or JPEG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def render_photo(digit: np.ndarray, rng: np.random.Generator, canvas: int = 200, fmt: str = "PNG") -> bytes:
    size = int(rng.integers(70, 150))  # the digit's 28x28 box drawn at this many pixels
    big = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    ink = np.asarray(big, dtype=np.float32) / 255.0
    paper = rng.uniform(0.75, 0.97)
    # a lighting gradient across the page and a little noise
    yy, xx = np.mgrid[0:canvas, 0:canvas] / canvas
    page = paper - 0.08 * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy) + rng.normal(0, 0.015, (canvas, canvas))
    top, left = rng.integers(0, canvas - size, 2)
    darkness = rng.uniform(0.6, 0.9)
    region = page[top : top + size, left : left + size]
    page[top : top + size, left : left + size] = region * (1 - darkness * ink)
    img = Image.fromarray(np.clip(page * 255, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buf.getvalue()
