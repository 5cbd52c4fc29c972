import math

import pytest
import torch

from digitlab.config import OptimConfig, ScheduleConfig
from digitlab.errors import ConfigError
from digitlab.training.optim import OPTIMIZERS, lr_multiplier, make_optimizer, make_scheduler


def run(opt_factory, steps=5):
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    opt = opt_factory([p])
    for i in range(steps):
        opt.zero_grad()
        ((p - i) ** 2).sum().backward()
        opt.step()
    return p.detach().clone()


@pytest.mark.parametrize("cfg,ref", [
    (OptimConfig(name="sgd", lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True),
     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
    (OptimConfig(name="adam", lr=0.01, beta1=0.8), lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.999))),
    (OptimConfig(name="adamw", lr=0.01, weight_decay=0.1), lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    (OptimConfig(name="adadelta", lr=1.0), lambda ps: torch.optim.Adadelta(ps, lr=1.0)),
])
def test_optimizers_match_torch(cfg, ref):
    assert torch.allclose(run(lambda ps: make_optimizer(ps, cfg)), run(ref))


def test_momentum_is_mindspore_semantics():
    """MindSpore nn.Momentum: accum = m * accum + grad; p -= lr * accum."""
    lr, m = 0.05, 0.9
    torch.manual_seed(0)
    p = torch.randn(5)
    accum = torch.zeros(5)
    for i in range(5):
        grad = 2 * (p - i)
        accum = m * accum + grad
        p = p - lr * accum
    ours = run(lambda ps: make_optimizer(ps, OptimConfig(name="momentum", lr=lr, momentum=m)))
    assert torch.allclose(ours, p, atol=1e-6)


def test_every_optimizer_builds():
    for name in OPTIMIZERS:
        make_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name=name))


def test_bad_optimizer():
    with pytest.raises(ConfigError):
        make_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name="lion"))
    with pytest.raises(ConfigError, match="nesterov"):
        make_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name="sgd", nesterov=True))


def test_step_schedule_matches_steplr():
    per_epoch = 10
    mult = lr_multiplier(ScheduleConfig(name="step", step_size=1, gamma=0.7), 50, per_epoch)
    assert [round(mult(e * per_epoch + 3), 6) for e in range(4)] == [1.0, 0.7, 0.49, 0.343]


def test_cosine_onecycle_linear_warmup():
    cos = lr_multiplier(ScheduleConfig(name="cosine"), 100, 10)
    assert cos(0) == 1.0 and abs(cos(50) - 0.5) < 1e-9 and abs(cos(100)) < 1e-9
    one = lr_multiplier(ScheduleConfig(name="onecycle", pct_start=0.2), 100, 10)
    assert one(0) == pytest.approx(0.05) and one(19) == pytest.approx(1.0) and one(100) == pytest.approx(0.0)
    lin = lr_multiplier(ScheduleConfig(name="linear", min_lr_ratio=0.1), 100, 10)
    assert lin(0) == 1.0 and lin(100) == pytest.approx(0.1)
    warm = lr_multiplier(ScheduleConfig(name="constant", warmup_steps=10), 100, 10)
    assert warm(0) == pytest.approx(0.1) and warm(9) == 1.0 and warm(50) == 1.0


def test_scheduler_drives_optimizer_lr():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = make_optimizer([p], OptimConfig(lr=0.5))
    sched = make_scheduler(opt, ScheduleConfig(name="cosine"), total_steps=10, steps_per_epoch=5)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_fused_kernel_where_torch_has_one_else_the_default():
    from digitlab.training.optim import fused

    params = list(torch.nn.Linear(3, 2).parameters())
    opt = make_optimizer(params, OptimConfig(name="adam", lr=0.1))
    try:
        torch.optim.Adam(params, lr=0.1, fused=True)
        has_fused = True
    except (RuntimeError, TypeError, ValueError):
        has_fused = False
    assert bool(opt.defaults.get("fused")) is has_fused

    class NoFused(torch.optim.SGD):  # a build without a fused kernel for this device
        def __init__(self, params, fused=None, **kwargs):
            if fused:
                raise RuntimeError("fused=True requires all the params to be on a supported device")
            super().__init__(params, **kwargs)

    opt = fused(NoFused, iter(params), lr=0.1)  # a one-shot iterator still reaches the fallback
    assert isinstance(opt, NoFused) and len(opt.param_groups[0]["params"]) == 2
