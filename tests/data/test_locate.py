"""Where a dataset's files are looked for: only where that dataset can be."""

import pytest

from digitlab.data.catalog import get_spec
from digitlab.data.locate import find_files, search_roots
from digitlab.data.sources import load_dataset, resolve
from digitlab.errors import DataError
from tests.data.toy import register_toy
from tests.helpers import write_dataset


def test_search_roots_look_only_in_the_datasets_own_folders(tmp_path, monkeypatch):
    """MNIST's files at the top of $DIGITLAB_DATA (or in its mnist/ folder) are never taken for Fashion-MNIST."""
    write_dataset(tmp_path)
    write_dataset(tmp_path / "mnist")
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"no fashion-mnist IDX files \(looked in fashion-mnist, FashionMNIST/raw"):
        resolve("fashion-mnist", download=False)
    assert resolve("mnist", download=False).files["train_images"].parent == tmp_path / "mnist"


@pytest.mark.parametrize("folder", ["toy", "TOY/raw", "toy/raw", "toy/train+test"])
def test_spec_folders_under_the_cache(tmp_path, monkeypatch, folder):
    spec = register_toy(monkeypatch, tmp_path / "src")
    cache = search_roots(spec)[0].path
    if folder.endswith("train+test"):
        base = cache / folder.split("/")[0]
        for split, prefix in (("train", "train"), ("test", "t10k")):
            (base / split).mkdir(parents=True)
            for f in (tmp_path / "src").glob(prefix + "*"):
                (base / split / f.name).write_bytes(f.read_bytes())
    else:
        (cache / folder).mkdir(parents=True)
        for f in (tmp_path / "src").iterdir():
            (cache / folder / f.name).write_bytes(f.read_bytes())
    ds = load_dataset("toy", strict=True)
    assert ds.source == "cache" and ds.verified


def test_data_dir_is_searched_itself_and_its_dataset_folders(tmp_path):
    write_dataset(tmp_path / "MNIST" / "raw")
    files, why = find_files(tmp_path, get_spec("mnist"))
    assert files and files["test_labels"].parent == tmp_path / "MNIST" / "raw"
    files, why = find_files(tmp_path, get_spec("kmnist"))
    assert files is None and "no kmnist IDX files" in why  # MNIST/raw is not one of kmnist's folders


def test_roots_in_order(tmp_path, monkeypatch):
    spec = get_spec("fashion-mnist")
    assert [r.kind for r in search_roots(spec)] == ["cache", "debian"]
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    roots = search_roots(spec)
    assert [(r.kind, r.top) for r in roots] == [("env", False), ("cache", False), ("debian", True)]
    assert roots[2].path.name == "fashion-mnist"
