"""Your own network end to end: train from a file, then every command on the run (eval, predict, export, models show,
serve, resume, sweep, torchrun), the file moved or edited, and code in a checkpoint that never runs untrusted."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import digitlab
from digitlab import config as cfgmod
from digitlab.cli import app
from digitlab.config import Config
from digitlab.models import trust, user
from digitlab.training.engine import resume, train
from tests.helpers import synthetic_digits
from tests.models import user_nets

runner = CliRunner()


@pytest.fixture(autouse=True)
def fresh_user_modules(monkeypatch):
    monkeypatch.setattr(user, "_LOADED", {})
    monkeypatch.setattr(user, "_OBJECT_CODES", {})
    monkeypatch.setattr(user, "_NAMED", set())


def forget_user_code():
    """What a fresh process knows: no user module loaded, no file named by the user."""
    user._LOADED.clear()
    user._NAMED.clear()


def train_args(idx_dir, net, *extra, name="Network"):
    return ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu", "--epochs", "1",
            "--batch-size", "32", "--lr", "0.05", "--model", f"{net}:{name}", *extra]


def one_error_line(result, *needles):
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def digit_png(path, label=3):
    images, labels = synthetic_digits(50, seed=5)
    Image.fromarray(images[list(labels).index(label)]).save(path)
    return path


def test_train_and_every_command_on_the_run(idx_dir, tmp_path):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    run = tmp_path / "run"
    result = runner.invoke(app, train_args(idx_dir, net, "--set", "model.args.hidden=24", "--run-dir", str(run),
                                           "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["final_test_acc"] > 50 and summary["model"] == f"{net}:Network"
    assert summary["model_code"]["args"] == {"hidden": 24} and summary["model_code"]["name"] == "Network"
    assert summary["params"] == 784 * 24 + 24 + 24 * 10 + 10
    assert trust.trusted_list()[summary["model_code"]["sha256"]]["why"] == "trained"  # this user ran it

    ev = runner.invoke(app, ["eval", str(run), "--json", "--data-dir", str(idx_dir)])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout)["accuracy"] == pytest.approx(summary["best_test_acc"], abs=1e-6)
    shown = runner.invoke(app, ["models", "show", str(run), "--json"])
    assert shown.exit_code == 0, shown.output
    assert [p["name"] for p in json.loads(shown.stdout)["parameters"]][0] == "dense_relu_sequential.0.weight"
    png = digit_png(tmp_path / "three.png")
    pred = runner.invoke(app, ["predict", str(run), str(png), "--json"])
    assert pred.exit_code == 0 and json.loads(pred.stdout)[0]["file"].endswith("three.png"), pred.output
    onnx = runner.invoke(app, ["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
                               "--data-dir", str(idx_dir), "--check", "200", "--json"])
    assert onnx.exit_code == 0, onnx.output
    parity = json.loads(onnx.stdout)
    assert parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] < 1e-4

    # the file edited, then moved away: the recorded copy is used, and the change is named, never swapped in
    net.write_text(user_nets.CLASS.replace("nn.ReLU()", "nn.Tanh()"))
    edited = runner.invoke(app, ["eval", str(run), "--json", "--data-dir", str(idx_dir)])
    assert edited.exit_code == 0 and "has changed since this run was trained" in edited.stderr
    assert json.loads(edited.stdout)["accuracy"] == pytest.approx(summary["best_test_acc"], abs=1e-6)
    net.rename(tmp_path / "elsewhere.py")
    forget_user_code()
    moved = runner.invoke(app, ["eval", str(run), "--json", "--data-dir", str(idx_dir)])
    assert moved.exit_code == 0 and "is gone or unreadable" in moved.stderr, moved.output
    assert json.loads(moved.stdout)["accuracy"] == pytest.approx(summary["best_test_acc"], abs=1e-6)


def test_factory_with_its_own_input_size(idx_dir, tmp_path):
    net = tmp_path / "factory.py"
    net.write_text(user_nets.FACTORY)
    result = runner.invoke(app, train_args(idx_dir, net, "--max-steps", "3", "--run-dir", str(tmp_path / "r"),
                                           "--set", "model.args.width=8", name="make_net"))
    assert result.exit_code == 0, result.output
    model, ckpt = digitlab.load_model(tmp_path / "r")
    assert ckpt.info.preprocessing.input_size == 32 and ckpt.info.preprocessing.resize == 32
    assert model[1].out_features == 8


@pytest.mark.parametrize("text, needles", [
    (user_nets.SYNTAX_ERROR, ["my_net.py:13", "SyntaxError"]),
    (user_nets.IMPORT_ERROR, ["my_net.py:1", "No module named 'no_such_module_for_digitlab_tests'"]),
    (user_nets.MINDSPORE, ["imports mindspore", "docs/own-network.md"]),
    (user_nets.SHAPE_BUG, ["my_net.py:9 in forward", "RuntimeError"]),
    (user_nets.WRONG_OUTPUT, ["forward returns (32, 5)", "it must return (32, 10)"]),
    (user_nets.NO_PARAMETERS, ["no parameters"]),
    (user_nets.NAN_OUTPUT, ["NaN or inf on the first batch"]),
])
def test_a_broken_network_is_one_line_and_writes_nothing(idx_dir, tmp_path, text, needles, isolated_env):
    net = tmp_path / "my_net.py"
    net.write_text(text)
    result = runner.invoke(app, train_args(idx_dir, net, "--name", "broken"))
    one_error_line(result, *needles)
    assert not (isolated_env / "runs" / "broken").exists() and not trust.trusted_list()


def test_unknown_argument_refused_before_any_data_loads(tmp_path):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    result = runner.invoke(app, train_args(tmp_path / "no-data-here", net, "--set", "model.args.widht=3"))
    one_error_line(result, "takes no argument 'widht'", "it takes: num_classes=10, hidden=32")


def test_code_in_a_checkpoint_never_runs_untrusted(idx_dir, tmp_path, monkeypatch):
    marker = tmp_path / "ran.txt"
    net = tmp_path / "evil.py"
    net.write_text(user_nets.writes_a_file(marker))
    run = tmp_path / "run"
    assert runner.invoke(app, train_args(idx_dir, net, "--max-steps", "3", "--run-dir", str(run))).exit_code == 0
    marker.unlink()
    # somebody else's machine: another trust list, a fresh process
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-user"))
    forget_user_code()
    png = digit_png(tmp_path / "d.png")
    for args in (["eval", str(run), "--data-dir", str(idx_dir)], ["predict", str(run), str(png)],
                 ["export", str(run), "--format", "onnx", "--out", str(tmp_path / "x.onnx"), "--data-dir", str(idx_dir)],
                 ["models", "show", str(run)], ["train", "--resume", str(run), "--epochs", "2"]):
        line = one_error_line(runner.invoke(app, args), "evil.py:Network", "has not been trusted", "--trust-code")
        assert "sha256" in line, args
        assert not marker.exists(), args
    assert not (tmp_path / "x.onnx").exists()
    shown = runner.invoke(app, ["trust", str(run), "--show"])
    assert shown.exit_code == 0 and "write_text('ran')" in shown.stdout and not marker.exists()
    once = runner.invoke(app, ["eval", str(run), "--data-dir", str(idx_dir), "--trust-code"])
    assert once.exit_code == 0 and marker.exists(), once.output
    assert not trust.trusted_list()  # --trust-code trusted it for that command only
    assert runner.invoke(app, ["trust", str(run)]).exit_code == 0
    forget_user_code()
    assert runner.invoke(app, ["eval", str(run), "--data-dir", str(idx_dir)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["trust", "--list", "--json"]).stdout)
    assert [e["why"] for e in listed.values()] == ["trusted"]


def test_serve_refuses_untrusted_code_then_serves_it(idx_dir, tmp_path, monkeypatch):
    from digitlab.serve.app import create_app
    from tests.serve.conftest import local_client

    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    root = tmp_path / "runs"
    assert runner.invoke(app, train_args(idx_dir, net, "--max-steps", "3", "--run-dir", str(root / "mine"))).exit_code == 0
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-user"))
    forget_user_code()
    client = local_client(create_app(root))
    body = digit_png(tmp_path / "d.png").read_bytes()
    assert [(r["run"], r["trusted"]) for r in client.get("/api/runs").json()["runs"]] == [("mine", False)]
    refused = client.post("/api/predict?run=mine", content=body)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "has not been trusted" in detail and "my_net.py:Network" in detail and str(tmp_path) not in detail
    plain = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                "--max-steps", "1", "--run-dir", str(root / "plain")])
    assert plain.exit_code == 0, plain.output
    by_default = client.post("/api/predict", content=body)  # the default is never a run it would refuse
    assert by_default.status_code == 200 and by_default.json()["run"] == "plain"
    assert runner.invoke(app, ["trust", str(root / "mine")]).exit_code == 0
    served = client.post("/api/predict?run=mine", content=body)
    assert served.status_code == 200 and served.json()["run"] == "mine"
    assert {r["run"]: r["trusted"] for r in client.get("/api/runs").json()["runs"]} == {"mine": True, "plain": True}


def config_for(idx_dir, net, *extra):
    return cfgmod.with_overrides(Config(recipe="test"), [
        "data.dataset=idx", f"data.data_dir='{idx_dir}'", "train.device=cpu", "train.batch_size=32", "optim.lr=0.05",
        "optim.momentum=0.9", "train.epochs=2", "data.limit=256", f"model.name='{net}:Network'",
        "model.args.hidden=16", *extra])


def test_resume_of_a_user_network_is_bit_identical(idx_dir, tmp_path):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS.replace("nn.ReLU(),", "nn.ReLU(), nn.Dropout(0.2),"))  # dropout: RNG matters
    train(config_for(idx_dir, net), run_dir=tmp_path / "straight")
    part = train(config_for(idx_dir, net, "train.max_steps=11"), run_dir=tmp_path / "parts")
    assert part["status"] == "stopped"
    net.write_text(user_nets.CLASS)  # edited meanwhile: the resume keeps training the recorded network
    with pytest.warns(digitlab.errors.DigitlabNote, match="has changed since this run was trained"):
        assert resume(tmp_path / "parts")["status"] == "finished"
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "last.safetensors"))
    b = load_file(str(tmp_path / "parts" / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_python_api_takes_a_class(idx_dir, tmp_path):
    from tests.models import api_net

    base = cfgmod.with_overrides(config_for(idx_dir, tmp_path / "unused.py"), ["model.name=mlp"])
    summary = digitlab.train(cfgmod.with_values(base, {"train.epochs": 1}), model=api_net.TinyNet,
                             run_dir=tmp_path / "api")
    assert summary["model_code"]["file"] == api_net.__file__ and summary["model_code"]["name"] == "TinyNet"
    forget_user_code()
    model, ckpt = digitlab.load_model(tmp_path / "api")  # rebuilt from the recorded file, trusted when trained
    assert type(model).__name__ == "TinyNet" and ckpt.info.code.sha256 == summary["model_code"]["sha256"]


def test_a_class_typed_in_a_notebook_trains_and_its_checkpoint_says_why_it_cannot_rebuild(idx_dir, tmp_path):
    namespace: dict = {}
    exec(user_nets.CLASS, namespace)  # no file behind it, as in a notebook cell
    base = cfgmod.with_values(config_for(idx_dir, tmp_path / "unused.py"), {"train.epochs": 1})
    summary = digitlab.train(base, model=namespace["Network"], run_dir=tmp_path / "nb")
    assert summary["final_test_acc"] > 30 and "cannot rebuild it" in summary["model_code"]["missing"]
    forget_user_code()  # another process
    with pytest.raises(digitlab.DigitlabError, match="cannot rebuild it.*digitlab export RUN --format onnx"):
        digitlab.load_model(tmp_path / "nb")


def test_sweep_over_your_networks_arguments(idx_dir, tmp_path):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    result = runner.invoke(app, ["sweep", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                 "--epochs", "1", "--set", "data.limit=200", "--set", "data.val_size=40",
                                 "--set", f"model.name={net}:Network", "--param", "model.args.hidden=8|16",
                                 "--sampler", "grid", "--trials", "2", "--root", str(tmp_path), "--name", "s",
                                 "--json"])
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)["trials"]
    assert sorted(t["params"]["model.args.hidden"] for t in trials) == [8, 16]
    shape = load_file(str(tmp_path / "s" / "trial-001" / "checkpoints" / "last.safetensors"))
    assert shape["dense_relu_sequential.0.weight"].shape[0] in (8, 16)
    assert [e["why"] for e in trust.trusted_list().values()] == ["swept"]


def test_a_sweep_folder_from_elsewhere_runs_no_untrusted_file(idx_dir, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    net = tmp_path / "evil.py"
    net.write_text(user_nets.writes_a_file(marker))
    result = runner.invoke(app, ["sweep", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                 "--epochs", "1", "--set", "data.limit=100", "--set", "data.val_size=20",
                                 "--set", f"model.name={net}:Network", "--param", "optim.lr=0.01,0.02",
                                 "--sampler", "grid", "--trials", "1", "--root", str(tmp_path), "--name", "s"])
    assert result.exit_code == 0, result.output
    marker.unlink()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-user"))
    forget_user_code()
    resumed = runner.invoke(app, ["sweep", "--resume", str(tmp_path / "s"), "--trials", "2"])
    assert resumed.exit_code != 0 and "has not been trusted" in resumed.output, resumed.output
    assert not marker.exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_train_a_user_network_like_one(idx_dir, tmp_path):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--master-addr",
           "127.0.0.1", "--master-port", str(free_port()), "-m", "digitlab", "train", "--dataset", "idx",
           "--data-dir", str(idx_dir), "--device", "cpu", "--model", f"{net}:Network", "--set",
           "model.args.hidden=16", "--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--set",
           "optim.momentum=0.9", "--set", "data.limit=256", "--run-dir", str(tmp_path / "ddp"), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["world_size"] == 2
    train(config_for(idx_dir, net, "schedule.name=constant"), run_dir=tmp_path / "one")
    a = load_file(str(tmp_path / "ddp" / "checkpoints" / "last.safetensors"))
    b = load_file(str(tmp_path / "one" / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-5, rtol=1e-4), k


# ------------------------------------------------------------------------------------------- crafted run folders
def rewrite_all(run, change):
    """Rewrite the digitlab metadata of every checkpoint in a run through `change(info) -> info`."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for path in (run / "checkpoints").glob("*.safetensors"):
        with safe_open(str(path), "pt") as fh:
            meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        meta["digitlab"] = json.dumps(change(json.loads(meta["digitlab"])))
        save_file(tensors, str(path), metadata=meta)


