"""The run folder's records as typed values: what metrics.jsonl, summary.json and the runs table hold.

    StepRecord     one logged training step            metrics.jsonl, "kind": "step"
    EvalRecord     an epoch's end, or a --max-steps     metrics.jsonl, "kind": "epoch" | "stop"
                   stop's evaluation
    RunStart       what a reporter hears before the first step (the run header)
    RunSummary     the figures a run ends with          summary.json
    ImportSummary  a run made from a MindSpore file     summary.json of `digitlab import-mindspore`
    RunRow         one run as `runs`, `compare`, the CSV and the server list it
    read_record(obj) -> StepRecord | EvalRecord | None  one metrics.jsonl line (None: not a record)

Each file record has one `to_json` and one `from_json`, and nothing else reads or writes these files by key. Older
layouts still read: a key a file lacks is None (or the field's default), a value of the wrong type (a damaged or
hand-edited file) reads as missing, and keys a record does not name are kept in `extra` and written back as they
were, so a newer file read here loses nothing. Accuracies are percent (0-100), losses per sample, times in seconds.
Each record is also a read-only mapping of its JSON (`record["loss"]`, `"test_acc" in record`, `dict(record)`), for
code written when these were dicts (a user's Reporter, a notebook reading `digitlab.train(...)["final_test_acc"]`);
digitlab itself reads attributes.
This module imports nothing heavy: the inference side, the CLI and the server read records without torch.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, Union


def _number(value: Any) -> float | None:
    if type(value) is int:  # a bool is never a number
        try:
            return float(value)
        except OverflowError:  # an int JSON allows but a float cannot hold (a damaged file)
            return None
    return value if type(value) is float else None


def _integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is float and math.isfinite(value) and value.is_integer():  # 20.0: a hand-edited or foreign file
        return int(value)
    return None


def _reader(kind: type):
    """value -> `value` if JSON gave it as `kind` (an int is a fine float; a bool is never a number), else None."""
    return {float: _number, int: _integer}.get(kind) or (lambda value: value if isinstance(value, kind) else None)


@cache
def _field_readers(cls: type) -> tuple[tuple[tuple[str, Any, bool], ...], frozenset[str]]:
    """Per field of a record class, (name, reader by its annotation (`float | None` -> float), optional); and the
    names of all its fields."""
    hints = typing.get_type_hints(cls)
    readers = []
    for f in fields(cls):
        if f.name == "extra":
            continue
        hint = hints[f.name]
        args = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
        base = next(a for a in args if a is not type(None))
        readers.append((f.name, _reader(typing.get_origin(base) or base), type(None) in args))
    return tuple(readers), frozenset(f.name for f in fields(cls))


def _from_json(cls, obj: dict, **fixed: Any):
    """An instance of a record class from a JSON object: each named field read by its type, the rest to `extra`."""
    readers, known = _field_readers(cls)
    values: dict[str, Any] = {}
    for name, read, optional in readers:
        if name in fixed:
            continue
        value = read(obj.get(name))
        if value is not None or optional:
            values[name] = value
    extra = {k: v for k, v in obj.items() if k not in known}
    return cls(**values, **fixed, extra=extra)


def _to_json(record, skip_none: tuple[str, ...] = ()) -> dict:
    """The record's fields in declaration order (a field in `skip_none` only when set), then what `extra` kept."""
    out = {}
    for f in fields(record):
        if f.name == "extra":
            continue
        value = getattr(record, f.name)
        if value is None and f.name in skip_none:
            continue
        out[f.name] = dict(value) if isinstance(value, dict) else value
    return {**out, **{k: v for k, v in record.extra.items() if k not in out}}


class JsonView(Mapping):
    """A record read as the JSON object it writes: a read-only mapping for code that still uses the dict form."""

    def _view(self) -> dict:
        return self.to_json()

    def __getitem__(self, key: str) -> Any:
        return self._view()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view())

    def __len__(self) -> int:
        return len(self._view())

    def __eq__(self, other: object) -> bool:  # a record equals its own kind with the same JSON, or that JSON as a dict
        if isinstance(other, JsonView):
            return type(self) is type(other) and self._view() == other._view()
        return self._view() == dict(other) if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  (records hold dicts: as unhashable as the dicts they stand for)

    def copy(self) -> dict:
        return dict(self._view())


