"""Fine-tune: a run that starts from another run's weights (`digitlab train --init-from RUN_OR_CHECKPOINT`).

    origin(init_from) -> Origin         the checkpoint (a run's best, else last, else resume weights) + its sha256
    base_values(origin) -> dict         what a fine-tune inherits unless told otherwise: the model section (the same
                                        architecture) and the input geometry (data.resize, data.pad, data.normalize)
    check(config, origin)               the same architecture, or one line saying what differs
    load_into(model, origin, classes)   the weights in; a fresh last layer when the classes differ; returns notes
    freeze(model, n) / trainable(model) only the last n layers (modules holding weights) train
    record(run_dir, origin) / recorded(run_dir)   init_from.json: summary.json's `init_from`

A fine-tune normalizes with its model's statistics (the checkpoint's mean and std), not the new data's: the
weights learnt their inputs on that scale. A resumed fine-tune loads its own resume checkpoint: the origin is not
read again (it may have moved), only its record is kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from digitlab import runs
from digitlab.checkpoint import MAX_CHECKPOINT_BYTES, Checkpoint, load_state_checked, read_weights
from digitlab.config import Config
from digitlab.errors import CheckpointError, ConfigError
from digitlab.io import read_limited, write_json

RECORD = "init_from.json"
INHERITED_DATA = ("resize", "pad", "normalize")


@dataclass(frozen=True)
class Origin:
    """The checkpoint a fine-tune starts from."""

    given: str  # what --init-from named
    run: str  # the run folder's name ("" for a bare checkpoint file)
    checkpoint: Checkpoint
    sha256: str

    @property
    def statistics(self) -> tuple[float, float]:
        pre = self.checkpoint.info.preprocessing
        return pre.mean, pre.std

    def as_json(self) -> dict:
        return {"run": self.run, "checkpoint": str(self.checkpoint.path), "sha256": self.sha256,
                "model": self.checkpoint.info.model, "classes": list(self.checkpoint.info.preprocessing.classes)}


_READ: dict[tuple, Origin] = {}  # (path, size, mtime_ns) -> Origin: the CLI and train() ask for it in turn


def origin(init_from: str) -> Origin:
    """The checkpoint --init-from names, read and hashed once per process (again only if the file changed)."""
    path = runs.weights_path(init_from)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(init_from))
    if key not in _READ:
        ckpt = read_weights(path)
        run = path.parent.parent.name if path.parent.name == "checkpoints" else ""
        _READ.clear()  # one fine-tune at a time: keep no old checkpoints' tensors alive
        data = read_limited(path, MAX_CHECKPOINT_BYTES, CheckpointError)  # bounded, like the read before it
        _READ[key] = Origin(str(init_from), run, ckpt, hashlib.sha256(data).hexdigest())
    return _READ[key]


def base_values(found: Origin) -> dict:
    """"section.key" -> value: the checkpoint's model section and input geometry (for options not given)."""
    conf = found.checkpoint.info.config
    values = {f"model.{k}": v for k, v in dataclasses.asdict(conf.model).items()}
    values.update({f"data.{k}": getattr(conf.data, k) for k in INHERITED_DATA})
    return values


def check(config: Config, found: Origin) -> None:
    theirs = found.checkpoint.info.config
    differ = [f"model.{k}" for k, v in dataclasses.asdict(theirs.model).items()
              if getattr(config.model, k, None) != v and k not in ("init", "init_std", "init_bias")]
    if differ or found.checkpoint.info.model != config.model.name:
        key = differ[0] if differ else "model.name"
        raise ConfigError(f"--init-from {found.given}: a {found.checkpoint.info.model} whose {key} is "
                          f"{getattr(theirs.model, key.split('.', 1)[1], found.checkpoint.info.model)!r}; this run "
                          f"asks {getattr(config.model, key.split('.', 1)[1], config.model.name)!r}: a fine-tune "
                          "keeps the architecture (drop --model / that setting)")


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules holding weights of their own, in the model's order (the last is the classifier)."""
    return [(name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


def load_into(model: nn.Module, found: Origin, classes: tuple[str, ...]) -> list[str]:
    """The origin's weights into `model`; when the classes differ, its last layer keeps its fresh weights."""
    ckpt, notes = found.checkpoint, []
    state = dict(ckpt.state)
    theirs = tuple(ckpt.info.preprocessing.classes)
    where = found.run or str(ckpt.path)
    notes.append(f"fine-tuning from {where} ({ckpt.path.name}, sha256 {found.sha256[:12]}...)")
    if theirs != tuple(classes):
        last = classifier(model, state, len(classes))
        prefix = f"{last}." if last else ""
        for key, value in model.state_dict().items():
            if key.startswith(prefix) and "." not in key[len(prefix):]:
                state[key] = value  # this layer keeps its fresh weights
        notes.append(f"fresh last layer {last or type(model).__name__}: the checkpoint has {len(theirs)} classes "
                     f"({', '.join(theirs[:12])}), this data {len(classes)} ({', '.join(classes[:12])})")
    load_state_checked(model, state, str(ckpt.path))
    return notes


def classifier(model: nn.Module, state: dict[str, torch.Tensor], n_classes: int) -> str:
    """The name of the layer that maps to the classes: the one module whose tensors differ in shape from the
    checkpoint's (the class count changed), else (the same count of other classes) the last layer with one output
    row per class, else the model's last layer."""
    own = model.state_dict()
    differ = {key.rpartition(".")[0] for key in own if key in state and state[key].shape != own[key].shape}
    if len(differ) == 1:
        return differ.pop()
    found = layers(model)
    if not differ:
        rows = [name for name, m in found if next(m.parameters(recurse=False)).shape[:1] == (n_classes,)]
        if rows:
            return rows[-1]
    return found[-1][0]  # several differ: not only the classes changed; load_state_checked names them, in one line


def freeze(model: nn.Module, n: int) -> str | None:
    """Only the last n layers train (0: all do). Returns a note for the header, or None."""
    if not n:
        return None
    found = layers(model)
    kept = found[-n:]
    for _, module in found[:-n]:
        for p in module.parameters(recurse=False):
            p.requires_grad_(False)
    names = ", ".join(name or type(m).__name__ for name, m in kept)
    return f"train.freeze={n}: training only {names} ({len(found) - len(kept)} of {len(found)} layers frozen)"


def trainable(model: nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def record(run_dir: Path, found: Origin) -> None:
    write_json(run_dir / RECORD, found.as_json())


def recorded(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