def stopped_run(idx_dir, tmp_path, text, name="run"):
    net = tmp_path / f"{name}_net.py"
    net.write_text(text)
    run = tmp_path / name
    assert runner.invoke(app, train_args(idx_dir, net, "--max-steps", "3", "--run-dir", str(run))).exit_code == 0
    return net, run


def test_resume_never_runs_a_file_the_run_folder_names(idx_dir, tmp_path):
    _, run = stopped_run(idx_dir, tmp_path, user_nets.CLASS)
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(user_nets.writes_a_file(marker))

    def no_code(info):
        info.pop("code")
        info["model"] = info["config"]["model"]["name"] = f"{evil}:Network"
        return info

    rewrite_all(run, no_code)
    toml = run / "config.toml"
    toml.write_text(toml.read_text().replace(str(tmp_path / "run_net.py"), str(evil)))
    forget_user_code()
    result = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "2"])
    one_error_line(result, "records no code", "refusing to run a file a run folder names")
    assert not marker.exists()


def test_resume_after_the_file_moved_and_from_another_folder(idx_dir, tmp_path, monkeypatch):
    net, run = stopped_run(idx_dir, tmp_path, user_nets.CLASS)
    net.rename(tmp_path / "moved.py")
    monkeypatch.chdir(tmp_path / "run")
    forget_user_code()
    result = runner.invoke(app, ["train", "--resume", str(run), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "is gone or unreadable" in result.output


def test_a_recorded_folder_is_never_put_on_the_import_path(idx_dir, tmp_path):
    net = tmp_path / "mine" / "net.py"
    net.parent.mkdir()
    (net.parent / "blocks_dl_test.py").write_text("import torch.nn as nn\nACT = nn.ReLU\n")
    net.write_text(user_nets.CLASS.replace("import torch.nn as nn", "import torch.nn as nn\nfrom blocks_dl_test import ACT")
                   .replace("nn.ReLU()", "ACT()"))
    run = tmp_path / "run"
    assert runner.invoke(app, train_args(idx_dir, net, "--max-steps", "3", "--run-dir", str(run))).exit_code == 0
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    marker = tmp_path / "ran"
    (attacker / "blocks_dl_test.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nimport torch.nn as nn\n"
                                                "ACT = nn.Tanh\n")

    def moved(info):
        info["code"]["file"] = str(attacker / "net.py")
        return info

    rewrite_all(run, moved)
    forget_user_code()
    result = runner.invoke(app, ["eval", str(run), "--data-dir", str(idx_dir)])
    assert not marker.exists()  # trusted code, but the attacker's folder is not the one the trust list recorded
    assert result.exit_code != 0 and "No module named 'blocks_dl_test'" in result.stderr


def test_sibling_modules_of_two_runs_do_not_mix_in_one_process(idx_dir, tmp_path):
    runs_ = []
    for act in ("ReLU", "Tanh"):
        folder = tmp_path / act
        folder.mkdir()
        (folder / "blocks_mix.py").write_text(f"import torch.nn as nn\nACT = nn.{act}\n")
        net = folder / "net.py"
        net.write_text(user_nets.CLASS.replace("import torch.nn as nn", "import torch.nn as nn\nfrom blocks_mix import ACT")
                       .replace("nn.ReLU()", "ACT()"))
        run = tmp_path / f"run-{act}"
        assert runner.invoke(app, train_args(idx_dir, net, "--max-steps", "2", "--run-dir", str(run))).exit_code == 0
        runs_.append(run)
    forget_user_code()
    models = [digitlab.load_model(run)[0] for run in runs_]
    assert [type(m.dense_relu_sequential[1]).__name__ for m in models] == ["ReLU", "Tanh"]


def test_trust_show_escapes_what_would_hide_a_line(idx_dir, tmp_path):
    _, run = stopped_run(idx_dir, tmp_path, user_nets.CLASS.replace(
        "import torch.nn as nn", "import torch.nn as nn  # \x1b[2K\x1b[1G# the quick start's Network"))
    shown = runner.invoke(app, ["trust", str(run), "--show"])
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout and "\\x1b[2K" in shown.stdout


def test_a_damaged_trust_list_is_not_overwritten(tmp_path):
    from digitlab.contract import UserCode

    trust.trust_file().parent.mkdir(parents=True)
    trust.trust_file().write_text('{"abc": {"ref": "x"')  # cut short
    code = UserCode(ref="a.py:N", attr="N", file="", package="", text="x", sha256="0" * 64)
    with pytest.raises(digitlab.DigitlabError, match="the trust list is damaged"):
        trust.add(code, "trusted")
    assert trust.trust_file().read_text() == '{"abc": {"ref": "x"' and not trust.is_trusted(code)


def test_the_first_batch_is_of_the_runs_batch_size(idx_dir, tmp_path, isolated_env):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS.replace("return self.dense_relu_sequential(self.flatten(x))",
                                           "return self.dense_relu_sequential(x.reshape(8, -1))"))
    result = runner.invoke(app, train_args(idx_dir, net, "--name", "eight"))  # batch 32: fails on the first batch
    one_error_line(result, "my_net.py:14 in forward", "running a batch of shape (32, 1, 28, 28)")
    assert not (isolated_env / "runs" / "eight").exists() and not trust.trusted_list()


def test_nothing_is_trusted_when_the_run_folder_is_refused(idx_dir, tmp_path):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "something").write_text("mine")
    result = runner.invoke(app, train_args(idx_dir, net, "--run-dir", str(taken)))
    one_error_line(result, "folder exists and is not empty")
    assert not trust.trusted_list()


