"""SGD inside backward: the same weights and optimizer state as torch.optim.SGD, and only where it applies."""

import json
import warnings

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.distributed import Dist
from digitlab.errors import ConfigError
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


def trained(model_name: str, settings: dict, implementation: str, in_backward: bool, steps: int = 12):
    """`steps` SGD steps on fixed random batches under a decaying LambdaLR; the weights and the optimizer state."""
    torch.manual_seed(0)
    model = get_model(model_name)
    # torch's single-tensor path (a tutorial's torch.optim.SGD on a CPU), or its fused kernel (what digitlab builds)
    kind = {"foreach": False} if implementation == "single" else {"fused": True}
    opt = torch.optim.SGD(model.parameters(), **kind, **settings)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    hooks = BackwardSGD(opt) if in_backward else None
    gen = torch.Generator().manual_seed(1)
    size = 28 if model_name == "mlp" else 32
    for _ in range(steps):
        x = torch.randn(16, 1, size, size, generator=gen)
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
@pytest.mark.parametrize("implementation", ["single", "fused"])
@pytest.mark.parametrize("model_name", ["mlp", "lenet5"])
def test_same_weights_and_state_as_the_optimizer_bit_for_bit(model_name, implementation, settings):
    ref_weights, ref_state, _ = trained(model_name, settings, implementation, in_backward=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" warning either
        weights, state, model = trained(model_name, settings, implementation, in_backward=True)
    assert all(torch.equal(a, b) for a, b in zip(ref_weights, weights))
    assert state["param_groups"] == ref_state["param_groups"]
    assert state["state"].keys() == ref_state["state"].keys()
    for k, v in ref_state["state"].items():
        assert torch.equal(v["momentum_buffer"], state["state"][k]["momentum_buffer"])
    assert all(p.grad is None for p in model.parameters())  # each gradient freed once used
    assert not all(torch.equal(a, b) for a, b in zip(weights, trained(model_name, settings, implementation, True, 0)[0]))


def test_state_loaded_after_the_hooks_are_on_is_the_state_they_use():
    torch.manual_seed(0)
    model = get_model("mlp")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    hooks = BackwardSGD(opt)
    saved = {"state": {i: {"momentum_buffer": torch.full_like(p, 0.5)} for i, p in enumerate(model.parameters())},
             "param_groups": [{**opt.state_dict()["param_groups"][0], "lr": 0.01}]}
    opt.load_state_dict(saved)  # replaces opt.state and the group dicts
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    for b, p in zip(before, model.parameters()):
        buf = opt.state[p]["momentum_buffer"]
        assert not torch.equal(buf, torch.full_like(p, 0.5))  # the loaded buffer was updated, not a stale one
        torch.testing.assert_close(p.detach(), b - 0.01 * buf)  # with the loaded lr
    hooks.remove()


def test_remove_takes_the_hooks_off():
    model = get_model("mlp")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hooks = BackwardSGD(opt)
    assert hooks.active
    hooks.remove()
    assert not hooks.active
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))  # no update
    assert all(p.grad is not None for p in model.parameters())


def config_with(*overrides: str) -> Config:
    return cfgmod.with_overrides(Config(recipe="test"), list(overrides))


ON = "train.update_in_backward=true"  # opt-in since the plain step became the default


@pytest.mark.parametrize("overrides,device,ddp,reason", [
    ((ON,), "cpu", Dist(), None),
    ((ON, "optim.name=momentum"), "cpu", Dist(), None),
    ((), "cpu", Dist(), "is off"),
    (("train.update_in_backward=false",), "cpu", Dist(), "is off"),
    ((ON, "optim.name=adam"), "cpu", Dist(), "Adam steps after backward"),
    ((ON, "optim.grad_clip=1.0"), "cpu", Dist(), "clipping"),
    ((ON,), "cpu", Dist(rank=0, world_size=2), "DDP"),
    ((ON, "train.compile=true"), "cpu", Dist(), "compile"),
    ((ON,), "cuda", Dist(), "fused optimizer kernel"),
])
def test_where_it_applies(overrides, device, ddp, reason):
    config = config_with(*overrides)
    opt = make_optimizer(get_model("mlp").parameters(), config.optim)
    got = why_not(opt, config, torch.device(device), ddp)
    assert got is None if reason is None else reason in got


