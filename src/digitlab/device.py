"""Pick the compute device once ("auto" -> cuda, mps, cpu) and pass it down; no module assumes CPU.

Also owns the device's arithmetic facts: whether the CPU computes bfloat16 natively (cpu_bf16_native) and the
precision a run trains in on a device (precision_for), so the loop, the run header and summary.json agree.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

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


# ------------------------------------------------------------------------------------------------ precision
# /proc/cpuinfo flags meaning the CPU has bf16 dot-product / matrix instructions oneDNN uses (x86: AVX512-BF16,
# AMX-BF16; Arm: the BF16 extension, flag "bf16").
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU feature flags the kernel lists (x86 "flags", Arm "Features"); empty where there is no such file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return flags


@functools.lru_cache(maxsize=1)
def cpu_bf16_feature() -> str:
    """The name of the native bf16 feature this CPU has ("AVX512-BF16", "AMX-BF16", "BF16"), or "" for none.

    How it decides: first torch's own CPU probes (torch.cpu._is_avx512_bf16_supported / _is_amx_tile_supported,
    the checks oneDNN's bf16 kernels are chosen by); where this torch build lacks them (older torch, non-x86),
    the kernel's CPU flags in /proc/cpuinfo (avx512_bf16, amx_bf16, Arm's bf16). No flag, no native bf16: torch
    would then emulate bf16 in float32 arithmetic, slower than plain float32."""
    probes = (("_is_amx_tile_supported", "AMX-BF16"), ("_is_avx512_bf16_supported", "AVX512-BF16"))
    probed = False
    for attr, name in probes:
        probe = getattr(torch.cpu, attr, None)
        if probe is None:
            continue
        probed = True
        try:
            if probe():
                return name
        except Exception:  # a probe that fails says nothing; fall back to the flags below
            probed = False
    if probed and platform.machine().lower() in ("x86_64", "amd64"):
        return ""
    flags = _cpuinfo_flags()
    names = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16", "bf16": "BF16"}
    return next((names[f] for f in BF16_CPU_FLAGS if f in flags), "")


def cpu_bf16_native() -> bool:
    """True when this CPU computes bfloat16 natively (see cpu_bf16_feature for how that is decided)."""
    return bool(cpu_bf16_feature())


@dataclass(frozen=True)
class Precision:
    """The arithmetic a run trains in on its device, and why (for the run header and summary.json)."""

    dtype: str  # "bfloat16" (autocast forward; weights, gradients and optimizer state stay float32) or "float32"
    reason: str  # one line: what was asked and what the device offers

    @property
    def bf16(self) -> bool:
        return self.dtype == "bfloat16"

    def as_dict(self) -> dict:
        return {"precision": self.dtype, "precision_reason": self.reason}


def _bf16_support(device: torch.device) -> tuple[bool, str]:
    """(native bf16 on this device?, what it is) for the devices digitlab runs on."""
    if device.type == "cpu":
        feature = cpu_bf16_feature()
        return (True, f"this CPU has {feature}") if feature else \
            (False, "this CPU has no native bf16 (no AVX512-BF16/AMX; emulated bf16 would be slower than float32)")
    if device.type == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch before 2.3 has no including_emulation
            native = torch.cuda.is_bf16_supported()
        name = torch.cuda.get_device_name(device)
        return (True, f"{name} computes bf16") if native else (False, f"{name} has no native bf16")
    return False, f"digitlab keeps {device.type} in float32 (bf16 autocast is not enabled there)"


def precision_for(train, device: torch.device) -> Precision:
    """The precision a run with this train config uses on `device`.

    train.amp false: float32 (the tutorial recipes: they reproduce the tutorials' arithmetic). train.amp true:
    bfloat16 autocast where the device computes bf16 natively (CPU with AVX512-BF16/AMX, CUDA with bf16),
    otherwise float32, and the reason says so. `train` is a TrainConfig (anything with an `amp` attribute)."""
    if not train.amp:
        return Precision("float32", "train.amp is off")
    native, what = _bf16_support(device)
    if native:
        return Precision("bfloat16", f"train.amp is on and {what}")
    return Precision("float32", f"train.amp is on but {what}: training in float32")