def test_a_class_edited_after_its_import_is_not_recorded_as_its_file(tmp_path, monkeypatch):
    import importlib
    import time

    (tmp_path / "edited_net_dl.py").write_text(user_nets.CLASS)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited_net_dl")
    time.sleep(1.1)  # a later mtime
    (tmp_path / "edited_net_dl.py").write_text(user_nets.CLASS.replace("hidden=32", "hidden=64"))
    code = user.code_for_object(module.Network, {})
    assert not code.text and "was edited after Network was imported" in code.missing


def test_a_class_from_a_package_rebuilds_with_its_relative_imports(idx_dir, tmp_path, monkeypatch):
    pkg = tmp_path / "dlpkg_rel"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text("import torch.nn as nn\nACT = nn.ReLU\n")
    relative = user_nets.CLASS.replace("import torch.nn as nn", "import torch.nn as nn\n\nfrom .blocks import ACT")
    (pkg / "nets.py").write_text(relative)
    monkeypatch.syspath_prepend(str(tmp_path))
    from dlpkg_rel import nets

    base = cfgmod.with_values(config_for(idx_dir, tmp_path / "unused.py"), {"train.epochs": 1, "train.max_steps": 2})
    digitlab.train(base, model=nets.Network, run_dir=tmp_path / "pkg")
    forget_user_code()
    model, ckpt = digitlab.load_model(tmp_path / "pkg")
    assert ckpt.info.code.package == "dlpkg_rel" and type(model).__name__ == "Network"


@pytest.mark.parametrize("setting, needle", [
    ("model.args.hidden=abc", "model.args.hidden: my_net.py:Network expects an int (default 32), got 'abc'"),
    ("model.hidden=[16]", "your own network takes its constructor's arguments as model.args.NAME"),
])
def test_a_newcomers_settings_mistakes_are_one_line(tmp_path, setting, needle):
    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    one_error_line(runner.invoke(app, train_args(tmp_path / "no-data", net, "--set", setting)), needle)
