"""Pick the compute device once ("auto" -> cuda, mps, cpu) and pass it down; no module assumes CPU."""

from __future__ import annotations

import torch

from digitlab.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name. 'cuda:1' style indices are accepted for CUDA."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":", 1)[0]
    if base not in DEVICE_CHOICES:
        raise ConfigError(f"unknown device '{name}': choose one of {', '.join(DEVICE_CHOICES)}")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available here: use --device auto or cpu")
    if base == "mps" and not mps_available():
        raise ConfigError("device 'mps' requested but MPS is not available here: use --device auto or cpu")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (for honest wall-clock timing on asynchronous devices)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def apply_threads(n: int) -> int:
    """Use n CPU threads for torch's kernels (0 = leave torch's choice, which honours $OMP_NUM_THREADS).

    Under load from other processes, torch's default (one thread per core) can be several times slower than
    fewer threads; --threads lets a person choose. Returns the thread count now in use."""
    if n > 0:
        torch.set_num_threads(n)
    return torch.get_num_threads()
