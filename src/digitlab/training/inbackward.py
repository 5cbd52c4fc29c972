"""SGD applied inside the backward pass (opt-in: train.update_in_backward = true): each parameter is updated the
moment its gradient is complete. The default is the plain `zero_grad / backward / step` of training/loop.py.

    why_not(optimizer, config, device, ddp)  None where the update can run in backward, else the reason it cannot
    check_opt_in(config, device, ddp)        an opt-in that cannot apply, or a torch whose SGD kernel this module no
                                             longer matches bit for bit, is refused in one line before a run starts
    BackwardSGD(optimizer)                   hooks every parameter of `optimizer`; .remove() takes them off

What it saves: the step's gradients are used while the GEMM that produced them has just left them in cache, and each is
freed right away instead of all of them living until optimizer.step(); there is no separate optimizer pass over every
parameter and no zero_grad. Measured on this project's 2-core CPU: 2% of a quickstart (SGD) step, 8% of a lenet5
(Momentum) step (docs/benchmarks.md, "Speed, round four").

Exactly the optimizer's own arithmetic: the fused kernel for one parameter where the optimizer is SGD(fused=True) (what
digitlab builds where torch has it), else the same tensor ops as torch's single-tensor implementation (what a tutorial's
torch.optim.SGD runs on a CPU), so the weights after every step are bit-identical to stepping that optimizer after
backward (tested, both implementations).
lr, momentum, dampening, nesterov, weight_decay and maximize are read from the parameter's group at that moment (an
LR schedule works unchanged) and the momentum buffers live in optimizer.state[p]["momentum_buffer"], where
torch.optim.SGD keeps them: the optimizer's state_dict, and so the resume checkpoints, are the same as before.

Where it does not apply (why_not says which): other optimizers (Adam's fused kernel already makes one pass over all
parameters), gradient clipping (needs every gradient before any update), DDP (gradients must be all-reduced first),
torch.compile, and GPUs (one kernel per parameter instead of the fused kernel over all of them), or when
train.update_in_backward is off, e.g. to look at .grad after backward (it is None in this mode). While the hooks are
on (a training session; engine.py removes them at its end), every backward through the model is a training step.
"""

from __future__ import annotations

import functools

import torch

from digitlab.config import Config
from digitlab.distributed import Dist
from digitlab.errors import ConfigError


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


def check_opt_in(config: Config, device: torch.device, ddp: Dist) -> None:
    """Refuse train.update_in_backward = true where it cannot apply (one line naming why), and where this torch's SGD
    arithmetic differs from the per-parameter update below (it uses torch's private `_fused_sgd_`: checked, not
    assumed, once per process and setting)."""
    if not config.train.update_in_backward:
        return
    from digitlab.training.optim import make_optimizer

    probe = make_optimizer([torch.nn.Parameter(torch.zeros(4, device=device))], config.optim)
    why = why_not(probe, config, device, ddp)
    if why is not None:
        raise ConfigError(f"train.update_in_backward = true cannot apply here: {why}; leave it off (the default: the "
                          "update after backward)")
    group = probe.param_groups[0]
    settings = tuple(group[k] for k in ("lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize"))
    if not _kernel_matches(bool(group.get("fused")), settings):
        raise ConfigError(f"train.update_in_backward = true: this torch ({torch.__version__}) computes SGD's step "
                          "differently from digitlab's per-parameter update; leave it off (the default)")


@functools.lru_cache(maxsize=16)
def _kernel_matches(fused: bool, settings: tuple) -> bool:
    """Three steps of the per-parameter update against torch.optim.SGD's own step, bit for bit."""
    lr, momentum, dampening, nesterov, weight_decay, maximize = settings
    gen = torch.Generator().manual_seed(0)
    start, grads = torch.randn(33, generator=gen), [torch.randn(33, generator=gen) for _ in range(3)]
    a, b = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    kwargs = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                  maximize=maximize, **({"fused": True} if fused else {}))
    try:
        reference, ours = torch.optim.SGD([a], **kwargs), torch.optim.SGD([b], **kwargs)
        update = _fused_update if fused else _single_tensor_update
        for g in grads:
            a.grad, b.grad = g.clone(), g.clone()
            reference.step()
            with torch.no_grad():
                update(b, ours.param_groups[0], ours.state)
    except (AttributeError, RuntimeError, TypeError):  # the private kernel is gone or takes other arguments
        return False
    return torch.equal(a, b)


class BackwardSGD:
    """The optimizer's own SGD update, one parameter at a time, from a post-accumulate-grad hook on each parameter."""

    def __init__(self, optimizer: torch.optim.SGD) -> None:
        self.optimizer = optimizer
        self.handles = [p.register_post_accumulate_grad_hook(self._make_hook(index))
                        for index, group in enumerate(optimizer.param_groups) for p in group["params"]]
        # LR schedulers warn when they step before the optimizer ever has; here its updates run in backward, so mark
        # it stepped with a step that has no gradient to apply (a no-op; public API on every torch version)
        optimizer.zero_grad(set_to_none=True)
        optimizer.step()

    @property
    def active(self) -> bool:
        return bool(self.handles)

    def _make_hook(self, index: int):
        opt = self.optimizer

        @torch.no_grad()
        def update(p: torch.Tensor) -> None:
            # the group and the state are looked up at each call: load_state_dict replaces both dicts
            group = opt.param_groups[index]
            if group.get("fused"):
                _fused_update(p, group, opt.state)
            else:
                _single_tensor_update(p, group, opt.state)
            p.grad = None  # used: free it now (and the next backward starts from None, as after zero_grad)

        return update

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def _single_tensor_update(p: torch.Tensor, group: dict, state: dict) -> None:
    """torch/optim/sgd.py _single_tensor_sgd for one parameter, op for op. state: the optimizer's {param: dict}; an
    entry is made only for a momentum buffer, as torch.optim.SGD does."""
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


def _fused_update(p: torch.Tensor, group: dict, state: dict) -> None:
    """torch/optim/sgd.py _fused_sgd for one parameter: the same kernel, so the same numbers as SGD(fused=True)."""
    momentum = group["momentum"]
    buffers: list[torch.Tensor] = []
    first = False
    if momentum != 0:
        buf = state[p].get("momentum_buffer")
        if buf is None:  # the kernel fills a new buffer on the first step
            buf, first = state[p].setdefault("momentum_buffer", torch.empty_like(p.grad)), True
        buffers = [buf]
    torch._fused_sgd_([p], [p.grad], buffers, weight_decay=group["weight_decay"], momentum=momentum, lr=group["lr"],
                      dampening=group["dampening"], nesterov=group["nesterov"], maximize=group["maximize"],
                      is_first_step=first)