# ------------------------------------------------------------------------------------------ metrics.jsonl


@dataclass(frozen=True, eq=False)
class StepRecord(JsonView):
    """A logged training step. step: global, 1-based; epoch: 1-based, in progress; batch: 0-based in the epoch."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    batches: int | None = None  # steps per epoch
    loss: float | None = None  # the logged step's training loss
    lr: float | None = None
    images_per_second: float | None = None
    loss_mean: float | None = None  # the running-mean log format: the mean of the last log_every batch losses
    every_step: bool | None = None  # made from losses.f32 for a plot, never written to metrics.jsonl
    extra: dict = field(default_factory=dict, compare=False)

    kind = "step"

    def to_json(self) -> dict:
        return {"kind": "step", **_to_json(self, skip_none=("batches", "loss_mean", "every_step"))}

    @classmethod
    def from_json(cls, obj: dict) -> StepRecord:
        return _from_json(cls, {k: v for k, v in obj.items() if k != "kind"})


@dataclass(frozen=True, eq=False)
class EvalRecord(JsonView):
    """An evaluation: kind "epoch" (the epoch `epoch` ended; train_loss, lr, train_seconds set) or "stop" (a
    --max-steps stop inside epoch `epoch`). Accuracies in percent; None where nothing was evaluated."""

    kind: str = "epoch"
    epoch: int = 0
    step: int = 0
    test_acc: float | None = None
    test_loss: float | None = None
    val_acc: float | None = None
    val_loss: float | None = None
    train_loss: float | None = None  # the epoch's mean training loss per sample
    train_seconds: float | None = None  # training time so far (evaluation included)
    lr: float | None = None
    reached_target: float | None = None  # train.target_acc, when this evaluation reached it
    extra: dict = field(default_factory=dict, compare=False)

    def score(self) -> float | None:
        """What picks the best epoch: validation accuracy when there is a validation set, else test accuracy."""
        return self.val_acc if self.val_acc is not None else self.test_acc

    def to_json(self) -> dict:
        return _to_json(self, skip_none=tuple(f.name for f in fields(self) if f.name not in ("kind", "epoch", "step")))

    @classmethod
    def from_json(cls, obj: dict) -> EvalRecord:
        return _from_json(cls, {k: v for k, v in obj.items() if k != "kind"}, kind=str(obj.get("kind", "epoch")))


Record = StepRecord | EvalRecord


def read_record(obj: Any) -> Record | None:
    """One metrics.jsonl line's object as a record; None for anything else (so a damaged line is skipped)."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("kind")
    if kind == "step":
        return StepRecord.from_json(obj)
    if kind in ("epoch", "stop"):
        return EvalRecord.from_json(obj)
    return None


# ------------------------------------------------------------------------------------------ the run's start and end


@dataclass(frozen=True, eq=False)
class RunStart(JsonView):
    """What the loop tells a reporter before the first step: the header `digitlab train` prints."""

    run_dir: str
    config: Any  # the resolved digitlab.config.Config
    device: str
    params: int
    data: dict  # the dataset's provenance (dataset, source, verified, files, ...), as data.json holds it
    threads: int
    precision: str
    precision_reason: str
    update: str
    update_reason: str
    n_train: int
    n_test: int
    resumed_at: int | None = None  # the step a resumed run continues from
    notes: tuple[str, ...] = ()  # lines the header shows (the data split, a notice, the fine-tune's origin)

    def _view(self) -> dict:  # the header as a dict (config stays the Config); resumed_at only when resumed
        view = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.resumed_at is None:
            view.pop("resumed_at")
        return {**view, "notes": list(self.notes)}


