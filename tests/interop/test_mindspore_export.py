"""`digitlab export --format mindspore` (interop/mindspore_export.py, interop/counterparts.py): the seeds' networks'
checkpoints written without MindSpore, read back bit for bit by import-mindspore."""

import json
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from digitlab.checkpoint import save_weights
from digitlab.cli import app
from digitlab.data.sources import DataFallbackWarning
from digitlab.errors import ConfigError
from digitlab.export import export_model
from digitlab.inference import load_model
from digitlab.interop.ckpt import _fields, _tensor_parts, read_ckpt
from digitlab.interop.counterparts import COUNTERPARTS, datapipe_lines
from digitlab.models import get_model, list_models
from tests.helpers import SHARED_MNIST, make_info

SHARED_MS = SHARED_MNIST.parent / "mindspore"
runner = CliRunner()
# seed 001's Network_new: Dense 784-512-1024-512-128-10 in dense_relu_sequential (ReLUs at the odd indices)
NETWORK_NEW = [(f"dense_relu_sequential.{2 * i}.{kind}", shape)
               for i, (a, b) in enumerate([(784, 512), (512, 1024), (1024, 512), (512, 128), (128, 10)])
               for kind, shape in (("weight", [b, a]), ("bias", [b]))]


def checkpoint(tmp_path, name, num_classes=10):
    torch.manual_seed(0)
    model = get_model(name, num_classes=num_classes).eval()
    info = make_info(name)
    if num_classes != 10:
        info = replace(info, num_classes=num_classes,
                       preprocessing=replace(info.preprocessing, classes=info.classes[:num_classes]))
    return save_weights(tmp_path / f"{name}.safetensors", model, info), model


def layout(data: bytes) -> list[tuple[str, list[int], str, int]]:
    """(tag, dims, type, content bytes) of every Value, in file order: the structure without the numbers."""
    rows = []
    for _, _, value in _fields(data):
        parts = dict((n, v) for n, _, v in _fields(value))
        dims, dtype, content = _tensor_parts(parts[2], parts[1].decode())
        rows.append((parts[1].decode(), dims, dtype, len(content)))
    return rows


@pytest.mark.parametrize("name", list(COUNTERPARTS))
def test_import_of_export_gives_bit_identical_weights(name, tmp_path, idx_dir):
    ckpt, model = checkpoint(tmp_path, name)
    out = tmp_path / "model.ckpt"
    result = runner.invoke(app, ["export", str(ckpt), "--format", "mindspore", "--out", str(out), "--data-dir",
                                 str(idx_dir), "--check", "40"])
    assert result.exit_code == 0, result.output
    assert "max |diff| 0.0e+00" in result.stdout and f"'s {COUNTERPARTS[name].cell}:" in result.stdout
    back = runner.invoke(app, ["import-mindspore", str(out), "--out", str(tmp_path / "run"), "--json"])
    assert back.exit_code == 0, back.output
    summary = json.loads(back.stdout)
    assert summary["model"] == name and summary["model_inferred"] and summary["unmapped"] == []
    loaded, _ = load_model(tmp_path / "run")
    own = model.state_dict()
    assert list(loaded.state_dict()) == list(own)
    for key, value in loaded.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, own[key]), key
    assert list(read_ckpt(out)) == list(own)  # the network's parameter order, as save_checkpoint writes it


