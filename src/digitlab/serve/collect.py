"""Collect a person's own digits from the web page into a folder dataset (`digitlab serve --collect DIR`).

    Collector(root, limits).save(image bytes, label index) -> dict   DIR/<label>/<sha256 of the PNG>.png
                           .undo() -> dict                           removes the last file this server saved
                           .state() -> dict                          counts per class, total, limits

What keeps it safe: the server writes only inside DIR, and no name from the client decides a path: the label is
an index into the ten digit classes (the folder is our own "0".."9"), the file name is the hash of the PNG that
the server itself encodes from the decoded drawing (so only a valid grayscale PNG is ever written, and saving the
same drawing twice keeps one file). A class folder that is a link out of DIR is refused; class folders are made
by the first save and removed by the undo that empties them (a folder dataset refuses an empty class folder).
Saves are atomic (digitlab.io: temporary name, fsync, rename) and serialized by one lock, so the bounds (bytes
per image, files per class, files in all) hold under concurrent requests, and a reader never sees half a file.
The result is what `digitlab train --dataset folder --data-dir DIR` reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from fastapi import HTTPException
from PIL import Image

from digitlab.errors import DataError
from digitlab.io import atomic_write
from digitlab.preprocess import decode, to_mnist

DIGITS = tuple(str(d) for d in range(10))
SAVED_SIDE = 280  # the drawing pad's size: larger drawings are scaled down to this before saving


@dataclass(frozen=True)
class CollectLimits:
    max_image_bytes: int = 256 * 1024  # of the PNG written (a 280x280 drawing is a few KB)
    max_per_class: int = 2000
    max_total: int = 10000


class Collector:
    def __init__(self, root: str | Path, limits: CollectLimits | None = None) -> None:
        self.root = Path(root).expanduser()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"--collect {self.root}: cannot create the folder ({exc.strerror or exc})") from None
        if not self.root.is_dir():
            raise DataError(f"--collect {self.root}: not a folder")
        self.root = self.root.resolve()
        self.limits = limits or CollectLimits()
        self._lock = threading.Lock()
        self._saved: list[Path] = []  # this server's saves, newest last: what undo removes

    # ------------------------------------------------------------------------------------------------ reading
    def _folder(self, label: int) -> Path:
        """DIR/<digit> (not created here); refused when it is (or leads) outside DIR."""
        if not 0 <= label < len(DIGITS):
            raise HTTPException(status_code=422, detail=f"label {label} is not a digit 0-9")
        folder = self.root / DIGITS[label]
        if folder.is_symlink() or (folder.exists() and folder.resolve().parent != self.root):
            raise HTTPException(status_code=409, detail=f"the class folder {DIGITS[label]} is a link out of the "
                                                        "collect folder; the server writes only inside it")
        return folder

    def _count(self, name: str) -> int:
        folder = self.root / name
        if folder.is_symlink() or not folder.is_dir():
            return 0
        return sum(1 for p in folder.iterdir() if p.suffix == ".png" and not p.name.startswith("."))

    def counts(self) -> dict[str, int]:
        return {name: self._count(name) for name in DIGITS}

    def state(self) -> dict:
        counts = self.counts()
        return {"enabled": True, "classes": list(DIGITS), "counts": counts, "total": sum(counts.values()),
                "can_undo": bool(self._saved), "limits": asdict(self.limits)}

    # ------------------------------------------------------------------------------------------------ writing
    def encode(self, data: bytes) -> bytes:
        """The upload -> a grayscale PNG of the drawing (refused when it holds no digit). Worker-pool work."""
        gray = decode(data, "upload")
        to_mnist(gray, "upload")  # a blank or contrast-less canvas is not a digit: refused (422) before saving
        image = Image.fromarray(np.round(gray * 255).astype(np.uint8), mode="L")
        if max(image.size) > SAVED_SIDE:
            image.thumbnail((SAVED_SIDE, SAVED_SIDE), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
        if len(png) > self.limits.max_image_bytes:
            raise HTTPException(status_code=413, detail=f"the drawing is {len(png):,} bytes as PNG, over the "
                                                        f"{self.limits.max_image_bytes:,}-byte limit per image")
        return png

    def save(self, data: bytes, label: int) -> dict:
        png = self.encode(data)
        name = hashlib.sha256(png).hexdigest()[:32] + ".png"
        with self._lock:
            folder = self._folder(label)
            target = folder / name
            rel = f"{folder.name}/{name}"
            if target.exists():
                return {"saved": False, "duplicate": True, "file": rel, "label": folder.name, **self.state()}
            if self._count(folder.name) >= self.limits.max_per_class:
                raise HTTPException(status_code=409, detail=f"class {folder.name} already has "
                                                            f"{self.limits.max_per_class:,} images (the limit per class)")
            if sum(self.counts().values()) >= self.limits.max_total:
                raise HTTPException(status_code=409, detail=f"the collect folder already has "
                                                            f"{self.limits.max_total:,} images (the limit)")
            folder.mkdir(exist_ok=True)  # only now: a refused save leaves no empty class folder behind
            try:
                atomic_write(target, png)
            except OSError as exc:  # e.g. a full disk: nothing half-written stays (digitlab.io), nor an empty folder
                with contextlib.suppress(OSError):
                    folder.rmdir()
                raise HTTPException(status_code=507, detail=f"could not save the drawing "
                                                            f"({exc.strerror or type(exc).__name__})") from None
            self._saved.append(target)
            return {"saved": True, "duplicate": False, "file": rel, "label": folder.name, **self.state()}

    def undo(self) -> dict:
        with self._lock:
            while self._saved:
                last = self._saved.pop()
                if last.exists():
                    last.unlink()
                    with contextlib.suppress(OSError):  # an empty class folder is no class: the dataset refuses it
                        last.parent.rmdir()
                    return {"undone": f"{last.parent.name}/{last.name}", "label": last.parent.name, **self.state()}
            raise HTTPException(status_code=409, detail="nothing to undo: no digit saved since the server started")


def disabled() -> HTTPException:
    return HTTPException(status_code=404, detail="collecting is off: start the server with "
                                                 "`digitlab serve --collect DIR`")
