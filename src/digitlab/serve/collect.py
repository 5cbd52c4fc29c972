"""Collect a person's own digits from the web page into a folder dataset (`digitlab serve --collect DIR`).

    Collector(root, limits).save(image bytes, label index) -> dict   DIR/<label>/<sha256 of the PNG>.png
                           .undo() -> dict                           undoes this server's last save
                           .state() -> dict                          counts per class, total, limits

A drawing lives under one digit only: saving it again under another digit moves its file there (the latest label
wins; the answer's `relabelled_from` names the digit it left), and an undo of that save moves it back.

What keeps it safe: the server writes only inside DIR, and no name from the client decides a path: the label is
an index into the ten digit classes (the folder is our own "0".."9"), the file name is the hash of the PNG that
the server itself encodes from the decoded drawing (so only a valid grayscale PNG is ever written, and saving the
same drawing twice keeps one file, under the digit it was saved as last). A class folder that is a link out of
DIR is refused (nor is a file in one ever moved); class folders are made by the first save and removed by the
save or undo that empties them (a folder dataset refuses an empty class folder).
Saves and moves are atomic (digitlab.io: temporary name, fsync, rename) and serialized by one lock, so the bounds (bytes
per image, files per class, files in all) hold under concurrent requests (a relabel moves a file, so it counts
against its new class but not again against the total), and a reader never sees half a file.
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
from digitlab.io import atomic_write, move
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
        self._saved: list[tuple[Path, Path | None]] = []  # this server's saves, newest last: (file, where a
        # relabelled drawing was before, else None): what undo removes or moves back

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

    def _copies(self, name: str, label: int) -> list[Path]:
        """The file `name` in the other class folders (a drawing saved before under another digit); class folders
        that are links are not ours and are left alone, as `_count` leaves them out."""
        found = []
        for digit in DIGITS:
            folder = self.root / digit
            if digit == DIGITS[label] or folder.is_symlink() or not folder.is_dir():
                continue
            if (folder / name).is_file():
                found.append(folder / name)
        return found

    def _count(self, name: str) -> int:
        folder = self.root / name
        if folder.is_symlink() or not folder.is_dir():
            return 0
        return sum(1 for p in folder.iterdir() if p.suffix == ".png" and not p.name.startswith(".") and p.is_file())

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
            copies = self._copies(name, label)  # the same drawing under other digits: the latest label wins
            moved_from = copies[0].parent.name if copies else None
            if target.exists():  # (copies here only in a folder filled before relabelling moved files)
                self._drop(copies)
                return {"saved": False, "duplicate": True, "file": rel, "label": folder.name,
                        "relabelled_from": moved_from, **self.state()}
            if self._count(folder.name) >= self.limits.max_per_class:
                kept = f"; the drawing stays under {moved_from}" if moved_from else ""
                raise HTTPException(status_code=409, detail=f"class {folder.name} already has "
                                                            f"{self.limits.max_per_class:,} image"
                                                            f"{'s' if self.limits.max_per_class != 1 else ''} (the limit "
                                                            f"per class){kept}")
            if not copies and sum(self.counts().values()) >= self.limits.max_total:  # a relabel adds no file
                raise HTTPException(status_code=409, detail=f"the collect folder already has "
                                                            f"{self.limits.max_total:,} images (the limit)")
            try:
                folder.mkdir(exist_ok=True)  # only now: a refused save leaves no empty class folder behind
                if copies:  # one rename: the drawing is never under both digits, nor under neither
                    move(copies[0], target)
                else:
                    atomic_write(target, png)
            except (FileExistsError, NotADirectoryError):  # the class's name is taken by a file in the folder
                raise HTTPException(status_code=409, detail=f"the collect folder holds a file named {folder.name}, "
                                                            "where that class's folder goes; move it away") from None
            except OSError as exc:  # e.g. a full disk: nothing half-written stays (digitlab.io), nor an empty folder
                with contextlib.suppress(OSError):
                    folder.rmdir()
                raise HTTPException(status_code=507, detail=f"could not save the drawing "
                                                            f"({exc.strerror or type(exc).__name__})") from None
            self._drop(copies)
            self._saved.append((target, copies[0] if copies else None))
            return {"saved": True, "duplicate": False, "file": rel, "label": folder.name,
                    "relabelled_from": moved_from, **self.state()}

    @staticmethod
    def _drop(files: list[Path]) -> None:
        """Remove what is left of these files (a moved one is gone already), and class folders they leave empty."""
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(OSError):  # an empty class folder is no class: the dataset refuses it
                path.parent.rmdir()

    def undo(self) -> dict:
        with self._lock:
            while self._saved:
                last, before = self._saved.pop()
                if not last.exists():
                    continue
                rel = f"{last.parent.name}/{last.name}"
                if before is None or before.exists():
                    self._drop([last])
                    return {"undone": rel, "label": last.parent.name, **self.state()}
                back = self._folder(DIGITS.index(before.parent.name))  # a relabel: back where it was
                try:
                    back.mkdir(exist_ok=True)
                    move(last, back / last.name)
                except (FileExistsError, NotADirectoryError):
                    raise HTTPException(status_code=409, detail=f"the collect folder holds a file named {back.name}, "
                                                                "where that class's folder goes; move it away") from None
                except OSError as exc:
                    raise HTTPException(status_code=507, detail=f"could not move the drawing back "
                                                                f"({exc.strerror or type(exc).__name__})") from None
                self._drop([last])  # the folder it leaves, when empty
                return {"undone": rel, "label": last.parent.name, "restored": f"{back.name}/{last.name}",
                        **self.state()}
            raise HTTPException(status_code=409, detail="nothing to undo: no digit saved since the server started")


def disabled() -> HTTPException:
    return HTTPException(status_code=404, detail="collecting is off: start the server with "
                                                 "`digitlab serve --collect DIR`")