@pytest.mark.parametrize("name", list(COUNTERPARTS))
def test_sidecar_says_how_the_seed_loads_and_feeds_it(name, tmp_path, idx_dir):
    ckpt, model = checkpoint(tmp_path, name)
    result = export_model(ckpt, "mindspore", tmp_path / "m.ckpt", n_check=20, data_dir=idx_dir)
    meta = json.loads((tmp_path / "m.ckpt.json").read_text())
    ms = meta["mindspore"]
    assert result["mindspore"] == ms and meta["format"] == "mindspore" and meta["checked"]["max_abs_diff"] == 0.0
    assert ms["cell"] == COUNTERPARTS[name].cell and ms["load"][0] == f"net = {ms['cell']}()"
    assert "mindspore.load_checkpoint('m.ckpt')" in ms["load"][1]
    assert [(p["name"], p["shape"]) for p in ms["parameters"]] == [
        (k, list(v.shape)) for k, v in model.state_dict().items()]
    image = ms["datapipe"]["image"]
    assert image[-1] == "vision.HWC2CHW()" and ms["datapipe"]["label"] == "transforms.TypeCast(mindspore.int32)"
    if name == "lenet5":  # seed 002: Resize to 32, Rescale 1/255, then a Rescale that normalizes
        assert image[:3] == ["vision.Resize((32, 32), interpolation=Inter.LINEAR)", "vision.Rescale(1.0 / 255.0, 0.0)",
                             "vision.Rescale(1 / 0.3, -1 * 0.1 / 0.3)"]  # make_info's mean 0.1, std 0.3
    else:  # seeds 000/001
        assert image[:2] == ["vision.Rescale(1.0 / 255.0, 0)", "vision.Normalize(mean=(0.1,), std=(0.3,))"]


def test_datapipe_lines_are_the_seeds_own_for_mnist():
    """With MNIST's statistics the lines are the seeds' (000's datapipe; 002's create_dataset, in vision.*)."""
    info = make_info("mlp", dataset="mnist", mean=0.1307, std=0.3081)
    assert datapipe_lines(COUNTERPARTS["mlp"], info.preprocessing) == [
        "vision.Rescale(1.0 / 255.0, 0)", "vision.Normalize(mean=(0.1307,), std=(0.3081,))", "vision.HWC2CHW()"]
    lenet = make_info("lenet5", dataset="mnist", mean=0.1307, std=0.3081).preprocessing
    assert datapipe_lines(COUNTERPARTS["lenet5"], lenet) == [
        "vision.Resize((32, 32), interpolation=Inter.LINEAR)", "vision.Rescale(1.0 / 255.0, 0.0)",
        "vision.Rescale(1 / 0.3081, -1 * 0.1307 / 0.3081)", "vision.HWC2CHW()"]
    padded = replace(lenet, resize=28, pad=2, normalize=False)
    assert datapipe_lines(COUNTERPARTS["lenet5"], padded) == ["vision.Pad(2)", "vision.Rescale(1.0 / 255.0, 0.0)",
                                                              "vision.HWC2CHW()"]


@pytest.mark.parametrize("name", [m for m in list_models() if m not in COUNTERPARTS])
def test_models_without_a_counterpart_are_refused_in_one_line(name, tmp_path):
    ckpt, _ = checkpoint(tmp_path, name)
    result = runner.invoke(app, ["export", str(ckpt), "--format", "mindspore", "--out", str(tmp_path / "m.ckpt")])
    assert result.exit_code != 0 and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert f"model '{name}' has no MindSpore counterpart" in result.stderr
    for model, counterpart in COUNTERPARTS.items():
        assert f"{model} (seed {counterpart.seed.split()[1]}'s {counterpart.cell})" in result.stderr
    assert "loads into a MindSpore network with the same parameters" in result.stderr
    assert not list(tmp_path.glob("m.ckpt*"))


def test_a_model_of_your_own_is_refused_naming_the_exportable_ones(tmp_path):
    """A checkpoint whose model this digitlab does not even know gets the same line, read from its header."""
    torch.manual_seed(0)
    path = save_weights(tmp_path / "own.safetensors", get_model("mlp"), replace(make_info("mlp"), model="my-net"))
    with pytest.raises(ConfigError, match=r"model 'my-net' has no MindSpore counterpart; exportable: mlp \(seed 000"):
        export_model(path, "mindspore", tmp_path / "m.ckpt")


def test_a_run_with_its_own_architecture_settings_is_refused(tmp_path):
    from digitlab import config as cfgmod

    info = make_info("mlp")
    info = replace(info, config=cfgmod.with_overrides(info.config, ["model.hidden=[256]"]))
    path = save_weights(tmp_path / "narrow.safetensors", get_model("mlp", hidden=(256,)), info)
    with pytest.raises(ConfigError, match=r"has model.hidden=\[256\], so its parameters fit no seed network"):
        export_model(path, "mindspore", tmp_path / "m.ckpt")
    assert not (tmp_path / "m.ckpt").exists()


