"""`data fetch NAME --from DIR`: verify a local copy, install it into the data home, find it there from then on."""

import gzip
import shutil

import pytest

from digitlab import paths
from digitlab.data import install as install_mod
from digitlab.data.install import install
from digitlab.data.sources import fetch, load_dataset
from digitlab.errors import DataError
from tests.data.toy import files_of, register_toy
from tests.helpers import SHARED_MNIST


def _mindspore(src, root):
    for split, prefix in (("train", "train"), ("test", "t10k")):
        (root / "MNIST_Data" / split).mkdir(parents=True)
        for f in src.glob(prefix + "*"):
            (root / "MNIST_Data" / split / f.with_suffix("").name).write_bytes(gzip.decompress(f.read_bytes()))
    return root / "MNIST_Data"


@pytest.mark.parametrize("layout", ["plain", "mindspore-raw", "torchvision"])
def test_install_then_every_load_finds_it(tmp_path, monkeypatch, layout):
    register_toy(monkeypatch, tmp_path / "src")
    if layout == "plain":
        given = tmp_path / "src"
    elif layout == "mindspore-raw":
        given = _mindspore(tmp_path / "src", tmp_path / "ms")
    else:
        shutil.copytree(tmp_path / "src", tmp_path / "tv" / "TOY" / "raw")
        given = tmp_path / "tv"
    done = install("toy", given)
    assert done.path == str(paths.data_home() / "toy") and len(done.copied) == 4 and not done.kept
    suffix = "" if layout == "mindspore-raw" else ".gz"  # copied byte for byte: raw stays raw, gzip stays gzip
    assert sorted(done.copied) == sorted(f"{s}{suffix}" for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    shutil.rmtree(given)  # the copy is what later commands use
    ds = load_dataset("toy", strict=True)
    assert ds.source == "cache" and ds.verified and len(ds.train_labels) == 200


def test_install_goes_to_digitlab_data_when_set(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "src")
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "home"))
    assert fetch("toy", from_dir=tmp_path / "src").kind == "installed"
    assert load_dataset("toy", strict=True).source == "env"
    assert (tmp_path / "home" / "toy" / "train-images-idx3-ubyte.gz").is_file()


def test_second_install_keeps_what_is_there(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "src")
    install("toy", tmp_path / "src")
    again = install("toy", tmp_path / "src")
    assert again.copied == () and len(again.kept) == 4 and again.set_aside == ()


def test_unverified_file_in_the_way_is_set_aside_not_deleted(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "src")
    dest = paths.data_home() / "toy"
    dest.mkdir(parents=True)
    (dest / "train-images-idx3-ubyte").write_bytes(b"someone's bytes")  # raw: found before the .gz we install
    done = install("toy", tmp_path / "src")
    assert done.set_aside == ("train-images-idx3-ubyte.unverified",)
    assert (dest / "train-images-idx3-ubyte.unverified").read_bytes() == b"someone's bytes"
    assert load_dataset("toy", strict=True).verified


def test_another_datasets_copy_is_refused_and_named(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "a", name="toy-a", seed=0)
    register_toy(monkeypatch, tmp_path / "b", name="toy-b", seed=5)
    with pytest.raises(DataError) as info:
        install("toy-b", tmp_path / "a")
    msg = str(info.value)
    assert "this is the toy-a" in msg and "keep it" in msg and "`digitlab data fetch toy-b --from DIR`" in msg
    assert "--data-dir" not in msg and "delete" not in msg.lower()
    assert not (paths.data_home() / "toy-b").exists()  # nothing installed


def test_unverifiable_copy_is_refused(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "src", md5_only=True)
    for path in files_of(tmp_path / "src").values():
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    with pytest.raises(DataError, match="cannot be verified .*keep the .gz files.*only verified copies are installed"):
        install("toy", tmp_path / "src")


def test_file_changed_during_copy_never_lands(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "src")
    register_toy(monkeypatch, tmp_path / "other", name="other", seed=3)
    swapped = {r: p for r, p in files_of(tmp_path / "other").items()}
    monkeypatch.setattr(install_mod, "_verify_sources", lambda spec, files: {})  # as if verified, then swapped
    monkeypatch.setattr(install_mod, "find_files", lambda root, spec: (swapped, ""))
    with pytest.raises(DataError, match="changed while it was being copied"):
        install("toy", tmp_path / "src")
    assert not [p for p in (paths.data_home() / "toy").iterdir() if "idx" in p.name]


@pytest.mark.parametrize("name, match", [("idx", "your own IDX files: there is nothing to fetch or install"),
                                         ("mnist-sample", "ships inside a Python package")])
def test_nothing_to_install(tmp_path, name, match):
    with pytest.raises(DataError, match=match):
        install(name, tmp_path)
    with pytest.raises(DataError, match=match):
        fetch(name, from_dir=tmp_path)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="--from .*nope: no such folder"):
        install("mnist", tmp_path / "nope")
    with pytest.raises(DataError, match=r"--from .*: no mnist IDX files; expected train-images-idx3-ubyte"):
        install("mnist", tmp_path)


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="../shared/data/mnist not present")
def test_real_mnist_install_and_the_fashion_mnist_mixup():
    done = install("mnist", SHARED_MNIST)
    assert len(done.copied) == 4 and done.verify_note == "content sha256 matches"
    ds = load_dataset("mnist", strict=True)
    assert ds.source == "cache" and ds.verified and len(ds.train_labels) == 60000
    with pytest.raises(DataError, match="this is the mnist train-images-idx3-ubyte, not the fashion-mnist") as info:
        load_dataset("fashion-mnist", data_dir=SHARED_MNIST)
    assert "delete" not in str(info.value).lower()
    with pytest.raises(DataError, match="dataset 'fashion-mnist' not found"):  # the installed MNIST is not taken
        load_dataset("fashion-mnist", download=False)
