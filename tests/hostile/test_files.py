"""Hostile class 2: damaged files of every kind digitlab reads.

Config TOML (not UTF-8, not TOML, a folder, wrong shapes), run folders (run.json, summary.json, metrics.jsonl, config.toml
binary / truncated / emptied), checkpoints (truncated, not safetensors, metadata not JSON / not an object / lacking
preprocessing / inconsistent, NaN or inf weights, a model that does not fit), IDX files (truncated, bad magic, bad dims,
labels out of range, counts that disagree, checksum mismatch). Each is one `error:` line (or, where a command lists many
runs, the damaged one marked and the others listed), and no file that was there before changes.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from digitlab.data import idx
from tests.hostile.conftest import (
    assert_nothing_lost,
    assert_ok,
    assert_one_line_error,
    copy_run,
    hashes,
    invoke,
    train_args,
)
from tests.test_preprocess import png_bytes, stroke_image

# ------------------------------------------------------------------------------------------------ config files
BAD_CONFIGS = {
    "not-utf8": (b"[train]\nepochs = 2\n# \xff\xfe\x00 latin-1 bytes \xe9\n", "UTF-8"),
    "binary": (bytes(range(256)) * 4, "config"),
    "not-toml": (b"[train\nepochs = = 2\n", "not valid TOML"),
    "empty-section-value": (b"[train]\nepochs =\n", "not valid TOML"),
    "top-level-key": (b"epochs = 2\n", "must be a section"),
    "unknown-section": (b"[bogus]\nx = 1\n", "unknown section"),
    "unknown-key": (b"[optim]\nmomentun = 0.9\n", "optim.momentun"),
    "wrong-type": (b"[train]\nepochs = \"two\"\n", "train.epochs"),
    "out-of-range": (b"[optim]\nbeta1 = 2.0\n", "optim.beta1"),
    "tuple-wrong-type": (b"[data]\nclasses = \"3,5\"\n", "data.classes"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_bad_config_file(idx_dir, tmp_path, kind):
    content, words = BAD_CONFIGS[kind]
    cfg = tmp_path / "config[x].toml"  # brackets in the path: printed literally
    cfg.write_bytes(content)
    run = tmp_path / "run"
    line = assert_one_line_error(invoke(*train_args(idx_dir, run, "--config", cfg)), words)
    assert not run.exists()
    if kind in ("not-utf8", "binary", "not-toml"):
        assert "config[x].toml" in line


def test_config_that_is_a_folder(idx_dir, tmp_path):
    (tmp_path / "c.toml").mkdir()
    assert_one_line_error(invoke(*train_args(idx_dir, tmp_path / "run", "--config", tmp_path / "c.toml")), "folder")


# ------------------------------------------------------------------------------------------------ run folders
DAMAGES = {
    "binary": lambda b: bytes(range(256)) + b"\xff\xfe" * 50,
    "truncated": lambda b: b[: len(b) // 2],
    "emptied": lambda b: b"",
}
RUN_FILES = ("run.json", "summary.json", "metrics.jsonl", "config.toml")


@pytest.mark.parametrize("name", RUN_FILES)
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_run_file_spoils_only_its_run(trained, tmp_path, name, damage):
    """`runs`, `plot` and `compare` over a folder with one damaged run: the others list and plot; nothing changes."""
    root = tmp_path / "runs"
    good, bad = copy_run(trained, root / "good"), copy_run(trained, root / "bad")
    (bad / name).write_bytes(DAMAGES[damage]((bad / name).read_bytes()))
    before = hashes(root)
    listed = invoke("runs", "--root", root, "--json")
    assert_ok(listed)
    rows = {r["run"]: r for r in json.loads(listed.stdout)}
    assert rows["good"]["status"] == "finished" and rows["good"]["final_test_acc"] is not None
    if name != "config.toml":  # a run with no readable config.toml is still a run folder; one without is not listed
        assert "bad" in rows
    plotted = invoke("plot", good, bad, "--out", tmp_path / "curves.png")
    assert_ok(plotted)
    compared = invoke("compare", good, bad, "--out", tmp_path / "compare.png", "--json")
    assert_ok(compared)
    assert {r["run"] for r in json.loads(compared.stdout)} == {"good", "bad"}
    assert_nothing_lost(before, root)


@pytest.fixture(scope="module")
def unfinished(idx_dir, tmp_path_factory) -> Path:
    """A run stopped by --max-steps part-way through its first of two epochs: one --resume could continue."""
    run = tmp_path_factory.mktemp("unfinished") / "run"
    assert_ok(invoke(*train_args(idx_dir, run, "--epochs", "2", "--max-steps", "3")))
    return run


@pytest.mark.parametrize("damage", ["binary", "emptied", "truncated",
                                    "folder", "other-dataset"])
def test_resume_refuses_a_damaged_config_and_keeps_it(unfinished, tmp_path, damage):
    run = copy_run(unfinished, tmp_path / "run")
    cfg = run / "config.toml"
    if damage == "folder":
        cfg.unlink()
        cfg.mkdir()
    elif damage == "other-dataset":
        cfg.write_text(cfg.read_text().replace('dataset = "idx"', 'dataset = "mnist-sample"'))
    else:
        cfg.write_bytes(DAMAGES[damage](cfg.read_bytes()))
    before = hashes(run)
    assert_one_line_error(invoke("train", "--resume", run), "config.toml")
    assert_nothing_lost(before, run)


# ------------------------------------------------------------------------------------------------ checkpoints
def _rewrite(src: Path, dest: Path, meta=None, tensors=None) -> Path:
    """Write a copy of checkpoint src with its digitlab metadata (a dict, or raw text) and/or tensors changed."""
    state = load_file(str(src))
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as fh:
        metadata = dict(fh.metadata())
    if meta is not None:
        if callable(meta):
            obj = json.loads(metadata["digitlab"])
            meta(obj)
            metadata["digitlab"] = json.dumps(obj)
        else:
            metadata["digitlab"] = meta
    if tensors is not None:
        tensors(state)
    save_file(state, str(dest), metadata=metadata)
    return dest


def _first_float(state: dict, value: float) -> None:
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].clone()
    state[name].view(-1)[0] = value


def _set(path: tuple, value):
    def change(obj):
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return change


def _drop(path: tuple):
    def change(obj):
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]
    return change


CHECKPOINTS = {  # kind -> (how to make it from a good one, words the error must hold)
    "truncated": (lambda s, d: d.write_bytes(s.read_bytes()[: s.stat().st_size // 2]), "truncated"),
    "empty": (lambda s, d: d.write_bytes(b""), "safetensors"),
    "not-safetensors": (lambda s, d: d.write_bytes(b"PK\x03\x04 a zip, not weights" * 20), "safetensors"),
    "huge-header-length": (lambda s, d: d.write_bytes((1 << 60).to_bytes(8, "little") + b"{}"), "safetensors"),
    "no-digitlab-metadata": (lambda s, d: save_file(load_file(str(s)), str(d), metadata={"format": "pt"}),
                             "without digitlab metadata"),
    "metadata-not-json": (lambda s, d: _rewrite(s, d, meta="{not json"), "not JSON"),
    "metadata-a-list": (lambda s, d: _rewrite(s, d, meta="[1, 2]"), "not a JSON object"),
    "metadata-a-number": (lambda s, d: _rewrite(s, d, meta="3"), "not a JSON object"),
    "lacks-preprocessing": (lambda s, d: _rewrite(s, d, meta=_drop(("preprocessing",))), "preprocessing"),
    "preprocessing-null": (lambda s, d: _rewrite(s, d, meta=_set(("preprocessing",), None)), "preprocessing"),
    "preprocessing-lacks-mean": (lambda s, d: _rewrite(s, d, meta=_drop(("preprocessing", "mean"))), "mean"),
    "preprocessing-std-0": (lambda s, d: _rewrite(s, d, meta=_set(("preprocessing", "std"), 0)), "std"),
    "preprocessing-std-nan": (lambda s, d: _rewrite(s, d, meta=_set(("preprocessing", "std"), float("nan"))), "std"),
    "preprocessing-mean-inf": (lambda s, d: _rewrite(s, d, meta=_set(("preprocessing", "mean"), float("inf"))),
                               "mean"),
    "preprocessing-inconsistent": (lambda s, d: _rewrite(s, d, meta=_set(("preprocessing", "input_size"), 99)),
                                   "inconsistent"),
    "preprocessing-classes-number": (lambda s, d: _rewrite(s, d, meta=_set(("preprocessing", "classes"), 5)),
                                     "preprocessing"),
    "num-classes-mismatch": (lambda s, d: _rewrite(s, d, meta=_set(("num_classes",), 7)), "classes"),
    "num-classes-text": (lambda s, d: _rewrite(s, d, meta=_set(("num_classes",), "ten")), "malformed"),
    "output-kind-unknown": (lambda s, d: _rewrite(s, d, meta=_set(("output",), "probs")), "output"),
    "config-not-object": (lambda s, d: _rewrite(s, d, meta=_set(("config",), 5)), "config"),
    "config-unknown-key": (lambda s, d: _rewrite(s, d, meta=_set(("config", "optim", "bogus"), 1)), "config"),
    "model-unknown": (lambda s, d: _rewrite(s, d, meta=_set(("model",), "resnet")), "resnet"),
    "model-does-not-fit": (lambda s, d: _rewrite(s, d, meta=_set(("model",), "lenet5")), "does not fit"),
    "weights-missing-tensor": (lambda s, d: _rewrite(s, d, tensors=lambda t: t.pop(sorted(t)[0])), "missing"),
    "weights-nan": (lambda s, d: _rewrite(s, d, tensors=lambda t: _first_float(t, float("nan"))), "NaN"),
    "weights-inf": (lambda s, d: _rewrite(s, d, tensors=lambda t: _first_float(t, float("inf"))), "inf"),
    "weights-int-dtype": (lambda s, d: _rewrite(s, d, tensors=lambda t: t.update(
        {k: v.to(torch.int64) for k, v in t.items()})), "dtype"),
}


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("digit") / "one.png"
    path.write_bytes(png_bytes(stroke_image()))
    return path


@pytest.mark.parametrize("command", ["eval", "predict"])
@pytest.mark.parametrize("kind", sorted(CHECKPOINTS))
def test_damaged_checkpoint(trained, idx_dir, digit_png, tmp_path, kind, command):
    make, words = CHECKPOINTS[kind]
    ckpt = tmp_path / "damaged[1].safetensors"
    make(trained / "checkpoints" / "last.safetensors", ckpt)
    before = hashes(tmp_path, trained)
    if command == "eval":
        result = invoke("eval", ckpt, "--data-dir", idx_dir, "--device", "cpu", "--confusion", tmp_path / "c.png")
    else:
        result = invoke("predict", ckpt, digit_png, "--device", "cpu")
    line = assert_one_line_error(result, words)
    assert "damaged[1].safetensors" in line  # the file is named, brackets and all
    assert_nothing_lost(before, tmp_path, trained)


def test_damaged_best_checkpoint_in_a_run_folder(trained, idx_dir, tmp_path):
    run = copy_run(trained, tmp_path / "run")
    best = run / "checkpoints" / "best.safetensors"
    best.write_bytes(best.read_bytes()[:100])
    before = hashes(run)
    assert_one_line_error(invoke("eval", run, "--data-dir", idx_dir, "--device", "cpu"), "best.safetensors")
    assert_nothing_lost(before, run)


# ------------------------------------------------------------------------------------------------ IDX files
def _header(code: int, dims: list[int]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def _raw(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


IDX_DAMAGE = {  # kind -> (file stem, new content from the old decompressed content, words)
    "gzip-truncated": ("train-images-idx3-ubyte", lambda c: gzip.compress(c)[:-40], "gzip"),
    "raw-truncated": ("train-images-idx3-ubyte", lambda c: c[: len(c) // 2], "train-images"),
    "header-truncated": ("t10k-labels-idx1-ubyte", lambda c: c[:6], "t10k-labels"),
    "empty": ("t10k-labels-idx1-ubyte", lambda c: b"", "t10k-labels"),
    "bad-magic": ("train-images-idx3-ubyte", lambda c: b"\x12\x34" + c[2:], "train-images"),
    "bad-dtype-code": ("train-images-idx3-ubyte", lambda c: c[:2] + b"\x42" + c[3:], "train-images"),
    "seven-dims": ("train-images-idx3-ubyte", lambda c: _header(8, [600, 28, 28, 1, 1, 1, 1]) + c[16:],
                   "train-images"),
    "huge-dims": ("train-images-idx3-ubyte", lambda c: _header(8, [0xFFFFFFFF, 0xFFFF, 0xFFFF]) + c[16:],
                  "train-images"),
    "images-as-labels": ("train-labels-idx1-ubyte", lambda c: _header(8, [600, 28, 28]) + bytes(600 * 784),
                         "train-labels"),
    "label-out-of-range": ("train-labels-idx1-ubyte", lambda c: c[:8] + bytes([200]) + c[9:], "label"),
    "count-mismatch": ("t10k-labels-idx1-ubyte", lambda c: _header(8, [150]) + c[8:158], "t10k"),
    "float-images": ("t10k-images-idx3-ubyte", lambda c: _header(0x0D, [200, 28, 28]) +
                     np.zeros((200, 28, 28), ">f4").tobytes(), "t10k-images"),
    "trailing-bytes": ("t10k-images-idx3-ubyte", lambda c: c + b"extra", "t10k-images"),
}


@pytest.mark.parametrize("kind", sorted(IDX_DAMAGE))
def test_damaged_idx_file(idx_dir, tmp_path, kind):
    stem, change, words = IDX_DAMAGE[kind]
    folder = Path(shutil.copytree(idx_dir, tmp_path / "data [copy]"))
    target = folder / f"{stem}.gz"
    content = change(_raw(target))
    target.unlink()
    (folder / (stem + (".gz" if kind == "gzip-truncated" else ""))).write_bytes(content)
    before = hashes(folder)
    line = assert_one_line_error(invoke("data", "info", "idx", "--data-dir", folder), words)
    assert "data [copy]" in line  # names the file, with its folder
    run = tmp_path / "run"
    assert_one_line_error(invoke(*train_args(folder, run)), words)
    assert not run.exists()
    assert_nothing_lost(before, folder)


def test_checksum_mismatch_is_named_never_verified(idx_dir, tmp_path):
    """Files in MNIST's names whose content is not MNIST's: --strict-data refuses, naming the file."""
    folder = Path(shutil.copytree(idx_dir, tmp_path / "mnist"))
    before = hashes(folder)
    result = invoke("data", "info", "mnist", "--data-dir", folder, "--strict-data", "--json")
    assert_one_line_error(result, "mnist")
    assert_nothing_lost(before, folder)


def test_idx_labels_beyond_the_dataset_classes(tmp_path):
    """uint8 labels 10..255 are valid IDX but not digits: refused, never trained on as class 200."""
    from tests.helpers import write_dataset

    folder = write_dataset(tmp_path / "d", n_train=100, n_test=50)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    arr = idx.read(labels).copy()
    arr[3] = 10
    labels.unlink()
    idx.write(labels, arr)
    assert_one_line_error(invoke("data", "info", "idx", "--data-dir", folder), "t10k-labels")
