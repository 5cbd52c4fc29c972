"""Your own network, unit by unit: reading the file, its arguments, its errors (one line naming the user's line),
what it declares, the trust list, and the architecture settings of the built-in families."""

from __future__ import annotations

import pytest
import torch

from digitlab import config as cfgmod
from digitlab.config import Config, ModelConfig
from digitlab.errors import CheckpointError, ConfigError
from digitlab.models import build, get_model, list_models, model_spec, trust, user
from tests.models import user_nets


@pytest.fixture()
def net_file(tmp_path):
    def write(text: str, name: str = "my_net.py"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(autouse=True)
def fresh_user_modules(monkeypatch):
    """Each test executes its user files afresh (the process-wide cache is keyed by content)."""
    monkeypatch.setattr(user, "_LOADED", {})
    monkeypatch.setattr(user, "_OBJECT_CODES", {})
    monkeypatch.setattr(user, "_NAMED", set())


def code_of(path, attr="Network", **args):
    return user.read_code(f"{path}:{attr}", args)


def test_class_with_arguments_builds_and_records_its_file(net_file):
    path = net_file(user_nets.CLASS)
    code = code_of(path, hidden=20)
    assert code.text == path.read_text() and len(code.sha256) == 64 and code.args == {"hidden": 20}
    model = user.instantiate(code, 10)
    assert model.dense_relu_sequential[0].out_features == 20
    assert build.traits(ModelConfig(name=code.ref), code) == build.ModelTraits(28, "logits", True)


def test_factory_function_and_its_declared_input_size(net_file):
    code = code_of(net_file(user_nets.FACTORY), "make_net", width=8)
    model = user.instantiate(code, 3)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 3)
    assert build.traits(ModelConfig(name=code.ref), code).input_size == 32
    assert build.traits(ModelConfig(name=code.ref, input_size=40), code).input_size == 40  # the setting wins


def test_module_reference_is_found_on_the_path(net_file, tmp_path, monkeypatch):
    pkg = tmp_path / "mynets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mlp.py").write_text(user_nets.CLASS)
    monkeypatch.syspath_prepend(str(tmp_path))
    code = user.read_code("mynets.mlp:Network", {})
    assert code.package == "mynets" and code.file.endswith("mlp.py")
    assert user.instantiate(code, 10).dense_relu_sequential[-1].out_features == 10


@pytest.mark.parametrize("args, message", [
    ({"hiden": 3}, "takes no argument 'hiden'; it takes: num_classes=10, hidden=32"),
    ({"num_classes": 3}, "model.args.num_classes"),
])
def test_arguments_checked_against_the_signature(net_file, args, message):
    code = code_of(net_file(user_nets.CLASS), **args)
    with pytest.raises(ConfigError, match=message):
        user.instantiate(code, 10)


def test_missing_required_argument_names_it(net_file):
    code = code_of(net_file(user_nets.CLASS.replace("num_classes=10, hidden=32", "hidden, num_classes=10")))
    with pytest.raises(ConfigError, match="needs argument 'hidden': set it with --set model.args.hidden=VALUE"):
        user.instantiate(code, 10)


@pytest.mark.parametrize("text, message", [
    (user_nets.SYNTAX_ERROR, r"my_net\.py:13: SyntaxError while loading the file"),
    (user_nets.IMPORT_ERROR, r"my_net\.py:1 in <module>: ModuleNotFoundError while loading the file: "
                             r"No module named 'no_such_module_for_digitlab_tests'"),
    (user_nets.MINDSPORE, r"my_net\.py imports mindspore: .*nn\.Cell -> nn\.Module, construct -> forward.*"
                          r"docs/own-network\.md"),
    (user_nets.NO_PARAMETERS, "the model has no parameters"),
])
def test_broken_files_are_one_line_naming_the_file(net_file, text, message):
    code = code_of(net_file(text))
    with pytest.raises(ConfigError, match=message) as info:
        user.instantiate(code, 10)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    (user_nets.SHAPE_BUG, r"my_net\.py:9 in forward: RuntimeError while running a batch of shape \(4, 1, 28, 28\)"),
    (user_nets.WRONG_OUTPUT, r"forward returns \(4, 5\) for a batch of 4 images; it must return \(4, 10\)"),
    (user_nets.NAN_OUTPUT, "forward returns NaN or inf on the first batch"),
])
def test_first_batch_problems_are_one_line(net_file, text, message):
    code = code_of(net_file(text))
    model = user.instantiate(code, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError, match=message) as info:
        user.check_forward(model, torch.randn(4, 1, 28, 28), 10, code)
    assert "\n" not in str(info.value) and "digitlab/" not in str(info.value)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_no_such_class_lists_the_modules_there(net_file):
    with pytest.raises(ConfigError, match="defines no class or function 'Net'; its nn.Module classes: Network"):
        user.instantiate(code_of(net_file(user_nets.CLASS), "Net"), 10)


