"""Hostile class 3 (round three): what a hunt over every path option found. A named pipe as a checkpoint read by
its header (export, --resume, serve), files far over their limit (a 20 GB sparse checkpoint, IDX file, image, .py)
refused before anything is read, `--force` never replacing a pipe or a device, export's sidecar under the overwrite
rule, a symlink loop as --submission, serve's start-up checks, an empty .py, and messages naming the right thing.
Commands that could hang run in a capped, timed process (tests/hostile/conftest.run_cli)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digitlab.errors import CheckpointError
from digitlab.io import check_regular, read_limited
from tests.hostile.conftest import (
    assert_nothing_lost,
    assert_one_line_error,
    assert_one_line_error_proc,
    copy_run,
    hashes,
    invoke,
    run_cli,
)


def sparse(path: Path, size: int = 20 << 30) -> Path:
    """A file that says it is `size` bytes and takes no disk: reading it whole would take minutes and all memory."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def test_a_file_over_its_limit_is_refused_before_a_byte_is_read(tmp_path):
    big = sparse(tmp_path / "big.bin")
    with pytest.raises(ValueError, match="over the 8 GB limit"):
        read_limited(big, 8 << 30, ValueError)  # at once: no 8 GB read first
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="named pipe"):
        check_regular(fifo, 1 << 20, CheckpointError)


@pytest.mark.parametrize("how", ["export", "resume"])
def test_a_named_pipe_read_by_its_header_is_refused_not_waited_on(trained, tmp_path, how):
    if how == "export":
        fifo = tmp_path / "w.safetensors"
        os.mkfifo(fifo)
        proc = run_cli("export", fifo, "--format", "mindspore", "--out", tmp_path / "w.ckpt", timeout=60)
    else:
        run = copy_run(trained, tmp_path / "run")
        resume = run / "checkpoints" / "resume.safetensors"
        resume.unlink()
        os.mkfifo(resume)
        proc = run_cli("train", "--resume", run, "--epochs", "2", timeout=60)
    assert_one_line_error_proc(proc, "named pipe")


@pytest.mark.parametrize("command", [["eval"], ["export", "--format", "onnx", "--out", "x.onnx"]])
def test_a_huge_checkpoint_is_refused_at_once(tmp_path, command):
    big = sparse(tmp_path / "big.safetensors")
    proc = run_cli(command[0], big, *command[1:], timeout=60, cwd=tmp_path)
    assert_one_line_error_proc(proc, "over the 8 GB limit")


def test_a_huge_idx_file_is_refused_at_once(tmp_path):
    """The checksum check read each file whole: the real MNIST files, with a 20 GB sparse file as one of them."""
    from tests.helpers import SHARED_MNIST

    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST files in {SHARED_MNIST} (../shared)")
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(SHARED_MNIST / name)
    sparse(folder / "t10k-images-idx3-ubyte.gz")
    proc = run_cli("data", "fetch", "mnist", "--from", folder, timeout=60)
    assert_one_line_error_proc(proc, "over the 8 GB limit")


def test_a_huge_file_among_a_folders_images_is_skipped_unread(tmp_path):
    from digitlab.data.sources import load_dataset
    from tests.data.test_ownfiles import write_folder

    root = write_folder(tmp_path / "d", n=60)
    sparse(root / "3" / "huge.png")
    ds = load_dataset("folder", root)  # hashed by its stat, not its 20 GB
    assert "3/huge.png" in {s["file"] for s in ds.provenance()["skipped"]}


@pytest.mark.parametrize("option", ["--csv", "--submission"])
def test_force_never_replaces_a_pipe_or_a_device(trained, tmp_path, option):
    from tests.data.test_ownfiles import write_csv

    write_csv(tmp_path / "test.csv", n=5, labelled=False)
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    image = tmp_path / "d.png"
    from tests.test_preprocess import png_bytes, stroke_image

    image.write_bytes(png_bytes(stroke_image()))
    source = tmp_path / "test.csv" if option == "--submission" else image
    result = invoke("predict", trained, source, option, fifo, "--force")
    assert_one_line_error(result, "named pipe", "not a file to replace")
    assert fifo.is_fifo()


def test_exports_sidecar_follows_the_overwrite_rule(trained, tmp_path):
    out = tmp_path / "m.onnx"
    sidecar = tmp_path / "m.onnx.json"
    sidecar.write_text("mine")
    assert_one_line_error(invoke("export", trained, "--format", "onnx", "--out", out, "--check", "10"), "sidecar",
                          "--force")
    assert sidecar.read_text() == "mine" and not out.exists()


def test_a_symlink_loop_as_submission_or_input_is_one_line(trained, tmp_path):
    from tests.data.test_ownfiles import write_csv

    write_csv(tmp_path / "test.csv", n=5, labelled=False)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert_one_line_error(invoke("predict", trained, tmp_path / "test.csv", "--submission", loop))
    assert_one_line_error(invoke("predict", trained, loop, "--submission", tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()


def test_serve_refuses_what_it_could_never_serve_before_it_starts(trained, tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_one_line_error(invoke("serve", "--runs", afile), "--runs", "not a folder")
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    assert_one_line_error(invoke("serve", fifo), "named pipe")


def test_an_empty_py_says_it_defines_nothing(tmp_path, idx_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.py").write_text("")
    result = invoke("train", "--model", "empty.py:Net", "--dataset", "idx", "--data-dir", idx_dir, "--max-steps", "2")
    assert_one_line_error(result, "defines no class or function 'Net'")


def test_import_mindspore_names_its_own_option(tmp_path):
    from digitlab.interop.mindspore import write_ckpt
    from tests.interop.test_mindspore import ms_params

    ckpt = write_ckpt(tmp_path / "l.ckpt", ms_params("lenet5"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    before = hashes(tmp_path / "full")
    line = assert_one_line_error(invoke("import-mindspore", ckpt, "--out", tmp_path / "full"), "--out", "not empty")
    assert "--run-dir" not in line and "--resume" not in line
    assert_nothing_lost(before, tmp_path / "full")


def test_a_sweep_file_that_is_no_file_says_what_it_is(tmp_path):
    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)
    assert_one_line_error(invoke("sweep", "--file", fifo), "named pipe")
    assert_one_line_error(invoke("sweep", "--file", tmp_path), "folder")


def test_a_lessons_out_that_is_a_file_is_refused_before_it_runs(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = invoke("lesson", "run", "linear-sweep", "--out", tmp_path / "afile")
    line = assert_one_line_error(result, "is a file, not a folder")
    assert line and not result.stdout.strip()  # refused before the lesson printed anything


def test_an_idx_file_that_is_a_pipe_is_named_as_one_not_missing(tmp_path, idx_dir):
    import shutil

    folder = tmp_path / "digits"
    shutil.copytree(idx_dir, folder)
    target = next(p for p in folder.iterdir() if "t10k-images" in p.name)
    target.unlink()
    os.mkfifo(target)
    proc = run_cli("train", "--dataset", "idx", "--data-dir", folder, "--max-steps", "2", timeout=60)
    line = assert_one_line_error_proc(proc, "named pipe", target.name)
    assert "missing" not in line
