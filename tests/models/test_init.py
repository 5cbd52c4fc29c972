"""model.init: each scheme re-initialises every Linear/Conv weight, reproducibly; biases zeroed on request."""

import pytest
import torch
import torch.nn as nn

from digitlab import config as cfgmod
from digitlab.config import Config
from digitlab.errors import ConfigError
from digitlab.models import get_model
from digitlab.models.init import INITS, init_weights
from digitlab.training.setup import check_config


def layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def test_normal_has_the_asked_std_and_zero_bias():
    torch.manual_seed(0)
    model = init_weights(get_model("mlp-256"), "normal", std=0.01, bias="zero")
    first = layers(model)[0]
    assert abs(first.weight.std().item() - 0.01) < 0.001 and abs(first.weight.mean().item()) < 0.001
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers(model))


@pytest.mark.parametrize("scheme", [s for s in INITS if s != "default"])
def test_every_scheme_changes_weights_and_is_seeded(scheme):
    torch.manual_seed(1)
    plain = get_model("lenet5")
    torch.manual_seed(1)
    a = init_weights(get_model("lenet5"), scheme)
    torch.manual_seed(1)
    b = init_weights(get_model("lenet5"), scheme)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, p0) for pa, p0 in zip(a.parameters(), plain.parameters()))


def test_default_leaves_the_model_alone():
    torch.manual_seed(2)
    a = get_model("cnn-small")
    torch.manual_seed(2)
    b = init_weights(get_model("cnn-small"), "default")
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("override,match", [("model.init=orthogonal", "model.init 'orthogonal'"),
                                            ("model.init_bias=one", "model.init_bias 'one'"),
                                            ("model.init_std=0", "model.init_std must be positive")])
def test_bad_init_settings_are_refused(override, match):
    with pytest.raises(ConfigError, match=match):
        check_config(cfgmod.with_overrides(Config(), [override]))
