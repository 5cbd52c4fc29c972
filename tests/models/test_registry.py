import pytest
import torch

from digitlab.errors import ConfigError
from digitlab.models import count_parameters, get_model, list_models, model_spec, register_model

EXPECTED_PARAMS = {  # the architectures as their sources define them
    "mlp": 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10,
    "mlp-deep": 784 * 512 + 512 + 512 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 128 + 128 + 128 * 10 + 10,
    "mlp-256": 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10,
    "mlp-5": 784 * 512 + 512 + 512 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10,
    "lenet5": 6 * 25 + 16 * 6 * 25 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10,
    "cnn-small": 10 * 25 + 10 + 20 * 10 * 25 + 20 + 320 * 10 + 10,
    "cnn-pt": 32 * 9 + 32 + 64 * 32 * 9 + 64 + 9216 * 128 + 128 + 128 * 10 + 10,
}


@pytest.mark.parametrize("name", list_models())
def test_model_contract(name):
    """Output shape, every parameter gets a gradient, no NaN."""
    spec = model_spec(name)
    torch.manual_seed(0)
    model = get_model(name)
    model.train()
    x = torch.randn(4, 1, spec.input_size, spec.input_size)
    out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    if spec.output == "log_probs":
        assert torch.allclose(out.exp().sum(1), torch.ones(4), atol=1e-5)
    out.float().logsumexp(1).sum().backward() if spec.output == "logits" else (-out[:, 0]).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: {pname} gradient is all zero"


@pytest.mark.parametrize("name", list_models())
def test_num_classes(name):
    spec = model_spec(name)
    out = get_model(name, num_classes=7).eval()(torch.zeros(2, 1, spec.input_size, spec.input_size))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("name,params", EXPECTED_PARAMS.items())
def test_parameter_counts(name, params):
    assert count_parameters(get_model(name)) == params


def test_lenet_init_follows_mindspore():
    model = get_model("lenet5")
    assert model.conv1.bias is None and model.conv2.bias is None
    assert abs(model.fc1.weight.std().item() - 0.02) < 0.002 and model.fc1.bias.abs().sum() == 0


def test_mlp_names_match_mindspore_quickstart():
    names = set(get_model("mlp").state_dict())
    assert names == {f"dense_relu_sequential.{i}.{k}" for i in (0, 2, 4) for k in ("weight", "bias")}


def test_duplicate_registration_raises():
    list_models()
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp", source="x", description="x")(lambda num_classes=10: None)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        get_model("resnet")
