"""SGD applied inside the backward pass: each parameter is updated the moment its gradient is complete.

    why_not(optimizer, config, device, ddp)  None where the update can run in backward, else the reason it cannot
    BackwardSGD(optimizer)                   hooks every parameter of `optimizer`; .remove() takes them off

What it saves: the step's gradients are used while the GEMM that produced them has just left them in cache, and each is
freed right away instead of all of them living until optimizer.step(); there is no separate optimizer pass over every
parameter and no zero_grad. Measured on the quickstart MLP (CPU): about 5% of a step (docs/benchmarks.md, "Speed,
round four").

Exactly torch.optim.SGD's arithmetic: the same tensor ops as its single-tensor implementation (the one a tutorial's
torch.optim.SGD runs on a CPU), in the same order, so the weights after every step are bit-identical to it (tested).
lr, momentum, dampening, nesterov, weight_decay and maximize are read from the parameter's group at that moment (an
LR schedule works unchanged) and the momentum buffers live in optimizer.state[p]["momentum_buffer"], where
torch.optim.SGD keeps them: the optimizer's state_dict, and so the resume checkpoints, are the same as before.

Where it does not apply (why_not says which): other optimizers (Adam's fused kernel already makes one pass over all
parameters), gradient clipping (needs every gradient before any update), DDP (gradients must be all-reduced first),
torch.compile, and GPUs (one kernel per parameter instead of the fused kernel over all of them), or when
train.update_in_backward is off, e.g. to look at .grad after backward (it is None in this mode).
"""

from __future__ import annotations

import torch

from digitlab.config import Config
from digitlab.distributed import Dist


def why_not(optimizer: torch.optim.Optimizer, config: Config, device: torch.device, ddp: Dist) -> str | None:
    """None when BackwardSGD can take over this optimizer's updates in this run, else why not (for the record)."""
    reasons = [
        (not config.train.update_in_backward, "train.update_in_backward is off"),
        (type(optimizer) is not torch.optim.SGD, f"{type(optimizer).__name__} steps after backward"),
        (device.type != "cpu", f"on {device.type} the fused optimizer kernel is faster"),
        (config.optim.grad_clip > 0, "gradient clipping needs every gradient first"),
        (ddp.enabled, "DDP all-reduces gradients first"),
        (config.train.compile, "train.compile"),
    ]
    return next((why for applies, why in reasons if applies), None)


class BackwardSGD:
    """torch.optim.SGD's update, one parameter at a time, from a post-accumulate-grad hook on each parameter."""

    def __init__(self, optimizer: torch.optim.SGD) -> None:
        self.optimizer = optimizer
        self.handles = [p.register_post_accumulate_grad_hook(self._make_hook(group))
                        for group in optimizer.param_groups for p in group["params"]]
        # LR schedulers warn when they step before the optimizer ever has; here its updates run in backward, so mark
        # it stepped with a step that has no gradients to apply (a no-op; public API on every torch version)
        optimizer.step()

    def _make_hook(self, group: dict):
        state = self.optimizer.state

        @torch.no_grad()
        def update(p: torch.Tensor) -> None:
            # torch/optim/sgd.py _single_tensor_sgd, op for op
            grad = p.grad if not group["maximize"] else -p.grad
            if group["weight_decay"] != 0:
                grad = grad.add(p, alpha=group["weight_decay"])
            momentum = group["momentum"]
            if momentum != 0:
                buf = state[p].get("momentum_buffer")
                if buf is None:
                    buf = state[p]["momentum_buffer"] = grad.detach().clone()
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
                grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
            p.add_(grad, alpha=-group["lr"])
            p.grad = None  # used: free it now (and the next backward starts from None, as after zero_grad)

        return update

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
