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
    (user_nets.WRONG_OUTPUT, ["forward returns (8, 5)", "it must return (8, 10)"]),
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
    assert [r["run"] for r in client.get("/api/runs").json()["runs"]] == ["mine"]
    refused = client.post("/api/predict?run=mine", content=body)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "has not been trusted" in detail and "my_net.py:Network" in detail and str(tmp_path) not in detail
    assert runner.invoke(app, ["trust", str(root / "mine")]).exit_code == 0
    served = client.post("/api/predict?run=mine", content=body)
    assert served.status_code == 200 and served.json()["run"] == "mine"


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
