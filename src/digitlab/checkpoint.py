"""Self-describing safetensors checkpoints, written atomically; training state for exact resume.

Two kinds of file, both safetensors (no pickle anywhere):
  weights  (last.safetensors, best.safetensors): the model's state_dict under its own names, plus
           metadata {"format", "digitlab": JSON} carrying the model name, classes, preprocessing (dataset,
           mean/std, input size) and the config, so any command rebuilds model + preprocessing from the file.
  resume   (resume.safetensors): the weights again (prefixed "model."), the optimizer's tensors
           ("optim.<param>.<key>"), RNG states ("rng.*"), and JSON metadata with param groups, scheduler
           state and the loader position (epoch, step). One file, so a resume can never pair weights with
           another step's optimizer state.
The metadata is a digitlab.contract.CheckpointInfo (typed; parsed in one place). Writes go through digitlab.io
(temporary file, fsync, rename): a kill during a write leaves the previous checkpoint intact.
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
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from digitlab.contract import CheckpointInfo
from digitlab.errors import CheckpointError
from digitlab.io import atomic_write, check_regular, read_limited

FORMAT = "digitlab-checkpoint/1"
RESUME_FORMAT = "digitlab-resume/1"
MAX_CHECKPOINT_BYTES = 8 << 30  # read at most this much of a file given as a checkpoint


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def save_weights(path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor], info: CheckpointInfo) -> Path:
    """Write a weights checkpoint carrying `info` (model, classes, preprocessing, config, ...)."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    path = Path(path)
    atomic_write(path, st_save(_cpu(state), metadata={"format": FORMAT, "digitlab": json.dumps(info.to_json())}))
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.exists() and not path.is_symlink():
        raise CheckpointError(f"{path}: checkpoint not found")
    data = read_limited(path, MAX_CHECKPOINT_BYTES, CheckpointError)
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a safetensors checkpoint, or truncated ({exc})") from None
    return tensors, header.get("__metadata__") or {}


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    state: dict[str, torch.Tensor]
    info: CheckpointInfo
    kind: str = "weights"  # "weights", or "resume" when the weights come from a resume checkpoint

    @property
    def model_name(self) -> str:
        return self.info.model


NOT_DIGITLAB = ("a safetensors file without digitlab metadata (no model name inside); use a checkpoint written by "
                "digitlab train, or digitlab import-mindspore for MindSpore files")


def _info(meta: dict[str, str], path: Path) -> CheckpointInfo:
    try:
        raw = json.loads(meta["digitlab"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{path}: damaged digitlab metadata (not JSON)") from None
    return CheckpointInfo.from_json(raw, str(path))


def read_weights(path: str | os.PathLike) -> Checkpoint:
    """A weights checkpoint, or the model weights inside a resume checkpoint (a run stopped before an epoch end)."""
    path = Path(path)
    tensors, meta = _read(path)
    if meta.get("format") == RESUME_FORMAT:
        state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        return Checkpoint(path, state, _info(meta, path), kind="resume")
    if meta.get("format") != FORMAT or "digitlab" not in meta:
        raise CheckpointError(f"{path}: {NOT_DIGITLAB}")
    return Checkpoint(path, tensors, _info(meta, path))


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """A weights or resume checkpoint's CheckpointInfo from its header alone (no tensors are loaded): what a command
    checks (the model's name, say) before it loads anything."""
    path = Path(path)
    meta = _header_metadata(path)
    if meta.get("format") not in (FORMAT, RESUME_FORMAT) or "digitlab" not in meta:
        raise CheckpointError(f"{path}: {NOT_DIGITLAB}")
    return _info(meta, path)


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict that reports missing / unexpected / mismatched tensors by name, in one line."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in state and state[k].shape != own[k].shape]
    # integer (or bool) tensors for float parameters would be cast silently into a model that answers nonsense
    wrong_kind = [f"{k} {state[k].dtype} vs {own[k].dtype}" for k in own
                  if k in state and own[k].is_floating_point() != state[k].is_floating_point()]
    if missing or unexpected or mismatched or wrong_kind:
        parts = []
        for label, names in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched),
                             ("dtype mismatch", wrong_kind)):
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
    info: CheckpointInfo,
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
    meta = {
        "param_groups": opt["param_groups"],
        "optim_extra": extra,
        "scheduler": scheduler.state_dict(),  # LambdaLR: step count and lrs; lr_lambdas is [None] for plain functions
        "position": position,
    }
    path = Path(path)
    atomic_write(path, st_save(_cpu(tensors), metadata={
        "format": RESUME_FORMAT, "digitlab": json.dumps(info.to_json()), "resume": json.dumps(meta)}))
    return path


def _resume_meta(meta: dict[str, str], path: Path) -> dict[str, Any]:
    if meta.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path}: not a digitlab resume checkpoint")
    try:
        state = json.loads(meta["resume"])
        state["position"]["global_step"]  # noqa: B018 - present in every resume checkpoint
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: damaged resume metadata; start the run again") from None
    return state


def _header_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata, read from its header alone (no tensors are loaded)."""
    check_regular(path, MAX_CHECKPOINT_BYTES, CheckpointError)  # safetensors would block on a named pipe
    try:
        with safe_open(str(path), framework="pt") as fh:
            return fh.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors checkpoint, or truncated ({exc})") from None


def read_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """A weights checkpoint's tensor names and shapes, in file order, from its header alone (no tensors loaded)."""
    path = Path(path)
    check_regular(path, MAX_CHECKPOINT_BYTES, CheckpointError)
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118 - safe_open has no iter
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a safetensors checkpoint, or truncated ({exc})") from None


def read_resume_header(path: str | os.PathLike) -> tuple[CheckpointInfo, dict[str, Any], set[str]]:
    """A resume checkpoint's CheckpointInfo, loader position (epoch, step_in_epoch, global_step, ...) and the
    "section.key" settings its own config records (a file written before a key existed lacks it), from the header
    alone: what `--resume` checks before it loads anything."""
    path = Path(path)
    meta = _header_metadata(path)
    position = _resume_meta(meta, path)["position"]
    info = _info(meta, path)
    config = json.loads(meta["digitlab"])["config"]  # _info has parsed it: a dict of sections
    recorded = {f"{section}.{key}" for section, values in config.items() if isinstance(values, dict) for key in values}
    return info, position, recorded


def load_resume(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, device: torch.device) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG; returns the loader position."""
    path = Path(path)
    tensors, meta = _read(path)
    state = _resume_meta(meta, path)
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
    return state["position"]