@pytest.mark.parametrize("ref, message", [("nope.py:Net", "is not a file"), ("my_net.py", "write FILE.py:Name"),
                                          ("no_such_pkg_xyz.mod:Net", "cannot find module|no Python module")])
def test_bad_references(ref, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        build.source_code(ModelConfig(name=ref))


def test_a_file_no_program_could_be_is_refused_before_it_is_read(tmp_path):
    """Through io.read_limited: a 20 GB (sparse) file is not read into memory; bytes that are not UTF-8 say so."""
    big = tmp_path / "big.py"
    with open(big, "wb") as fh:
        fh.truncate(20 << 30)
    with pytest.raises(ConfigError, match=r"--model .*big.py:Net: .*over the 16 MB limit"):
        build.source_code(ModelConfig(name=f"{big}:Net"))
    latin = tmp_path / "latin.py"
    latin.write_bytes("# caf\xe9\nclass Net: pass\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text; save your Python file as UTF-8"):
        build.source_code(ModelConfig(name=f"{latin}:Net"))


def test_recorded_code_is_checked_against_its_sha256(net_file):
    from digitlab.contract import UserCode

    raw = code_of(net_file(user_nets.CLASS)).to_json()
    assert UserCode.from_json(raw, "x") == UserCode.from_json(raw, "x")
    with pytest.raises(CheckpointError, match="does not match its sha256"):
        UserCode.from_json({**raw, "text": raw["text"] + "\nimport os\n"}, "ckpt.safetensors")


def test_recorded_code_never_runs_untrusted_whatever_the_path(net_file, tmp_path):
    marker = tmp_path / "ran"
    code = code_of(net_file(user_nets.writes_a_file(marker)))
    user._NAMED.clear()  # as in another process: this code now comes from a checkpoint, not a file the user named
    with pytest.raises(trust.UntrustedCodeError):
        user.load_callable(code)
    with pytest.raises(trust.UntrustedCodeError):
        build.traits(ModelConfig(name=code.ref), code)
    assert not marker.exists()
    with trust.allowing(True):
        user.instantiate(code, 10)
    assert marker.exists()


def test_trust_list_add_remove_and_the_one_command_switch(net_file):
    code = code_of(net_file(user_nets.CLASS))
    assert not trust.is_trusted(code)
    with pytest.raises(trust.UntrustedCodeError, match=f"my_net.py:Network, sha256 {code.sha256[:16]}"):
        trust.require(code, "ckpt.safetensors")
    with trust.allowing(True):
        trust.require(code, "ckpt")
    assert not trust.is_trusted(code)  # only for that block
    assert trust.add(code, "trusted") and not trust.add(code, "trusted")
    assert trust.is_trusted(code) and trust.trusted_list()[code.sha256]["ref"] == code.ref
    assert trust.remove(code.sha256) and not trust.is_trusted(code)


def test_a_class_from_the_callers_session_is_recorded_with_its_file():
    from digitlab.models.mlp import DenseReluNet  # any class in an importable file

    code = user.code_for_object(DenseReluNet, {"widths": [784, 10]})
    assert code.file.endswith("mlp.py") and code.attr == "DenseReluNet" and code.text and not code.missing


def test_a_class_without_a_source_file_trains_here_and_says_why_not_elsewhere():
    namespace: dict = {}
    exec("import torch.nn as nn\nclass Typed(nn.Module):\n    def __init__(self, num_classes=10):\n"
         "        super().__init__(); self.fc = nn.Linear(784, num_classes)\n"
         "    def forward(self, x): return self.fc(x.flatten(1))\n", namespace)
    code = user.code_for_object(namespace["Typed"], {})
    assert not code.text and "cannot rebuild it" in code.missing and "export" in code.missing
    assert user.instantiate(code, 10)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)  # in this process it works


# ------------------------------------------------------------------------------------------- architecture settings
@pytest.mark.parametrize("name", list_models())
def test_default_settings_give_the_registered_network_exactly(name):
    spec = model_spec(name)
    explicit = ModelConfig(name=name, **{s.key: s.default for s in spec.settings})
    a = get_model(name).state_dict()
    b = build.build(explicit, 10, None).state_dict()
    assert [(k, v.shape) for k, v in a.items()] == [(k, v.shape) for k, v in b.items()]


