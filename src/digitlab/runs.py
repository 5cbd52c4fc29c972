"""The run folder: the one hand-over between training and everything after it.

    runs/<name>/
      config.toml        the resolved config
      run.json           status (running | finished | failed | interrupted), pid, times, recipe
      metrics.jsonl      one JSON object per logged step ("kind": "step") and per epoch ("kind": "epoch")
      summary.json       the final figures (written when training ends)
      checkpoints/       last.safetensors, best.safetensors, resume.safetensors
      loss.png           loss and accuracy curves
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from digitlab import paths
from digitlab.errors import CheckpointError, ConfigError


def new_run_dir(name: str | None, run_dir: str | os.PathLike | None, recipe: str) -> Path:
    """A fresh folder for a run; never reuses one that holds a run (nothing saved is ever overwritten)."""
    if run_dir:
        path = Path(run_dir)
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"--run-dir {path}: folder exists and is not empty; choose another or --resume it")
        path.mkdir(parents=True, exist_ok=True)
        return path
    root = paths.runs_root()
    if name:
        if "/" in name or "\\" in name or name in (".", ".."):
            raise ConfigError(f"--name '{name}': a run name cannot contain path separators")
        path = root / name
        if path.exists():
            raise ConfigError(f"run '{name}' already exists in {root}; choose another --name or --resume {path}")
        path.mkdir(parents=True)
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


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found") from None
    except ValueError:
        raise CheckpointError(f"{path}: damaged JSON") from None


def set_status(run_dir: Path, status: str, **extra: Any) -> None:
    path = run_dir / "run.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(status=status, pid=os.getpid(), host=socket.gethostname(), updated=time.time(), **extra)
    write_json(path, current)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(run_dir: Path) -> str:
    """running | finished | failed | interrupted; a 'running' run whose process is gone was interrupted."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return "unknown"
    status = info.get("status", "unknown")
    if status == "running" and info.get("host") == socket.gethostname() and not _alive(int(info.get("pid", 0))):
        return "interrupted"
    return status


class NullLog:
    """What ranks other than 0 log to under torchrun: nothing."""

    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


class MetricsLog:
    """Append-only JSON lines, flushed per write so a killed run keeps what it logged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()

    @staticmethod
    def read(path: Path) -> list[dict]:
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill
        return rows

    @staticmethod
    def truncate_after(path: Path, step: int) -> None:
        """Drop records logged after `step` (steps a killed run did but its checkpoint doesn't hold)."""
        rows = [r for r in MetricsLog.read(path) if r.get("step", 0) <= step]
        write_text = "".join(json.dumps(r) + "\n" for r in rows)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(write_text, encoding="utf-8")
        os.replace(tmp, path)


def weights_path(target: str | os.PathLike) -> Path:
    """A run folder (-> its best, else last checkpoint) or a checkpoint file."""
    path = Path(target)
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / "checkpoints" / name).exists():
                return path / "checkpoints" / name
        raise CheckpointError(f"{path}: no checkpoints/best.safetensors or last.safetensors in this run folder")
    if path.exists():
        return path
    named = paths.runs_root() / str(target)
    if named.is_dir():
        return weights_path(named)
    raise CheckpointError(f"{target}: no such run folder or checkpoint file")


def _json_or_empty(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_row(run_dir: Path) -> dict:
    """One run as a table row: from summary.json when it finished, else from what it logged so far."""
    summary = _json_or_empty(run_dir / "summary.json")
    info = _json_or_empty(run_dir / "run.json")
    records = MetricsLog.read(run_dir / "metrics.jsonl")
    epochs = [r for r in records if r.get("kind") == "epoch"]
    steps = [r for r in records if r.get("kind") == "step"]
    tested = [r["test_acc"] for r in epochs if r.get("test_acc") is not None]
    data = summary.get("data") or _json_or_empty(run_dir / "data.json")
    return {
        "run": run_dir.name,
        "path": str(run_dir),
        "status": run_status(run_dir),
        "recipe": summary.get("recipe", info.get("recipe", "")),
        "model": summary.get("model", info.get("model", "")),
        "params": summary.get("params"),
        "epochs": summary.get("epochs", len(epochs)),
        "best_test_acc": summary.get("best_test_acc", max(tested) if tested else None),
        "final_test_acc": summary.get("final_test_acc", tested[-1] if tested else None),
        "final_test_loss": summary.get("final_test_loss", epochs[-1].get("test_loss") if epochs else None),
        "final_train_loss": steps[-1]["loss"] if steps else None,
        "train_seconds": summary.get("train_seconds"),
        "images_per_second": summary.get("images_per_second"),
        "data": data.get("dataset", ""),
        "data_source": data.get("source", ""),
        "fallback": bool(data.get("fallback")),
        "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("updated", run_dir.stat().st_mtime))),
    }


def list_runs(root: str | os.PathLike | None = None) -> list[dict]:
    """Every run folder under root (default: the runs folder), newest first."""
    root = Path(root) if root else paths.runs_root()
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and (p / "config.toml").exists()]
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [run_row(p) for p in folders]


def resolve_run(target: str | os.PathLike) -> Path:
    """A run folder given as a path or as a name under the runs folder."""
    path = Path(target)
    if path.is_dir() and (path / "config.toml").exists():
        return path
    named = paths.runs_root() / str(target)
    if named.is_dir() and (named / "config.toml").exists():
        return named
    raise CheckpointError(f"{target}: not a run folder (no config.toml); `digitlab runs` lists them")