@dataclass(frozen=True, eq=False)
class RunSummary(JsonView):
    """summary.json: how a run ended, its accuracies, timing and provenance (also what `digitlab.train` returns).

    An imported checkpoint's summary.json (interop) reads as one too, with status "imported" and its own keys in
    `extra`."""

    run: str = ""
    run_dir: str = ""
    status: str = ""  # finished | stopped (| imported)
    ended: str | None = None  # done | target | max_steps | asked
    recipe: str = ""
    model: str = ""
    model_code: dict | None = None  # your own network: file, name, sha256, args (+ missing: why it cannot rebuild)
    params: int | None = None
    final_test_acc: float | None = None
    best_test_acc: float | None = None
    final_test_loss: float | None = None
    final_val_acc: float | None = None
    final_train_loss: float | None = None
    best_epoch: int | None = None
    best_chosen_on: str | None = None  # val | test
    reached_target: float | None = None
    epochs: int | None = None
    steps: int | None = None
    train_seconds: float | None = None
    images_per_second: float | None = None
    device: str | None = None
    threads: int | None = None
    precision: str | None = None
    precision_reason: str | None = None
    update: str | None = None
    update_reason: str | None = None
    seed: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    data: dict | None = None  # the dataset's provenance
    init_from: dict | None = None  # a fine-tune's origin: run, checkpoint, sha256
    data_verified: bool | None = None
    n_train: int | None = None
    n_test: int | None = None
    world_size: int | None = None
    versions: dict | None = None
    finished_at: str | None = None
    rank: int = 0  # under torchrun, the process that returned this (only rank 0 writes summary.json)
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        out = _to_json(self, skip_none=("model_code",))
        if not self.rank:
            out.pop("rank")
        return out

    @classmethod
    def from_json(cls, obj: dict) -> RunSummary:
        return _from_json(cls, obj)



@dataclass(frozen=True, eq=False)
class ImportSummary(JsonView):
    """summary.json of a run made by `digitlab import-mindspore`: which model, how it was chosen, which tensors."""

    run: str = ""
    run_dir: str = ""
    status: str = "imported"
    recipe: str = ""
    model: str = ""
    model_inferred: bool | None = None  # chosen from the file's parameter names (no --model)
    params: int | None = None
    imported_from: str = ""  # the .ckpt file
    mapped: list[str] = field(default_factory=list)  # digitlab's parameter names, each filled from the file
    unmapped: list[str] = field(default_factory=list)  # the file's names no parameter took
    finished_at: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return _to_json(self)

    @classmethod
    def from_json(cls, obj: dict) -> ImportSummary:
        return _from_json(cls, obj)


# ------------------------------------------------------------------------------------------ the runs table


@dataclass(frozen=True, eq=False)
class RunRow(JsonView):
    """One run as a table row: from its summary when it finished, else from what it logged so far. `error` is set
    (and most values None) for a folder too damaged to read. date: "YYYY-MM-DD HH:MM", local time."""

    run: str
    path: str
    status: str
    recipe: str = ""
    model: str = ""
    params: int | None = None
    epochs: int | None = None
    best_test_acc: float | None = None
    final_test_acc: float | None = None
    final_test_loss: float | None = None
    final_train_loss: float | None = None  # the last epoch's mean training loss, else the last logged step's
    train_seconds: float | None = None
    images_per_second: float | None = None
    data: str = ""  # the dataset's name
    data_source: str = ""
    fallback: bool = False  # the offline sample stood in for the data asked for
    date: str = ""
    error: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return _to_json(self, skip_none=("error",))

    @classmethod
    def from_json(cls, obj: dict) -> RunRow:
        fixed = {k: str(obj.get(k) or "") for k in ("run", "path", "status")}
        return _from_json(cls, obj, **fixed)


ROW_KEYS = tuple(f.name for f in fields(RunRow) if f.name not in ("error", "extra"))
# `compare --csv` / `runs --csv`: the row without what only this machine means (path, date, the sample flag), status last
CSV_COLUMNS = tuple(k for k in ROW_KEYS if k not in ("path", "status", "fallback", "date")) + ("status",)