@pytest.mark.parametrize("name, sets, shapes", [
    ("mlp", ["model.hidden=[512,1024,512,128]"], "mlp-deep"),
    ("mlp", ["model.hidden=[512,256]"], "mlp-256"),
    ("lenet5", ["model.channels=[8,16]", "model.hidden=[64,32]"], {"conv1.weight": (8, 1, 5, 5), "fc1.weight": (64, 400)}),
    ("cnn-fast", ["model.channels=[16,64]", "model.hidden=[256]"], "cnn-wide"),
    ("cnn-small", ["model.channels=[4,8]"], {"fc.weight": (10, 128)}),
    ("cnn-pt", ["model.channels=[8,16]", "model.hidden=[32]"], {"fc1.weight": (32, 16 * 144)}),
    ("mlp-5", ["model.hidden=[64,32]"], {"l3.weight": (10, 32)}),
    ("lstm", ["model.hidden=[64]", "model.layers=2"], {"rnn.weight_hh_l1": (256, 64), "fc.weight": (10, 64)}),
])
def test_architecture_settings(name, sets, shapes):
    cfg = cfgmod.with_overrides(Config(model=ModelConfig(name=name)), sets).model
    state = build.build(cfg, 10, None).state_dict()
    if isinstance(shapes, str):  # the same network as another registry entry
        assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in get_model(shapes).state_dict().items()}
    else:
        for key, shape in shapes.items():
            assert tuple(state[key].shape) == shape, key


@pytest.mark.parametrize("name, sets, message", [
    ("cnn-small", ["model.hidden=[8]"], "has no model.hidden setting; it takes model.channels"),
    ("lenet5", ["model.channels=[8]"], r"takes 2 width\(s\) \(default \[6, 16\]\)"),
    ("mlp", ["model.layers=2"], "has no model.layers setting"),
    ("mlp", ["model.args.hidden=3"], "model.args is for your own network"),
    ("mlp", ["model.hidden=[0]"], "model.hidden and model.channels take widths in 1..65536"),
])
def test_architecture_settings_refused_in_one_line(name, sets, message):
    from digitlab import check_config

    with pytest.raises(ConfigError, match=message):
        check_config(cfgmod.with_overrides(Config(model=ModelConfig(name=name)), sets))


def test_model_args_in_a_config_round_trip():
    cfg = cfgmod.with_overrides(Config(), ["model.args.hidden=64", "model.args.acts=['relu', 'gelu']",
                                          "model.args.p=0.5", "model.args.bn=true"])
    assert cfg.model.args == {"hidden": 64, "acts": ["relu", "gelu"], "p": 0.5, "bn": True}
    assert cfgmod.from_dict(cfgmod.tomllib.loads(cfgmod.dumps(cfg))) == cfg
    with pytest.raises(ConfigError, match="model.args"):
        cfgmod.with_overrides(Config(), ["model.args.x=nan"])


def test_a_checkpoint_written_before_architecture_settings_still_loads(tmp_path):
    """0.1.0-era metadata: a config without model.args / hidden / channels / layers / input_size."""
    from digitlab import config as cfg
    from digitlab.checkpoint import save_weights
    from digitlab.inference import load_model
    from tests.helpers import make_info

    info = make_info("lenet5")
    raw = info.to_json()
    for key in ("args", "input_size", "hidden", "channels", "layers"):
        del raw["config"]["model"][key]
    old = type(info).from_json(raw, "old")
    assert old.config.model == cfg.ModelConfig(name="lenet5")
    save_weights(tmp_path / "old.safetensors", get_model("lenet5"), old)
    model, ckpt = load_model(tmp_path / "old.safetensors")
    assert ckpt.info.code is None and sum(p.numel() for p in model.parameters()) == 61684  # no conv biases, as MindSpore


def test_sweep_choices_of_architectures():
    from digitlab.sweep.params import check_params, parse_param

    hidden = parse_param("model.hidden=[512]|[512,512]|[512,1024,512,128]")
    assert hidden.choices == ("[512]", "[512,512]", "[512,1024,512,128]")
    check_params(Config(), (hidden,))
    assert parse_param("model.args.hidden=64,256").choices == (64, 256)
    assert parse_param("model.args.p=float:0.1:0.5").kind == "float"
    with pytest.raises(ConfigError, match="is refused"):
        check_params(Config(model=ModelConfig(name="cnn-small")), (hidden,))
