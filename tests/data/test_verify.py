"""The one verification routine: statuses, the digest cache (never a false "verified"), naming another dataset's file."""

import gzip
import os
import time

import pytest

from digitlab.data import idx, verify
from digitlab.data.sources import load_dataset
from digitlab.errors import DataError
from tests.data.toy import files_of, register_toy


@pytest.fixture()
def hashes(monkeypatch):
    """Counts every content hash the verifier computes."""
    calls = []
    real = idx.sha256
    monkeypatch.setattr(idx, "sha256", lambda b: calls.append(1) or real(b))
    return calls


def _rewrite_keeping_size_and_mtime(path, data: bytes) -> os.stat_result:
    before = os.stat(path)
    for _ in range(100):  # on a filesystem with coarse timestamps, wait for the clock to tick past the old ctime
        with open(path, "r+b") as fh:  # in place: same inode
            fh.write(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(path)
        if after.st_ctime_ns != before.st_ctime_ns:
            break
        time.sleep(0.01)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    return after


def test_raw_file_rewritten_with_mtime_restored_is_rehashed(tmp_path, monkeypatch, hashes):
    """The issue's case: size, mtime and inode kept, content changed: the cache must not vouch for it."""
    folder = tmp_path / "toy"
    register_toy(monkeypatch, folder)
    for path in files_of(folder).values():  # raw IDX files, as a MindSpore copy is
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    ds = load_dataset("toy", data_dir=folder, strict=True)
    assert ds.verified
    n = len(hashes)
    assert load_dataset("toy", data_dir=folder, strict=True).verified and len(hashes) == n  # cache hit
    labels = folder / "t10k-labels-idx1-ubyte"
    content = bytearray(labels.read_bytes())
    content[-1] = (content[-1] + 1) % 10  # a label changed: still a valid IDX file of the same size
    _rewrite_keeping_size_and_mtime(labels, bytes(content))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: checksum mismatch"):
        load_dataset("toy", data_dir=folder, strict=True)
    assert len(hashes) == n + 1  # the changed file, and only it, was hashed again


def test_replaced_file_with_same_size_and_mtime_is_rehashed(tmp_path, monkeypatch, hashes):
    folder = tmp_path / "toy"
    register_toy(monkeypatch, folder)
    load_dataset("toy", data_dir=folder)
    n = len(hashes)
    path = folder / "train-labels-idx1-ubyte.gz"
    st = os.stat(path)
    other = tmp_path / "other.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[-1] = (content[-1] + 1) % 10
    other.write_bytes(gzip.compress(bytes(content), mtime=0))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)  # a new inode under the old name
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("toy", data_dir=folder)
    assert len(hashes) == n + 1


def test_cache_file_is_written_atomically_and_survives_garbage(tmp_path, monkeypatch):
    folder = tmp_path / "toy"
    register_toy(monkeypatch, folder)
    cache_file = verify.DigestCache.load().file
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_bytes(b"\xff\xfe not json")
    assert load_dataset("toy", data_dir=folder).verified  # a damaged cache only costs a re-hash
    entries = verify.DigestCache.load().entries
    assert len(entries) == 4 and all(len(e["stat"]) == 5 for e in entries.values())
    assert not [p for p in cache_file.parent.iterdir() if ".tmp-" in p.name]


def test_statuses(tmp_path, monkeypatch):
    folder = tmp_path / "toy"
    spec = register_toy(monkeypatch, folder)
    path = folder / "train-labels-idx1-ubyte.gz"
    good = verify.inspect(path, spec.sha256["train_labels"], None)
    assert good.ok and good.note == "content sha256 matches" and idx.parse(good.content).shape == (200,)
    bad = verify.inspect(path, "0" * 64, None)
    assert bad.status == verify.MISMATCH and "checksum mismatch" in bad.note
    assert verify.inspect(path, None, None).status == verify.UNVERIFIABLE
    (tmp_path / "trunc.gz").write_bytes(path.read_bytes()[:-9])
    damaged = verify.inspect(tmp_path / "trunc.gz", spec.sha256["train_labels"], None)
    assert damaged.status == verify.DAMAGED and "not valid gzip" in damaged.note
    (tmp_path / "page.gz").write_bytes(b"<html>")
    assert "HTML" in verify.inspect(tmp_path / "page.gz", None, "x", require_gzip=True).note


def test_archive_md5_only(tmp_path, monkeypatch):
    folder = tmp_path / "toy"
    register_toy(monkeypatch, folder, md5_only=True)
    assert load_dataset("toy", data_dir=folder).verify_note == "archive md5 matches"
    for path in files_of(folder).values():
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    ds = load_dataset("toy", data_dir=folder)  # a decompressed copy cannot be checked against archive md5s
    assert not ds.verified and "keep the .gz files" in ds.verify_note


def test_another_datasets_file_is_named_not_condemned(tmp_path, monkeypatch):
    """Dangerous advice: a valid file of another dataset is never called corrupt, nor to be deleted."""
    register_toy(monkeypatch, tmp_path / "a", name="toy-a", seed=0)
    register_toy(monkeypatch, tmp_path / "b", name="toy-b", seed=5)
    with pytest.raises(DataError) as info:
        load_dataset("toy-b", data_dir=tmp_path / "a")
    msg = str(info.value)
    assert "this is the toy-a train-images-idx3-ubyte, not the toy-b train-images-idx3-ubyte" in msg
    assert "keep it" in msg and "--data-dir DIR" in msg and "toy-b's files" in msg
    assert "delete" not in msg.lower() and "corrupt" not in msg.lower() and "\n" not in msg


def test_another_datasets_archive_is_named_by_md5(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "a", name="toy-a", seed=0, md5_only=True)
    register_toy(monkeypatch, tmp_path / "b", name="toy-b", seed=5)
    with pytest.raises(DataError, match="this is the toy-a train-images-idx3-ubyte, not the toy-b"):
        load_dataset("toy-b", data_dir=tmp_path / "a")


def test_unknown_content_may_be_called_a_damaged_copy(tmp_path, monkeypatch):
    register_toy(monkeypatch, tmp_path / "toy")
    register_toy(monkeypatch, tmp_path / "other", name="other", seed=9)
    monkeypatch.delitem(verify.DATASETS, "other")  # its files are now unknown to the catalogue
    with pytest.raises(DataError, match="nor any known dataset's file, so a damaged copy or other data"):
        load_dataset("toy", data_dir=tmp_path / "other")


def test_own_files_are_not_hashed_or_judged(tmp_path, monkeypatch, hashes):
    register_toy(monkeypatch, tmp_path / "toy")
    hashes.clear()  # registering the toy hashed its files
    ds = load_dataset("idx", data_dir=tmp_path / "toy")  # a copy of a known dataset is fine as your own files
    assert not ds.verified and ds.verify_note == "no reference checksum for this dataset" and hashes == []