def test_a_run_says_how_it_updated_and_gives_the_same_weights_either_way(idx_dir, tmp_path):
    base = ["data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.batch_size=32",
            "data.limit=256", "optim.momentum=0.9", "train.epochs=2", ON]
    summary = train(config_with(*base), run_dir=tmp_path / "hooks")
    assert summary["update"] == "in backward"
    assert json.loads((tmp_path / "hooks" / "summary.json").read_text())["update"] == "in backward"
    off = train(config_with(*base, "train.update_in_backward=false"), run_dir=tmp_path / "after")
    assert off["update"] == "after backward" and "is off" in off["update_reason"]
    hooks, after = last_weights(tmp_path / "hooks"), last_weights(tmp_path / "after")
    assert hooks.keys() == after.keys() and all(torch.equal(hooks[k], after[k]) for k in hooks)
    torch.manual_seed(0)
    init = get_model("mlp").state_dict()  # the run's initial weights (seed 0): training moved every one
    assert init.keys() == hooks.keys() and not any(torch.equal(hooks[k], init[k]) for k in init)
    # momentum buffers go through the resume checkpoint: stop at step 11 + resume = the straight run
    train(config_with(*base, "train.max_steps=11"), run_dir=tmp_path / "split")
    resumed = resume(tmp_path / "split")
    assert resumed["final_test_acc"] == summary["final_test_acc"]
    split = last_weights(tmp_path / "split")
    assert all(torch.equal(hooks[k], split[k]) for k in hooks)


def test_a_run_from_before_the_setting_existed_resumes(idx_dir, tmp_path):
    base = ["data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.batch_size=32",
            "data.limit=256", "train.epochs=2", "train.max_steps=5"]
    train(config_with(*base), run_dir=tmp_path / "old")
    # make it look written before train.update_in_backward existed: absent from config.toml and from the checkpoint
    toml = tmp_path / "old" / "config.toml"
    toml.write_text("\n".join(line for line in toml.read_text().splitlines() if "update_in_backward" not in line))
    ckpt = tmp_path / "old" / "checkpoints" / "resume.safetensors"
    with safe_open(str(ckpt), framework="pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    info = json.loads(meta["digitlab"])
    del info["config"]["train"]["update_in_backward"]
    save_file(tensors, str(ckpt), metadata={**meta, "digitlab": json.dumps(info)})
    summary = resume(tmp_path / "old", ["train.max_steps=0"])
    # the key absent reads as today's default: the plain update after backward (as runs before the key trained)
    assert summary["status"] == "finished" and summary["update"] == "after backward"


def last_weights(run_dir):
    return load_file(run_dir / "checkpoints" / "last.safetensors")


@pytest.mark.parametrize("overrides, device, ddp, message", [
    (("optim.name=adam",), "cpu", Dist(), "Adam steps after backward"),
    (("optim.grad_clip=1.0",), "cpu", Dist(), "clipping"),
    ((), "cpu", Dist(rank=0, world_size=2), "DDP"),
])
def test_an_opt_in_that_cannot_apply_is_refused(overrides, device, ddp, message):
    from digitlab.training.inbackward import check_opt_in

    check_opt_in(config_with(*overrides), torch.device(device), ddp)  # off (the default): nothing to refuse
    with pytest.raises(ConfigError, match=f"train.update_in_backward = true cannot apply here: .*{message}"):
        check_opt_in(config_with(ON, *overrides), torch.device(device), ddp)


def test_a_torch_whose_kernel_differs_is_refused(monkeypatch):
    from digitlab.training import inbackward

    check = inbackward.check_opt_in
    check(config_with(ON, "optim.momentum=0.9", "optim.nesterov=true"), torch.device("cpu"), Dist())  # this torch: ok
    inbackward._kernel_matches.cache_clear()
    monkeypatch.setattr(inbackward, "_fused_update", lambda p, group, state: p.add_(p.grad, alpha=-2 * group["lr"]))
    monkeypatch.setattr(inbackward, "_single_tensor_update", inbackward._fused_update)
    with pytest.raises(ConfigError, match="computes SGD's step differently"):
        check(config_with(ON), torch.device("cpu"), Dist())
    inbackward._kernel_matches.cache_clear()


def test_the_plain_step_is_the_default(idx_dir, tmp_path):
    summary = train(config_with("data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu",
                                "train.max_steps=3"), run_dir=tmp_path / "plain")
    assert summary["update"] == "after backward" and "is off" in summary["update_reason"]
