"""The typed hand-over between training and everything after it: Preprocessing, UserCode and CheckpointInfo.

Every checkpoint carries a CheckpointInfo as JSON in its safetensors metadata; eval, predict, export, serve and
interop read it through `CheckpointInfo.from_json`, which is the one place that knows the JSON layout (including
the layout digitlab 0.1.0 wrote), and that refuses metadata it cannot trust with a one-line CheckpointError.
Nothing downstream reads checkpoint metadata as a raw dict.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from digitlab import __version__
from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.data.loader import prepare_images
from digitlab.data.transforms import Normalize
from digitlab.errors import CheckpointError, ConfigError

OUTPUT_KINDS = ("logits", "log_probs")


@dataclass(frozen=True)
class Preprocessing:
    """How a model's input is made from (N, 28, 28) uint8 images, ink bright on black (MNIST's convention).

    resize the image to `resize` x `resize` (bilinear, whole levels), pad `pad` pixels of background on each side
    (so input_size = resize + 2 pad), then x / 255 and, if `normalize`, (x - mean) / std.
    """

    dataset: str  # the dataset the model was trained on (its statistics are mean/std)
    input_size: int  # square side the model takes, pixels
    resize: int
    pad: int
    mean: float
    std: float
    normalize: bool
    classes: tuple[str, ...]  # class index -> label

    def normalizer(self) -> Normalize:
        return Normalize(self.mean, self.std, self.normalize)

    @property
    def background(self) -> float:
        """The model-input value of an empty (0) pixel."""
        return self.normalizer().background

    def prepare(self, images: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """(N, H, W) uint8 -> (N, 1, S, S) uint8 on `device`, resized and padded once (still whole levels)."""
        size = self.resize if self.resize != images.shape[-1] else 0
        return prepare_images(images, device, size=size, pad=self.pad)

    def model_input(self, images: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """(N, H, W) uint8 -> (N, 1, S, S) float32 exactly as the model saw its training data."""
        return self.normalizer()(self.prepare(images, device))

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "input_size": self.input_size, "resize": self.resize, "pad": self.pad,
                "mean": self.mean, "std": self.std, "normalize": self.normalize, "classes": list(self.classes)}

    @classmethod
    def from_json(cls, obj: Any, source: str) -> Preprocessing:
        if not isinstance(obj, dict):
            raise CheckpointError(f"{source}: checkpoint metadata has no preprocessing; it cannot be used for "
                                  "inference (re-export it with digitlab train or import-mindspore)")
        try:
            pre = cls(dataset=str(obj["dataset"]), input_size=int(obj["input_size"]), resize=int(obj["resize"]),
                      pad=int(obj["pad"]), mean=float(obj["mean"]), std=float(obj["std"]),
                      normalize=bool(obj["normalize"]), classes=tuple(str(c) for c in obj["classes"]))
        except KeyError as exc:
            raise CheckpointError(f"{source}: checkpoint preprocessing lacks {exc}; the file is damaged or "
                                  "was not written by digitlab") from None
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: checkpoint preprocessing is malformed ({exc})") from None
        if pre.input_size != pre.resize + 2 * pre.pad or pre.input_size < 1 or not pre.classes:
            raise CheckpointError(f"{source}: checkpoint preprocessing is inconsistent (input {pre.input_size}, "
                                  f"resize {pre.resize}, pad {pre.pad}, {len(pre.classes)} classes)")
        if not (math.isfinite(pre.mean) and math.isfinite(pre.std)):  # inf/NaN would turn every input into NaN
            raise CheckpointError(f"{source}: checkpoint preprocessing has mean {pre.mean}, std {pre.std}; both must "
                                  "be finite numbers (the file is damaged)")
        if pre.normalize and not pre.std > 0:
            raise CheckpointError(f"{source}: checkpoint preprocessing has std {pre.std}; it must be positive")
        return pre


@dataclass(frozen=True)
class UserCode:
    """Where a model of the user's own comes from: the Python file it was defined in, as it was when trained.

    Recorded in every checkpoint of such a run, so the model rebuilds from the file alone, after the original was
    moved or edited. It is somebody else's program to whoever loads the checkpoint: digitlab.models.trust decides
    whether it may run.
    """

    ref: str  # as the user named it: "nets/my_net.py:Network" or "mypkg.nets:Network"
    attr: str  # the class or factory function inside the file: "Network"
    file: str  # the file's absolute path when trained ("" when Python could not find one)
    package: str  # the module's package for a package.module ref ("" for a plain file); lets relative imports work
    text: str  # the file's source text as trained ("" when Python could not find it)
    sha256: str  # of text, UTF-8
    args: dict[str, Any] = field(default_factory=dict)  # constructor arguments (model.args)
    missing: str = ""  # why the source is absent (a class typed into a notebook cell), "" when it is here

    @property
    def display(self) -> str:
        """How messages name it: 'my_net.py:Network' (control characters escaped: a checkpoint chooses these)."""
        where = self.ref.rsplit(":", 1)[0]
        named_module = not (where.endswith(".py") or "/" in where or "\\" in where)
        if named_module and not where.startswith("<"):  # package.module:Name: as the user wrote it
            shown = f"{where}:{self.attr}"
        else:
            shown = f"{self.file.replace(chr(92), '/').rsplit('/', 1)[-1] or where}:{self.attr}"
        return "".join(ch if ch.isprintable() else f"\\x{ord(ch) % 256:02x}" for ch in shown)

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "attr": self.attr, "file": self.file, "package": self.package, "text": self.text,
                "sha256": self.sha256, "args": dict(self.args), "missing": self.missing}

    @classmethod
    def from_json(cls, obj: Any, source: str) -> UserCode:
        if not isinstance(obj, dict) or not isinstance(obj.get("args", {}), dict):
            raise CheckpointError(f"{source}: the model's recorded code is malformed; the file is damaged")
        try:
            code = cls(ref=str(obj["ref"]), attr=str(obj["attr"]), file=str(obj.get("file", "")),
                       package=str(obj.get("package", "")), text=str(obj.get("text", "")), sha256=str(obj["sha256"]),
                       args=dict(obj.get("args") or {}), missing=str(obj.get("missing", "")))
        except KeyError as exc:
            raise CheckpointError(f"{source}: the model's recorded code lacks {exc}; the file is damaged") from None
        if code.text and hashlib.sha256(code.text.encode()).hexdigest() != code.sha256:
            raise CheckpointError(f"{source}: the model's recorded code does not match its sha256; the file is "
                                  "damaged or was edited by hand: do not run it")
        return code


@dataclass(frozen=True)
class CheckpointInfo:
    """What a weights file says about itself: enough to rebuild the model and feed it, from the file alone."""

    model: str  # registry name, or the user's "file.py:Name" (then `code` holds the file)
    num_classes: int
    output: str  # "logits" or "log_probs"
    preprocessing: Preprocessing
    config: Config  # the run's resolved config
    epoch: int = 0  # epochs completed when written (0 for imported weights)
    step: int = 0  # optimizer steps completed
    version: str = __version__  # digitlab version that wrote it
    test_acc: float | None = None  # test accuracy (%) at that point, when evaluated
    origin: dict[str, str] = field(default_factory=dict)  # e.g. {"imported_from": path, "format_source": ...}
    code: UserCode | None = None  # the user's own model's source; None for a registry model

    @property
    def classes(self) -> tuple[str, ...]:
        return self.preprocessing.classes

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "num_classes": self.num_classes, "output": self.output,
                "preprocessing": self.preprocessing.to_json(), "config": cfgmod.to_dict(self.config),
                "epoch": self.epoch, "step": self.step, "version": self.version, "test_acc": self.test_acc,
                "origin": dict(self.origin), **({"code": self.code.to_json()} if self.code else {})}

    @classmethod
    def from_json(cls, obj: Any, source: str) -> CheckpointInfo:
        """Parse checkpoint metadata; digitlab 0.1.0's layout ("digitlab_version", imported_from at top level)
        is read too. Raises a one-line CheckpointError for anything it cannot trust."""
        if not isinstance(obj, dict):
            raise CheckpointError(f"{source}: checkpoint metadata is not a JSON object; the file is damaged")
        for key in ("model", "num_classes", "preprocessing", "config"):
            if key not in obj:
                raise CheckpointError(f"{source}: checkpoint metadata lacks '{key}'; the file is damaged or was not "
                                      "written by digitlab")
        pre = Preprocessing.from_json(obj["preprocessing"], source)
        try:
            config = cfgmod.from_dict(obj["config"], f"{source} (its config)")
        except (ConfigError, AttributeError, TypeError) as exc:
            raise CheckpointError(f"{source}: checkpoint config cannot be read ({exc})") from None
        origin = dict(obj.get("origin") or {})
        for legacy in ("imported_from", "format_source"):  # 0.1.0 kept these at the top level
            if legacy in obj:
                origin[legacy] = str(obj[legacy])
        try:
            info = cls(model=str(obj["model"]), num_classes=int(obj["num_classes"]),
                       output=str(obj.get("output", "logits")), preprocessing=pre, config=config,
                       epoch=int(obj.get("epoch", 0)), step=int(obj.get("step", 0)),
                       version=str(obj.get("version", obj.get("digitlab_version", "unknown"))),
                       test_acc=None if obj.get("test_acc") is None else float(obj["test_acc"]), origin=origin,
                       code=UserCode.from_json(obj["code"], source) if obj.get("code") is not None else None)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: checkpoint metadata is malformed ({exc})") from None
        if info.output not in OUTPUT_KINDS:
            raise CheckpointError(f"{source}: unknown output kind '{info.output}' (expected logits or log_probs)")
        if info.num_classes != len(pre.classes):
            raise CheckpointError(f"{source}: metadata says {info.num_classes} classes but its preprocessing lists "
                                  f"{len(pre.classes)}")
        return info


def to_probabilities(outputs: torch.Tensor, output_kind: str) -> torch.Tensor:
    """(N, C) model outputs -> (N, C) float32 class probabilities: softmax of logits, exp of log-probabilities."""
    outputs = outputs.float()
    return outputs.exp() if output_kind == "log_probs" else torch.softmax(outputs, dim=1)
