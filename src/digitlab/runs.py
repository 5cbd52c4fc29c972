"""The run folder: the one hand-over between training and everything after it.

    runs/<name>/
      config.toml        the resolved config
      run.json           status (running | finished | failed | interrupted), pid, times, recipe
      metrics.jsonl      one JSON object per logged step ("kind": "step") and per epoch ("kind": "epoch");
                         records.py's StepRecord / EvalRecord
      losses.f32         every step's training loss: little-endian float32, entry i = global step i + 1
      summary.json       the final figures (written when training ends): records.RunSummary
      checkpoints/       last.safetensors, best.safetensors, resume.safetensors
      loss.png           loss and accuracy curves

Listing (list_runs, run_row: records.RunRow), resolving a name (resolve_run) and removing a run (remove_run) live
here too.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitlab import paths
from digitlab.errors import CheckpointError, ConfigError, DigitlabError
from digitlab.io import atomic_write, read_limited, write_json
from digitlab.records import EvalRecord, Record, RunRow, RunSummary, StepRecord, read_record


def new_run_dir(name: str | None, run_dir: str | os.PathLike | None, recipe: str, option: str = "--run-dir") -> Path:
    """A fresh folder for a run; never reuses one that holds a run (nothing saved is ever overwritten). option: how
    the command calls `run_dir` in its errors."""
    if run_dir:
        path = Path(run_dir)
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"{option} {path}: folder exists and is not empty; choose another"
                              + (" or --resume it" if option == "--run-dir" else ""))
        path.mkdir(parents=True, exist_ok=True)
        return path
    root = paths.runs_root()
    if name:
        if problem := paths.folder_name_problem(name):
            raise ConfigError(f"--name {name!r}: not a run name ({problem})")
        path = root / name
        try:
            path.mkdir(parents=True)  # atomic: of two commands naming one run at once, one makes it
        except FileExistsError:
            raise ConfigError(f"run '{name}' already exists in {root}; choose another --name or --resume {path}") from None
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{recipe or 'run'}-{stamp}"
    for i in range(1000):
        path = root / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"cannot create a run folder under {root}")


MAX_JSON_BYTES = 64 << 20  # run.json / summary.json: a few KB in practice
MAX_LOG_BYTES = 4 << 30  # metrics.jsonl: a record per logged step


def read_json(path: Path) -> dict:
    """A JSON object from a run folder; a one-line CheckpointError when it is missing or damaged."""
    if not path.exists() and not path.is_symlink():
        raise CheckpointError(f"{path}: not found")
    try:
        obj = json.loads(read_limited(path, MAX_JSON_BYTES, CheckpointError).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested thousands deep
        raise CheckpointError(f"{path}: damaged JSON") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: damaged JSON (not an object)")
    return obj


def set_status(run_dir: Path, status: str, **extra: Any) -> None:
    path = run_dir / "run.json"
    current = json_or_empty(path)
    current.update(status=status, pid=os.getpid(), host=socket.gethostname(), updated=time.time(), **extra)
    write_json(path, current)


def run_status(run_dir: Path) -> str:
    """running | finished | failed | interrupted; a 'running' run whose process is gone was interrupted."""
    info = json_or_empty(run_dir / "run.json")
    status = str(info.get("status", "unknown"))
    pid = info.get("pid")
    here = info.get("host") == socket.gethostname()
    if status == "running" and here and isinstance(pid, int) and not paths.pid_alive(pid):
        return "interrupted"
    return status


class NullLog:
    """What ranks other than 0 log to under torchrun: nothing."""

    def write(self, record: Record) -> None:
        pass

    def close(self) -> None:
        pass


class MetricsLog:
    """Append-only JSON lines, flushed per write so a killed run keeps what it logged.

    The file is opened at the first write, and opened again whenever the file at `path` is no longer the one held
    open: `truncate_after` (a resume) replaces the file atomically, and records written to the old, unlinked file
    would be lost. A line torn by a kill is ended before the next record, so it never swallows that record.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = None

    def _open(self):
        try:
            same = self.fh is not None and os.fstat(self.fh.fileno()).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            if self.fh is not None:
                self.fh.close()
            self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            if self.fh.tell() > 0:
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        self.fh.write("\n")
        return self.fh

    def write(self, record: Record) -> None:
        fh = self._open()
        fh.write(json.dumps(record.to_json()) + "\n")
        fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    @staticmethod
    def objects(path: str | os.PathLike) -> list[dict]:
        """Every JSON object in the file, as written (lines cut by a kill or damaged are skipped)."""
        path = Path(path)
        if not path.exists():
            return []
        rows = []
        # errors="replace": a damaged (binary) line is skipped, the rest of the file still reads
        text = read_limited(path, MAX_LOG_BYTES, CheckpointError).decode("utf-8", errors="replace")
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line cut by a kill, or damaged (RecursionError: nested thousands deep)
            if isinstance(row, dict):
                rows.append(row)
        return rows

    @staticmethod
    def read(path: str | os.PathLike) -> list[Record]:
        """The step and evaluation records, oldest first (objects of other kinds are skipped)."""
        return [r for r in map(read_record, MetricsLog.objects(path)) if r is not None]

    @staticmethod
    def evaluations_and_last_step(path: str | os.PathLike) -> tuple[list[EvalRecord], StepRecord | None]:
        """The evaluation records and the last step record: what a table row needs, without typing every step of a
        long log (a run logging each step holds ~1,000 step records per epoch)."""
        objects = MetricsLog.objects(path)
        evals = [r for r in (read_record(o) for o in objects if o.get("kind") != "step") if isinstance(r, EvalRecord)]
        last = next((r for r in (read_record(o) for o in reversed(objects) if o.get("kind") == "step")), None)
        return evals, last if isinstance(last, StepRecord) else None

    @staticmethod
    def truncate_after(path: Path, step: int, epochs_done: int | None = None) -> None:
        """Drop records logged after `step` (steps a killed run did but its checkpoint doesn't hold).

        epochs_done: the epochs the checkpoint has completed (its position's `epoch`). A resume checkpoint written by
        --ckpt-every at an epoch's last step comes *before* that epoch's record, at the same step: a kill between the
        two leaves a record the checkpoint does not hold, which the resumed run would log a second time. With
        epochs_done given, the records of epochs after it are dropped too.
        """
        def held(obj: dict) -> bool:
            r = read_record(obj)
            if r is None:
                return True  # not a record this version knows: kept as written
            if r.step > step:
                return False
            return epochs_done is None or r.kind != "epoch" or r.epoch <= epochs_done

        rows = [r for r in MetricsLog.objects(path) if held(r)]
        atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))


