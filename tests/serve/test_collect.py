"""The Collect API (`serve --collect DIR`): saves by content hash inside DIR only, bounded, atomic, concurrent, undo."""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.data.sources import load_dataset
from digitlab.serve.app import create_app
from digitlab.serve.collect import CollectLimits
from tests.serve.conftest import local_client
from tests.test_preprocess import png_bytes, stroke_image


def drawing(i: int = 0) -> bytes:
    """A different pen stroke for each i (dark on white, as the page's canvas sends it)."""
    return png_bytes(stroke_image(size=280, box=(100 + i % 40, 40 + i // 40, 130 + i % 40, 240)))


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def collect(runs_root, tmp_path):
    def make(**limits):
        folder = tmp_path / "mine"
        app = create_app(runs_root, collect_dir=folder, collect_limits=CollectLimits(**limits) if limits else None)
        return local_client(app), folder
    return make


def test_off_unless_given(client):
    assert client.get("/api/collect").json() == {"enabled": False}
    refused = client.post("/api/collect?label=3", files={"file": ("d.png", drawing())})
    assert refused.status_code == 404 and "--collect" in refused.json()["detail"]
    assert client.post("/api/collect/undo").status_code == 404
    assert client.get("/collect").status_code == 200  # the page says collecting is off


def test_save_names_by_content_counts_and_undoes(collect):
    client, root = collect()
    saved = client.post("/api/collect?label=3", files={"file": ("../../evil name.png", drawing())}).json()
    assert saved["saved"] and saved["label"] == "3" and saved["counts"]["3"] == 1 and saved["total"] == 1
    (only,) = files(root)
    content = (root / only).read_bytes()
    assert only == f"3/{hashlib.sha256(content).hexdigest()[:32]}.png"  # named by what was written, not the client
    with Image.open(io.BytesIO(content)) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (280, 280)
    again = client.post("/api/collect?label=3", files={"file": ("x.png", drawing())}).json()
    assert again["duplicate"] and not again["saved"] and again["total"] == 1
    client.post("/api/collect?label=7", content=drawing(5), headers={"content-type": "image/png"})
    assert client.get("/api/collect").json()["counts"] == {**{str(d): 0 for d in range(10)}, "3": 1, "7": 1}
    undone = client.post("/api/collect/undo").json()
    assert undone["undone"].startswith("7/") and undone["counts"]["7"] == 0 and files(root) == [only]
    assert client.post("/api/collect/undo").json()["total"] == 0 and files(root) == []
    nothing = client.post("/api/collect/undo")
    assert nothing.status_code == 409 and "nothing to undo" in nothing.json()["detail"]


@pytest.mark.parametrize("label", ["10", "-1", "..", "3/../../x", "a"])
def test_labels_are_digits_only(collect, label):
    client, root = collect()
    response = client.post("/api/collect", params={"label": label}, files={"file": ("d.png", drawing())})
    assert response.status_code == 422 and files(root) == []


def test_bad_uploads_write_nothing(collect):
    client, root = collect()
    blank = png_bytes(Image.new("L", (280, 280), 255))
    for body, status in ((b"not an image", 415), (blank, 422), (b"", 400)):
        response = client.post("/api/collect?label=1", files={"file": ("d.png", body)})
        assert response.status_code == status, response.text
    huge = client.post("/api/collect?label=1", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "image/png"})
    assert huge.status_code == 413
    assert files(root) == []


def test_limits_per_image_per_class_and_in_all(collect):
    client, root = collect(max_image_bytes=200)
    too_big = client.post("/api/collect?label=1", files={"file": ("d.png", drawing())})
    assert too_big.status_code == 413 and "200-byte limit" in too_big.json()["detail"] and files(root) == []
    client, root = collect(max_per_class=2, max_total=3)
    assert [client.post("/api/collect?label=1", files={"file": ("d", drawing(i))}).status_code
            for i in range(3)] == [200, 200, 409]
    assert client.post("/api/collect?label=2", files={"file": ("d", drawing(10))}).status_code == 200
    full = client.post("/api/collect?label=3", files={"file": ("d", drawing(11))})
    assert full.status_code == 409 and "3 images (the limit)" in full.json()["detail"]
    assert len(files(root)) == 3


def test_never_writes_outside_the_folder(collect, tmp_path):
    client, root = collect()
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, root / "4")
    refused = client.post("/api/collect?label=4", files={"file": ("d.png", drawing())})
    assert refused.status_code == 409 and "link out of" in refused.json()["detail"]
    assert list(outside.iterdir()) == []


def test_concurrent_saves_are_atomic_and_bounded(collect):
    client, root = collect(max_per_class=25, max_total=100)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: client.post(f"/api/collect?label={i % 2}",
                                                    files={"file": ("d", drawing(i))}).status_code, range(60)))
    assert codes.count(200) == 50 and codes.count(409) == 10  # exactly the per-class bound, under contention
    names = files(root)
    assert len(names) == 50 and not any(Path(n).name.startswith(".") for n in names)  # no temporary left
    for name in names:  # every file complete: a PNG whose name is its own hash
        data = (root / name).read_bytes()
        assert Path(name).stem == hashlib.sha256(data).hexdigest()[:32]
        with Image.open(io.BytesIO(data)) as im:
            im.load()


