"""The catalogue is data, and nothing else in the data layer (or the data CLI) tests a dataset's name."""

import ast
from pathlib import Path

import pytest

import digitlab.cli.data
import digitlab.data
from digitlab.data.catalog import DATASETS, ROLES, SOURCES, get_spec
from digitlab.data.sources import load_dataset, resolve
from digitlab.errors import DataError
from tests.data.toy import register_toy

DATA_SRC = Path(digitlab.data.__file__).parent
CODE = sorted(p for p in DATA_SRC.glob("*.py") if p.name != "catalog.py") + [Path(digitlab.cli.data.__file__)]


def test_every_spec_is_consistent():
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.source in SOURCES
        if spec.stand_in:
            assert get_spec(spec.stand_in).source == "sample"
        if spec.source == "published":
            assert spec.checksums and spec.mirrors and name in spec.folders
            assert set(spec.sha256 or spec.archive_md5) == set(ROLES)


@pytest.mark.parametrize("path", CODE, ids=lambda p: p.name)
def test_no_code_compares_a_dataset_name(path):
    """`name == "mnist"`, `name in ("idx", ...)`, `{"mnist": ...}[name]`: the if-ladders the catalogue replaces."""
    names = set(DATASETS)
    offending = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                for sub in ast.walk(operand):
                    if isinstance(sub, ast.Constant) and sub.value in names:
                        offending.append(f"line {node.lineno}: {sub.value!r}")
        if isinstance(node, ast.Dict):
            offending += [f"line {node.lineno}: {k.value!r}" for k in node.keys
                          if isinstance(k, ast.Constant) and k.value in names]
    assert not offending, f"{path.name} branches on dataset names: {offending}"


def test_a_new_published_dataset_needs_no_code(tmp_path, monkeypatch):
    """A spec alone makes a dataset: found in its folder under $DIGITLAB_DATA, verified, with its statistics."""
    register_toy(monkeypatch, tmp_path / "data" / "toy")
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "data"))
    ds = load_dataset("toy", strict=True)
    assert ds.name == "toy" and ds.source == "env" and ds.verified
    assert ds.verify_note == "content sha256 matches" and (ds.mean, ds.std) == (0.1, 0.3)
    assert ds.train_images.shape == (200, 28, 28)


def test_stand_in_comes_from_the_spec(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "elsewhere", stand_in="mnist-sample")
    with pytest.warns(UserWarning, match="using the mnist-sample stand-in"):
        src = resolve("toy", download=False)
    assert src.dataset == "mnist-sample" and src.requested == "toy" and src.fallback
    register_toy(monkeypatch, tmp_path / "elsewhere2")  # no stand-in: an error, not the sample
    with pytest.raises(DataError, match="dataset 'toy' not found") as info:
        resolve("toy", download=False)
    assert "strict" not in str(info.value)  # nobody asked for strict data


def test_strict_is_mentioned_only_when_asked(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "elsewhere", stand_in="mnist-sample")
    with pytest.raises(DataError, match="strict data is on") as info:
        resolve("toy", download=False, strict=True)
    assert "--data-dir DIR" in str(info.value) and "--from DIR" in str(info.value)