def weights_path(target: str | os.PathLike) -> Path:
    """A run folder (-> its best, else last checkpoint) or a checkpoint file."""
    path = Path(target)
    if path.is_dir():
        # resume.safetensors holds the weights of a run stopped before its first epoch ended
        for name in ("best.safetensors", "last.safetensors", "resume.safetensors"):
            if (path / "checkpoints" / name).exists():
                return path / "checkpoints" / name
        raise CheckpointError(f"{path}: no checkpoints in this run folder yet (it has not trained a step)")
    if path.exists():
        return path
    named = paths.runs_root() / str(target)
    if named.is_dir():
        return weights_path(named)
    raise CheckpointError(f"{target}: no such run folder or checkpoint file")


def json_or_empty(path: Path) -> dict:
    try:
        obj = json.loads(read_limited(path, MAX_JSON_BYTES, CheckpointError).decode("utf-8"))
    except (CheckpointError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return obj if isinstance(obj, dict) else {}


def run_row(run_dir: Path) -> RunRow:
    """One run as a table row: the figures its summary.json holds (a finished run's, even a null one), the others
    from what it logged so far."""
    written = json_or_empty(run_dir / "summary.json")
    summary = RunSummary.from_json(written)
    info = json_or_empty(run_dir / "run.json")
    evals, last_step = MetricsLog.evaluations_and_last_step(run_dir / "metrics.jsonl")
    epochs = [r for r in evals if r.kind == "epoch"]
    tested = [r.test_acc for r in epochs if r.test_acc is not None]
    trained = [r.train_loss for r in epochs if r.train_loss is not None]

    def figure(key: str, logged: Any) -> Any:
        return getattr(summary, key) if key in written else logged

    data = summary.data or json_or_empty(run_dir / "data.json")
    updated = info.get("updated")  # seconds since the epoch; a damaged value: the folder's own time
    sane = type(updated) in (int, float) and math.isfinite(updated) and 0 <= updated < 1e11
    when = updated if sane else run_dir.stat().st_mtime
    return RunRow(
        run=run_dir.name,
        path=str(run_dir),
        status=run_status(run_dir),
        recipe=figure("recipe", _text(info.get("recipe"))),
        model=figure("model", _text(info.get("model"))),
        params=summary.params,
        epochs=figure("epochs", len(epochs)),
        best_test_acc=figure("best_test_acc", max(tested, default=None)),
        final_test_acc=figure("final_test_acc", tested[-1] if tested else None),
        final_test_loss=figure("final_test_loss", epochs[-1].test_loss if epochs else None),
        # the last epoch's mean training loss (the PyTorch course's "Epoch 3/20, Loss: 0.2412"); else the last
        # logged step's
        final_train_loss=figure("final_train_loss", trained[-1] if trained else last_step.loss if last_step else None),
        train_seconds=summary.train_seconds,
        images_per_second=summary.images_per_second,
        data=_text(data.get("dataset")),
        data_source=_text(data.get("source")),
        fallback=bool(data.get("fallback")),
        date=time.strftime("%Y-%m-%d %H:%M", time.localtime(when)),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def list_runs(root: str | os.PathLike | None = None) -> list[RunRow]:
    """Every run folder under root (default: the runs folder), newest first."""
    if root and not Path(root).is_dir():  # a folder the user named: a typo must not read as "no runs yet"
        raise ConfigError(f"--root {root}: " + ("not a folder" if Path(root).exists() else "no such folder")
                          + "; give the folder that holds the run folders")
    root = Path(root) if root else paths.runs_root()
    if not root.is_dir():
        return []
    # hidden folders are not runs (a `runs rm` that could not finish leaves `.name.removing-PID`)
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "config.toml").exists()]
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [safe_run_row(p) for p in folders]


