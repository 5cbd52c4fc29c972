"""Scale-out through PyTorch's own engine: torchrun + DistributedDataParallel.

`torchrun --nproc-per-node N -m digitlab train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; digitlab then
joins the process group (NCCL on CUDA, gloo on CPU), pins each rank to its GPU, and:
  - rank 0 alone finds or downloads the data while the others wait at a barrier;
  - every rank walks the same global shuffled order and takes its strided share of each global batch
    (TensorLoader(rank, world_size)), so N processes see exactly the batches one process would;
  - DDP averages gradients, so the update equals the single-process update on the global batch;
  - only rank 0 logs, writes metrics and checkpoints (of the unwrapped model: no `module.` prefix).
Resume works with a different number of processes: the loader position is global.

Across machines (tested on network namespaces: tests/test_distributed_hosts.py):
  - gloo's interface: unless GLOO_SOCKET_IFNAME says otherwise, the one the kernel routes to MASTER_ADDR through
    (gloo's own default is the address the hostname resolves to: 127.0.1.1 on Debian, unreachable from elsewhere);
  - one timeout, `train.dist_timeout` (60 s): init_process_group's, which bounds joining (the TCP store) and every
    gloo/NCCL collective, so a node that dies or loses its network ends the run on the others within it;
  - such a failure is a TrainingError naming the lost peer (one line), and the group is torn down without the
    closing barrier (which would wait for the dead peer too).
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import ipaddress
import os
import re
import socket
import struct
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from digitlab.errors import TrainingError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist:
    """The torchrun environment, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def _interfaces() -> dict[str, str]:
    """IPv4 address -> interface name, from the kernel (Linux: SIOCGIFCONF); empty elsewhere."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError, AttributeError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        size = 40  # struct ifreq on 64-bit Linux
        buf = array.array("B", b"\0" * size * 64)
        packed = struct.pack("iL", len(buf), buf.buffer_info()[0])
        length = struct.unpack("iL", fcntl.ioctl(sock.fileno(), 0x8912, packed))[0]  # SIOCGIFCONF
        raw = buf.tobytes()
        for at in range(0, length, size):
            name = raw[at:at + 16].split(b"\0", 1)[0].decode()
            found[socket.inet_ntoa(raw[at + 20:at + 24])] = name
    return found


def route_interface(host: str, port: int = 9) -> str | None:
    """The interface this machine would reach `host` through (None for loopback, unknown or unresolvable)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))  # UDP: picks the route, sends nothing
            local = sock.getsockname()[0]
    except OSError:
        return None
    if ipaddress.ip_address(local).is_loopback:
        return None
    return _interfaces().get(local)


def choose_gloo_interface() -> str | None:
    """Set GLOO_SOCKET_IFNAME to the interface towards MASTER_ADDR unless the user set it; returns it."""
    if os.environ.get("GLOO_SOCKET_IFNAME"):
        return os.environ["GLOO_SOCKET_IFNAME"]
    master = os.environ.get("MASTER_ADDR", "")
    name = route_interface(master, int(os.environ.get("MASTER_PORT", "9") or 9)) if master else None
    if name:
        os.environ["GLOO_SOCKET_IFNAME"] = name
    return name


def setup(d: Dist, device: torch.device, timeout: float = 60.0) -> torch.device:
    """Join the process group once (waiting at most `timeout` s for the others, and in every collective after);
    returns this rank's device (cuda:LOCAL_RANK on GPUs)."""
    if not d.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "gloo":
            choose_gloo_interface()
        try:
            dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout))
        except Exception as exc:
            if not is_peer_failure(exc):
                raise
            raise TrainingError(f"rank {d.rank} of {d.world_size}: could not join the other processes at "
                                f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')} within {timeout:g} s "
                                f"({first_line(exc)}); check that every node runs and can reach it") from None
    return device


PEER_SIGNS = ("connection closed by peer", "connection reset", "timed out", "timeout", "broken pipe",
              "connection refused", "no route to host", "socket", "gloo", "nccl", "store")


def first_line(exc: BaseException) -> str:
    """gloo's message on one line, without its source-file tags and its advice paragraph."""
    text = re.sub(r"\[/[^\]]*\]\s*", "", " ".join(str(exc).split())).split(". This is typically")[0]
    return (text or type(exc).__name__)[:200]


def is_peer_failure(exc: BaseException) -> bool:
    """A failure of the process group itself (a peer died, the network went, a timeout), not of this process."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(sign in str(exc).lower() for sign in PEER_SIGNS)


def lost_peer(d: Dist, exc: BaseException, step: int, timeout: float, run_dir) -> TrainingError:
    """The one line a rank ends with when another process of the run is gone."""
    return TrainingError(f"rank {d.rank} of {d.world_size}: lost contact with another process of the run at step "
                         f"{step} (a node died, was stopped or lost its network; waited at most {timeout:g} s, "
                         f"train.dist_timeout): {first_line(exc)}; continue from rank 0's last checkpoint with "
                         f"`digitlab train --resume {run_dir}` (1 process) or torchrun ... -m digitlab train --resume")


def _together(d: Dist, what: str, fn, *args):
    """A collective outside the training loop; a lost peer there is one line too."""
    try:
        return fn(*args)
    except Exception as exc:
        if not is_peer_failure(exc):
            raise
        raise TrainingError(f"rank {d.rank} of {d.world_size}: lost contact with another process of the run while "
                            f"{what} (a node died, was stopped or lost its network): {first_line(exc)}") from None


def barrier(d: Dist, what: str = "waiting for the data") -> None:
    if d.enabled and dist.is_initialized():
        _together(d, what, dist.barrier)


def cleanup(d: Dist, broken: bool = False) -> None:
    """Leave the process group together: a barrier first, so no rank tears down gloo's threads while another is
    still inside a collective (which aborted rank 1 with "terminate called without an active exception").
    A broken group (a peer is gone) is left at once: its barrier would only wait out the timeout again."""
    if d.enabled and dist.is_initialized():
        try:
            if not broken:
                dist.barrier()
        finally:
            with contextlib.suppress(Exception):
                dist.destroy_process_group()


def broadcast_text(d: Dist, text: str | None) -> str:
    """Rank 0's string (e.g. the run folder it created) on every rank."""
    if not d.enabled:
        return text or ""
    box = [text]
    _together(d, "receiving the run folder", dist.broadcast_object_list, box, 0)
    return box[0] or ""
