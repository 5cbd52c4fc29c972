"""runs.remove_runs: every name checked before anything is removed; a run still training is refused."""

import json
import os
import socket

import pytest

from digitlab.errors import CheckpointError, DigitlabError
from digitlab.runs import list_runs, remove_run, remove_runs


def fake_run(root, name: str, status: str = "finished", pid: int | None = None):
    folder = root / name
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.toml").write_text('recipe = "quickstart"\n')
    (folder / "checkpoints" / "last.safetensors").write_bytes(b"x" * 1000)
    (folder / "run.json").write_text(json.dumps({"status": status, "pid": pid or os.getpid(),
                                                 "host": socket.gethostname()}))
    return folder


def test_remove_by_name_and_by_path(tmp_path):
    a, b = fake_run(tmp_path, "a"), fake_run(tmp_path, "b", status="failed")
    removed = remove_runs(["a", str(b)], tmp_path)
    assert [(r.name, r.status) for r in removed] == [("a", "finished"), ("b", "failed")]
    assert removed[0].size_bytes > 1000
    assert not a.exists() and not b.exists() and list(tmp_path.iterdir()) == []


def test_a_running_run_is_refused_and_nothing_is_removed(tmp_path):
    done = fake_run(tmp_path, "done")
    fake_run(tmp_path, "live", status="running", pid=os.getpid())  # this process: alive
    with pytest.raises(DigitlabError, match="still training") as info:
        remove_runs(["done", "live"], tmp_path)
    assert "\n" not in str(info.value)
    assert done.exists()


def test_a_dead_running_run_is_interrupted_and_removable(tmp_path):
    fake_run(tmp_path, "dead", status="running", pid=2**22 + 12345)  # no such process
    assert remove_run("dead", tmp_path).status == "interrupted"


def test_unknown_name_removes_nothing(tmp_path):
    keep = fake_run(tmp_path, "keep")
    with pytest.raises(CheckpointError, match="nope"):
        remove_runs(["keep", "nope"], tmp_path)
    assert keep.exists()
    (tmp_path / "plain").mkdir()  # a folder that is not a run is never removed
    with pytest.raises(CheckpointError, match="not a run folder"):
        remove_run(tmp_path / "plain", tmp_path)


def test_a_half_removed_folder_is_not_listed(tmp_path):
    fake_run(tmp_path, "kept")
    fake_run(tmp_path, ".gone.removing-123")
    assert [r.run for r in list_runs(tmp_path)] == ["kept"]