def safe_run_row(run_dir: Path) -> RunRow:
    """run_row, or for a folder too damaged to read, a row marked "damaged" with the reason (others still list)."""
    try:
        return run_row(run_dir)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError,
            CheckpointError) as exc:
        return RunRow(run=run_dir.name, path=str(run_dir), status="damaged", error=f"{type(exc).__name__}: {exc}")


def resolve_run(target: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A run folder given as a path, or as a name under `root` (default: the runs folder)."""
    path = Path(target)
    if path.is_dir() and (path / "config.toml").exists():
        return path
    where = Path(root) if root else paths.runs_root()
    named = where / str(target)
    if named.is_dir() and (named / "config.toml").exists():
        return named
    raise CheckpointError(f"{target}: not a run folder (no config.toml) and no run of that name in {where}; "
                          "`digitlab runs` lists them")


@dataclass(frozen=True)
class RemovedRun:
    """What `remove_run` deleted: the run's name, its folder, its status then and its size on disk (bytes)."""

    name: str
    path: str
    status: str
    size_bytes: int


def remove_runs(targets: list[str | os.PathLike], root: str | os.PathLike | None = None) -> list[RemovedRun]:
    """Delete run folders (names under `root`, or paths). Every target is checked first (exists, is a run, is not
    still training), so one bad name removes nothing. Each folder is renamed to a hidden name beside it, then deleted:
    a failure part-way never leaves half a run that `runs` would list."""
    folders: dict[Path, str] = {}
    for target in targets:
        folder = resolve_run(target, root)
        status = run_status(folder)
        if status == "running":
            info = json_or_empty(folder / "run.json")
            raise DigitlabError(f"run '{folder.name}' is still training (pid {info.get('pid', '?')} on "
                                f"{info.get('host', '?')}); stop it first (Ctrl-C), then remove it")
        folders.setdefault(folder.resolve(), status)
    removed = []
    for folder, status in folders.items():
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
        doomed = folder.with_name(f".{folder.name}.removing-{os.getpid()}")
        try:
            folder.rename(doomed)
            shutil.rmtree(doomed)
        except OSError as exc:
            raise DigitlabError(f"{folder}: could not remove it ({exc.strerror or exc}); check its permissions") from None
        removed.append(RemovedRun(name=folder.name, path=str(folder), status=status, size_bytes=size))
    return removed


def remove_run(target: str | os.PathLike, root: str | os.PathLike | None = None) -> RemovedRun:
    """Delete one run folder; see remove_runs."""
    return remove_runs([target], root)[0]
