"""Self-describing safetensors checkpoints, written atomically; training state for exact resume.

Two kinds of file, both safetensors (no pickle anywhere):
  weights  (last.safetensors, best.safetensors): the model's state_dict under its own names, plus
           metadata {"format", "digitlab": JSON} carrying the model name, classes, preprocessing (dataset,
           mean/std, input size) and the config, so any command rebuilds model + preprocessing from the file.
  resume   (resume.safetensors): the weights again (prefixed "model."), the optimizer's tensors
           ("optim.<param>.<key>"), RNG states ("rng.*"), optional EMA weights ("ema.*"), and JSON metadata
           with param groups, scheduler state and the loader position (epoch, step). One file, so a
           resume can never pair weights with another step's optimizer state.
Writes go to a temporary file in the same folder, are fsynced, then renamed over the old file: a kill
during a write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from digitlab.errors import CheckpointError

FORMAT = "digitlab-checkpoint/1"
RESUME_FORMAT = "digitlab-resume/1"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def save_weights(path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write a weights checkpoint. info: JSON-able facts (model, classes, preprocessing, config, ...)."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    path = Path(path)
    atomic_write(path, st_save(_cpu(state), metadata={"format": FORMAT, "digitlab": json.dumps(info)}))
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a safetensors checkpoint, or truncated ({exc})") from None
    return tensors, header.get("__metadata__") or {}


@dataclass
class Checkpoint:
    path: Path
    state: dict[str, torch.Tensor]
    info: dict[str, Any]

    @property
    def model_name(self) -> str:
        return self.info["model"]


def read_weights(path: str | os.PathLike) -> Checkpoint:
    path = Path(path)
    tensors, meta = _read(path)
    if meta.get("format") == RESUME_FORMAT:
        info = json.loads(meta["digitlab"])
        return Checkpoint(path, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, info)
    if meta.get("format") != FORMAT or "digitlab" not in meta:
        raise CheckpointError(
            f"{path}: a safetensors file without digitlab metadata (no model name inside); "
            "use a checkpoint written by digitlab train, or digitlab import-mindspore for MindSpore files"
        )
    try:
        info = json.loads(meta["digitlab"])
    except ValueError:
        raise CheckpointError(f"{path}: damaged digitlab metadata") from None
    if "model" not in info:
        raise CheckpointError(f"{path}: metadata names no model")
    return Checkpoint(path, tensors, info)


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict that reports missing / unexpected / mismatched tensors by name, in one line."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        parts = []
        for label, names in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if names:
                shown = ", ".join(names[:6]) + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")
                parts.append(f"{label}: {shown}")
        raise CheckpointError(f"{source}: does not fit model '{type(model).__name__}': " + "; ".join(parts))
    model.load_state_dict(state)


# ------------------------------------------------------------------------------------------- resume
def save_resume(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    position: dict[str, Any],
    info: dict[str, Any],
    ema: dict[str, torch.Tensor] | None = None,
) -> Path:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    extra: dict[str, dict[str, Any]] = {}
    for pid, entry in opt["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                extra.setdefault(str(pid), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    for k, v in (ema or {}).items():
        tensors[f"ema.{k}"] = v
    meta = {
        "param_groups": opt["param_groups"],
        "optim_extra": extra,
        "scheduler": scheduler.state_dict(),  # LambdaLR: step count and lrs; lr_lambdas is [None] for plain functions
        "position": position,
    }
    path = Path(path)
    atomic_write(path, st_save(_cpu(tensors), metadata={
        "format": RESUME_FORMAT, "digitlab": json.dumps(info), "resume": json.dumps(meta)}))
    return path


def read_resume_position(path: str | os.PathLike) -> dict[str, Any]:
    """The loader position stored in a resume checkpoint (epoch, step_in_epoch, global_step, ...)."""
    _, meta = _read(Path(path))
    if meta.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path}: not a digitlab resume checkpoint")
    return json.loads(meta["resume"])["position"]


def load_resume(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, device: torch.device) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Restore model, optimizer, scheduler and RNG; returns (position, ema state or None)."""
    path = Path(path)
    tensors, meta = _read(path)
    if meta.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path}: not a digitlab resume checkpoint")
    state = json.loads(meta["resume"])
    load_state_checked(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value.to(device)
    for pid, entry in state["optim_extra"].items():
        opt_state.setdefault(int(pid), {}).update(entry)
    try:
        optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: optimizer state does not fit ({exc}); was the optimizer changed?") from None
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):
            torch.cuda.set_rng_state_all(cuda_states)
    ema = {k[4:]: v.to(device) for k, v in tensors.items() if k.startswith("ema.")} or None
    return state["position"], ema
