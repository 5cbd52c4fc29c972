"""Scale-out through PyTorch's own engine: torchrun + DistributedDataParallel.

`torchrun --nproc-per-node N -m digitlab train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; digitlab then
joins the process group (NCCL on CUDA, gloo on CPU), pins each rank to its GPU, and:
  - rank 0 alone finds or downloads the data while the others wait at a barrier;
  - every rank walks the same global shuffled order and takes its strided share of each global batch
    (TensorLoader(rank, world_size)), so N processes see exactly the batches one process would;
  - DDP averages gradients, so the update equals the single-process update on the global batch;
  - only rank 0 logs, writes metrics and checkpoints (of the unwrapped model: no `module.` prefix).
Resume works with a different number of processes: the loader position is global.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def setup(d: Dist, device: torch.device) -> torch.device:
    """Join the process group once; returns this rank's device (cuda:LOCAL_RANK on GPUs)."""
    if not d.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def barrier(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(d: Dist) -> None:
    """Leave the process group together: a barrier first, so no rank tears down gloo's threads while another is
    still inside a collective (which aborted rank 1 with "terminate called without an active exception")."""
    if d.enabled and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def broadcast_text(d: Dist, text: str | None) -> str:
    """Rank 0's string (e.g. the run folder it created) on every rank."""
    if not d.enabled:
        return text or ""
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0] or ""