def test_a_run_with_other_than_ten_classes_is_refused(tmp_path):
    ckpt, _ = checkpoint(tmp_path, "mlp", num_classes=4)
    with pytest.raises(ConfigError, match="has 4 classes but the seed's Network has 10 outputs"):
        export_model(ckpt, "mindspore", tmp_path / "m.ckpt")
    assert not (tmp_path / "m.ckpt").exists()


def test_never_replaces_a_file_without_force(tmp_path, idx_dir):
    ckpt, model = checkpoint(tmp_path, "lenet5")
    out = tmp_path / "model.ckpt"
    out.write_bytes(b"a MindSpore checkpoint of my own")
    args = ["export", str(ckpt), "--format", "mindspore", "--out", str(out), "--data-dir", str(idx_dir), "--check", "20"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "file exists" in refused.stderr and "--force" in refused.stderr
    assert out.read_bytes() == b"a MindSpore checkpoint of my own" and not (tmp_path / "model.ckpt.json").exists()
    replaced = runner.invoke(app, [*args, "--force"])
    assert replaced.exit_code == 0, replaced.output
    assert torch.equal(torch.from_numpy(read_ckpt(out)["conv1.weight"]), model.state_dict()["conv1.weight"])


@pytest.mark.skipif(not (SHARED_MS / "checkpoints.json").exists(), reason="../shared/data/mindspore not present")
@pytest.mark.parametrize("real,name", [("quickstart_mlp.ckpt", "mlp"), ("lenet5.ckpt", "lenet5")])
def test_export_has_the_structure_of_real_mindspore_checkpoints(real, name, tmp_path, idx_dir):
    """Same tags in the same order, same dims, types and sizes as MindSpore 2.10's save_checkpoint wrote for the
    seed's network (only the numbers differ); and the real file, imported then exported, is itself again."""
    ckpt, _ = checkpoint(tmp_path, name)
    export_model(ckpt, "mindspore", tmp_path / "mine.ckpt", n_check=20, data_dir=idx_dir)
    assert layout((tmp_path / "mine.ckpt").read_bytes()) == layout((SHARED_MS / real).read_bytes())
    assert runner.invoke(app, ["import-mindspore", str(SHARED_MS / real), "--out", str(tmp_path / "run")]).exit_code == 0
    with pytest.warns(DataFallbackWarning):  # the imported run is checked on the offline sample here
        export_model(tmp_path / "run", "mindspore", tmp_path / "again.ckpt", n_check=20)
    assert (tmp_path / "again.ckpt").read_bytes() == (SHARED_MS / real).read_bytes()


def test_mlp_deep_export_has_network_new_parameters(tmp_path, idx_dir):
    ckpt, _ = checkpoint(tmp_path, "mlp-deep")
    export_model(ckpt, "mindspore", tmp_path / "deep.ckpt", n_check=20, data_dir=idx_dir)
    rows = layout((tmp_path / "deep.ckpt").read_bytes())
    assert [(tag, dims) for tag, dims, _, _ in rows] == NETWORK_NEW
    assert {dtype for _, _, dtype, _ in rows} == {"Float32"}


def test_networks_with_a_seed_networks_exact_parameters_export_as_it(idx_dir, tmp_path):
    """Your own port of the quick start's Network, and mlp set to Network_new's widths, load into the seeds' classes."""
    from pathlib import Path

    from digitlab.interop.ckpt import read_ckpt

    example = Path(__file__).resolve().parents[2] / "examples" / "quickstart_network.py"
    for name, args, cell in ((f"{example}:Network", [], "Network"),
                             ("mlp", ["--set", "model.hidden=[512,1024,512,128]"], "Network_new")):
        run = tmp_path / cell
        trained = runner.invoke(app, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                      "--max-steps", "2", "--model", name, *args, "--run-dir", str(run)])
        assert trained.exit_code == 0, trained.output
        out = tmp_path / f"{cell}.ckpt"
        done = runner.invoke(app, ["export", str(run), "--format", "mindspore", "--out", str(out),
                                   "--data-dir", str(idx_dir), "--check", "20", "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(out.with_suffix(".ckpt.json").read_text())["mindspore"]["cell"] == cell
        assert list(read_ckpt(out))[0] == "dense_relu_sequential.0.weight"