def test_collected_folder_is_a_folder_dataset(collect):
    client, root = collect()
    for i in range(6):
        client.post(f"/api/collect?label={i % 2}", files={"file": ("d", drawing(7 * i))})
    ds = load_dataset("folder", root)
    assert len(ds.train_labels) + len(ds.test_labels) == 6 and ds.provenance()["counts"]["train"]


def test_serve_refuses_a_collect_path_that_is_a_file(tmp_path, runs_root):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(cli, ["serve", "--runs", str(runs_root), "--collect", str(tmp_path / "file"),
                                      "--port", "0"])
    assert result.exit_code != 0 and "--collect" in result.output and "Traceback" not in result.output


def test_undo_and_refusals_leave_no_empty_class_folder(collect):
    client, root = collect(max_total=1)
    client.post("/api/collect?label=5", files={"file": ("d", drawing())})
    assert client.post("/api/collect?label=6", files={"file": ("d", drawing(3))}).status_code == 409
    client.post("/api/collect/undo")
    assert sorted(p.name for p in root.iterdir()) == []


def test_a_save_that_fails_half_way_leaves_nothing(collect, monkeypatch):
    import digitlab.io

    client, root = collect()

    def torn(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(digitlab.io.os, "replace", torn)
    failed = client.post("/api/collect?label=2", files={"file": ("d", drawing())})
    assert failed.status_code == 507 and "No space left" in failed.json()["detail"]
    monkeypatch.undo()
    assert list(root.rglob("*")) == []  # no half-written PNG, no temporary beside it, no empty class folder
    assert client.get("/api/collect").json()["total"] == 0


def test_a_drawing_lives_under_one_digit_the_latest_label_wins(collect):
    client, root = collect()
    first = client.post("/api/collect?label=3", files={"file": ("d", drawing())}).json()
    assert first["saved"] and first["relabelled_from"] is None
    name = Path(first["file"]).name
    moved = client.post("/api/collect?label=8", files={"file": ("d", drawing())}).json()
    assert moved["saved"] and moved["label"] == "8" and moved["relabelled_from"] == "3"
    assert moved["file"] == f"8/{name}" and files(root) == [f"8/{name}"]  # moved, not copied
    assert not (root / "3").exists()  # the class folder it emptied is gone (a folder dataset refuses an empty one)
    assert moved["counts"]["3"] == 0 and moved["counts"]["8"] == 1 and moved["total"] == 1
    again = client.post("/api/collect?label=8", files={"file": ("d", drawing())}).json()
    assert again["duplicate"] and again["relabelled_from"] is None and files(root) == [f"8/{name}"]
    undone = client.post("/api/collect/undo").json()  # undo of a relabel: back under the digit it was
    assert undone["undone"] == f"8/{name}" and undone["restored"] == f"3/{name}" and files(root) == [f"3/{name}"]
    assert not (root / "8").exists()
    assert client.post("/api/collect/undo").json()["total"] == 0 and files(root) == []


def test_a_relabel_counts_against_its_new_class_but_not_twice_in_all(collect):
    client, root = collect(max_per_class=1, max_total=2)
    assert client.post("/api/collect?label=1", files={"file": ("d", drawing(1))}).status_code == 200
    assert client.post("/api/collect?label=2", files={"file": ("d", drawing(2))}).status_code == 200
    full = client.post("/api/collect?label=2", files={"file": ("d", drawing(1))})  # class 2 is full: stays a 1
    assert full.status_code == 409 and "class 2" in full.json()["detail"] and len(files(root)) == 2
    assert {Path(f).parent.name for f in files(root)} == {"1", "2"}
    relabel = client.post("/api/collect?label=5", files={"file": ("d", drawing(1))})  # the folder is full in all,
    assert relabel.status_code == 200, relabel.text                                  # but a move adds no file
    state = relabel.json()
    assert state["relabelled_from"] == "1" and state["total"] == 2 and state["counts"]["5"] == 1
    new = client.post("/api/collect?label=6", files={"file": ("d", drawing(3))})
    assert new.status_code == 409 and "2 images (the limit)" in new.json()["detail"]


def test_copies_left_under_several_digits_end_under_the_latest(collect):
    """A folder filled before relabelling moved files can hold the same drawing under several digits: the next save
    of it leaves it under that digit only."""
    client, root = collect()
    name = Path(client.post("/api/collect?label=4", files={"file": ("d", drawing())}).json()["file"]).name
    (root / "9").mkdir()
    (root / "9" / name).write_bytes((root / "4" / name).read_bytes())
    kept = client.post("/api/collect?label=9", files={"file": ("d", drawing())}).json()
    assert kept["duplicate"] and kept["relabelled_from"] == "4" and files(root) == [f"9/{name}"]
    (root / "4").mkdir()
    (root / "4" / name).write_bytes((root / "9" / name).read_bytes())
    (root / "7").mkdir()
    (root / "7" / name).write_bytes((root / "9" / name).read_bytes())
    moved = client.post("/api/collect?label=2", files={"file": ("d", drawing())}).json()
    assert moved["saved"] and moved["relabelled_from"] in ("4", "7", "9") and files(root) == [f"2/{name}"]


def test_a_relabel_never_moves_a_file_out_of_a_linked_class_folder(collect, tmp_path):
    client, root = collect()
    outside = tmp_path / "outside"
    outside.mkdir()
    name = Path(client.post("/api/collect?label=4", files={"file": ("d", drawing())}).json()["file"]).name
    (outside / name).write_bytes((root / "4" / name).read_bytes())
    os.symlink(outside, root / "6")  # not ours: left alone, as the counts leave it out
    moved = client.post("/api/collect?label=1", files={"file": ("d", drawing())}).json()
    assert moved["relabelled_from"] == "4" and (outside / name).exists()
    assert [f for f in files(root) if not f.startswith("6/")] == [f"1/{name}"]


def test_a_relabel_that_fails_leaves_the_drawing_where_it_was(collect, monkeypatch):
    import digitlab.io

    client, root = collect()
    first = client.post("/api/collect?label=3", files={"file": ("d", drawing())}).json()

    def refused(src, dst):
        raise OSError(13, "Permission denied", str(dst))

    monkeypatch.setattr(digitlab.io.os, "replace", refused)
    failed = client.post("/api/collect?label=5", files={"file": ("d", drawing())})
    assert failed.status_code == 507 and "Permission denied" in failed.json()["detail"]
    monkeypatch.undo()
    assert files(root) == [first["file"]] and not (root / "5").exists()


def test_a_file_where_a_class_folder_goes_is_a_409_not_a_500(collect):
    client, root = collect()
    assert client.post("/api/collect?label=1", files={"file": ("d", drawing(1))}).status_code == 200
    (root / "7").write_bytes(b"somebody's file")
    taken = client.post("/api/collect?label=7", files={"file": ("d", drawing(2))})
    assert taken.status_code == 409 and "a file named 7" in taken.json()["detail"]
    assert (root / "7").read_bytes() == b"somebody's file" and files(root) == ["1/" + os.listdir(root / "1")[0], "7"]
    relabel = client.post("/api/collect?label=7", files={"file": ("d", drawing(1))})  # a relabel into it: refused,
    assert relabel.status_code == 409 and len(os.listdir(root / "1")) == 1            # the drawing stays a 1


def test_a_folder_named_like_a_drawing_is_not_counted(collect):
    client, root = collect(max_per_class=1)
    (root / "2" / "x.png").mkdir(parents=True)
    saved = client.post("/api/collect?label=2", files={"file": ("d", drawing(1))})
    assert saved.status_code == 200 and saved.json()["counts"]["2"] == 1


def test_a_refused_relabel_says_the_drawing_stays(collect):
    client, root = collect(max_per_class=1)
    assert client.post("/api/collect?label=1", files={"file": ("d", drawing(1))}).status_code == 200
    assert client.post("/api/collect?label=2", files={"file": ("d", drawing(2))}).status_code == 200
    full = client.post("/api/collect?label=2", files={"file": ("d", drawing(1))})
    assert full.status_code == 409 and full.json()["detail"].endswith("1 image (the limit per class); "
                                                                       "the drawing stays under 1")
