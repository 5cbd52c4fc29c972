"""SGD inside backward: the same weights and optimizer state as torch.optim.SGD, and only where it applies."""

import json
import warnings

import pytest
import torch

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.distributed import Dist
from digitlab.models import get_model
from digitlab.training.engine import resume, train
from digitlab.training.inbackward import BackwardSGD, why_not
from digitlab.training.optim import make_optimizer

SETTINGS = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
    {"lr": 0.05, "momentum": 0.5, "dampening": 0.1},
    {"lr": 0.05, "momentum": 0.9, "maximize": True},
]


def trained(model_name: str, settings: dict, in_backward: bool, steps: int = 12):
    """`steps` SGD steps on fixed random batches under a decaying LambdaLR; the weights and the optimizer state."""
    torch.manual_seed(0)
    model = get_model(model_name)
    opt = torch.optim.SGD(model.parameters(), foreach=False, **settings)  # torch's single-tensor path: the reference
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    hooks = BackwardSGD(opt) if in_backward else None
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 1, 28, 28, generator=gen) if model_name == "mlp" else torch.randn(16, 1, 32, 32, generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 10, (16,), generator=gen))
        if hooks:
            loss.backward()
        else:
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return [p.detach().clone() for p in model.parameters()], opt.state_dict(), model


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("model_name", ["mlp", "lenet5"])
def test_same_weights_and_state_as_torch_sgd_bit_for_bit(model_name, settings):
    ref_weights, ref_state, _ = trained(model_name, settings, in_backward=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" warning either
        weights, state, model = trained(model_name, settings, in_backward=True)
    assert all(torch.equal(a, b) for a, b in zip(ref_weights, weights))
    assert state["param_groups"] == ref_state["param_groups"]
    assert state["state"].keys() == ref_state["state"].keys()
    for k, v in ref_state["state"].items():
        assert torch.equal(v["momentum_buffer"], state["state"][k]["momentum_buffer"])
    assert all(p.grad is None for p in model.parameters())  # each gradient freed once used


def test_remove_takes_the_hooks_off():
    model = get_model("mlp")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hooks = BackwardSGD(opt)
    hooks.remove()
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))  # no update
    assert all(p.grad is not None for p in model.parameters())


def config_with(*overrides: str) -> Config:
    return cfgmod.with_overrides(Config(recipe="test"), list(overrides))


@pytest.mark.parametrize("overrides,device,ddp,reason", [
    ((), "cpu", Dist(), None),
    (("optim.name=momentum",), "cpu", Dist(), None),
    (("train.update_in_backward=false",), "cpu", Dist(), "is off"),
    (("optim.name=adam",), "cpu", Dist(), "Adam steps after backward"),
    (("optim.grad_clip=1.0",), "cpu", Dist(), "clipping"),
    ((), "cpu", Dist(rank=0, world_size=2), "DDP"),
    (("train.compile=true",), "cpu", Dist(), "compile"),
    ((), "cuda", Dist(), "fused optimizer kernel"),
])
def test_where_it_applies(overrides, device, ddp, reason):
    config = config_with(*overrides)
    opt = make_optimizer(get_model("mlp").parameters(), config.optim)
    got = why_not(opt, config, torch.device(device), ddp)
    assert got is None if reason is None else reason in got


def test_a_run_says_how_it_updated_and_resumes_exactly(idx_dir, tmp_path):
    base = ["data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.batch_size=32",
            "data.limit=256", "optim.momentum=0.9", "train.epochs=2"]
    summary = train(config_with(*base), run_dir=tmp_path / "hooks")
    assert summary["update"] == "in backward"
    off = train(config_with(*base, "train.update_in_backward=false"), run_dir=tmp_path / "after")
    assert off["update"] == "after backward" and "is off" in off["update_reason"]
    # momentum buffers go through the resume checkpoint: one epoch + resume + one epoch = two straight
    train(config_with(*base, "train.max_steps=11"), run_dir=tmp_path / "split")
    resumed = resume(tmp_path / "split")
    assert resumed["final_test_acc"] == summary["final_test_acc"]
    from safetensors.torch import load_file

    a = load_file(tmp_path / "hooks" / "checkpoints" / "last.safetensors")
    b = load_file(tmp_path / "split" / "checkpoints" / "last.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "hooks" / "summary.json").read_text())["update"] == "in backward"
