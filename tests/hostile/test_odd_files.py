"""Hostile class 3 (round two): odd files and names. A device (/dev/zero) or a named pipe nobody writes given as an
image, a config, a checkpoint or a CSV (bounded, never a hang: each runs in a capped, timed process); symlink loops
and links to devices in a `predict` folder; a PNG with a giant text chunk; a multi-page TIFF; run names with
newlines, a leading dash, 250+ byte components; a run folder on a read-only mount; lessons' `--csv` with a BOM,
wrong columns, non-numbers, NaN, only a header; `--out` that is a file."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.hostile.conftest import (
    assert_nothing_lost,
    assert_ok,
    assert_one_line_error,
    assert_one_line_error_proc,
    error_lines,
    hashes,
    invoke,
    run_cli,
    train_args,
)
from tests.test_preprocess import png_bytes, stroke_image

GOOD = png_bytes(stroke_image())


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# ------------------------------------------------------------------------------------- devices and named pipes
@pytest.mark.slow
def test_predict_a_device_and_a_fifo_beside_a_good_image(trained, tmp_path):
    """`predict RUN /dev/zero` once read 24 GB until the OOM killer came; `predict RUN fifo.png` hung forever. Now
    each is one line naming it (what it is), and the good image beside them is still answered."""
    good = tmp_path / "good.png"
    good.write_bytes(GOOD)
    fifo = _fifo(tmp_path / "fifo.png")
    before = hashes(trained)
    proc = run_cli("predict", trained, "/dev/zero", fifo, good, "--device", "cpu", "--json", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert [r["file"] for r in __import__("json").loads(proc.stdout)] == [str(good)]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), lines
    assert "/dev/zero" in lines[0] and "character device" in lines[0]
    assert str(fifo) in lines[1] and "named pipe" in lines[1]
    assert_nothing_lost(before, trained)


@pytest.mark.slow
def test_predict_only_a_fifo_is_one_line(trained, tmp_path):
    proc = run_cli("predict", trained, _fifo(tmp_path / "fifo.png"), "--device", "cpu", timeout=60)
    assert_one_line_error_proc(proc, "fifo.png", "not a file saved on disk")


BOUNDED_READS = """
import sys
from digitlab import config
from digitlab.errors import DigitlabError
from digitlab.interop.mindspore import read_ckpt
from digitlab.lessons.diabetes_data import load_csv
from digitlab.checkpoint import read_weights
for name, read in [("config", config.load_toml), ("checkpoint", read_weights), ("mindspore", read_ckpt),
                   ("csv", load_csv)]:
    for target in sys.argv[1:]:
        try:
            read(target)
            print(name, target, "READ")
        except DigitlabError as exc:
            print(name, target, "REFUSED", str(exc).replace("\\n", " "))
"""


@pytest.mark.slow
def test_every_other_user_file_read_is_bounded(tmp_path):
    """/dev/zero and a FIFO nobody writes as a config, a checkpoint, a MindSpore file and the lessons' CSV: each
    refused at once (one capped, timed process for all eight, so a hang or an unbounded read fails the test)."""
    import resource
    import subprocess
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    fifo = _fifo(tmp_path / "pipe")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", BOUNDED_READS, "/dev/zero", str(fifo)], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 8 and all(" REFUSED " in line for line in lines), lines


def test_read_limited_bounds_a_file_that_says_nothing_of_its_size(tmp_path):
    """/proc files report a size of 0; a regular file is still read only up to the limit."""
    from digitlab.errors import DataError
    from digitlab.io import read_limited

    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(DataError, match="over the"):
        read_limited(big, 4096, DataError)
    assert read_limited(big, 5000, DataError) == b"x" * 5000
    assert read_limited("/proc/self/status", 1 << 20, DataError).startswith(b"Name:")


# ------------------------------------------------------------------------------------- folders given to predict
def test_predict_folder_with_symlink_loop_and_links_to_devices(trained, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "good.png").write_bytes(GOOD)
    (folder / "loop.png").symlink_to(folder / "loop.png")  # a link to itself: ELOOP
    (folder / "a.png").symlink_to(folder / "b.png")
    (folder / "b.png").symlink_to(folder / "a.png")
    (folder / "zero.png").symlink_to("/dev/zero")
    _fifo(tmp_path / "fifo")
    (folder / "fifo.png").symlink_to(tmp_path / "fifo")
    (folder / "outside.png").symlink_to(tmp_path / "elsewhere.png")  # dangling, outside the folder
    result = invoke("predict", trained, folder, "--device", "cpu", "--json")
    assert_ok(result)
    assert [r["file"] for r in __import__("json").loads(result.stdout)] == [str(folder / "good.png")]


def test_predict_a_named_symlink_loop_is_one_line(trained, tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    assert_one_line_error(invoke("predict", trained, loop, "--device", "cpu"), "loop.png")


# ------------------------------------------------------------------------------------- odd image files
def _png_with_text(size: int, compressed: bool) -> bytes:
    """A good PNG with one tEXt (or zTXt) chunk of `size` bytes of text inserted after its header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    text = b"Comment\x00" + (b"\x00" + zlib.compress(b"A" * size) if compressed else b"A" * size)
    ihdr_end = 8 + 8 + 13 + 4
    return GOOD[:ihdr_end] + chunk(b"zTXt" if compressed else b"tEXt", text) + GOOD[ihdr_end:]


@pytest.mark.parametrize("compressed", [False, True], ids=["tEXt-15MB", "zTXt-bomb-200MB"])
def test_png_with_a_giant_text_chunk(trained, tmp_path, compressed):
    image = tmp_path / "texty.png"
    image.write_bytes(_png_with_text(200_000_000 if compressed else 15_000_000, compressed))
    result = invoke("predict", trained, image, "--device", "cpu", "--json")
    if result.exit_code == 0:  # the text is ignored and the digit read
        assert "texty.png" in result.stdout
    else:
        assert_one_line_error(result, "texty.png")


def test_multi_page_tiff_predicts_its_first_page(trained, tmp_path):
    first = stroke_image()
    blank = Image.new("L", first.size, 255)
    buf = io.BytesIO()
    first.save(buf, format="TIFF", save_all=True, append_images=[blank, blank])
    image = tmp_path / "pages.tiff"
    image.write_bytes(buf.getvalue())
    assert Image.open(image).n_frames == 3
    assert_ok(invoke("predict", trained, image, "--device", "cpu"))


# ------------------------------------------------------------------------------------- odd run names and places
@pytest.mark.parametrize("name", ["with space", "new\nline", "-leading-dash", "tab\there"])
def test_odd_run_names_train_and_list(idx_dir, tmp_path, name):
    run = tmp_path / "runs" / name
    result = invoke(*train_args(idx_dir, run, "--max-steps", "1"))
    assert_ok(result)
    assert (run / "checkpoints").is_dir()
    listed = invoke("runs", "--root", run.parent, "--json")
    assert_ok(listed)
    assert name in listed.stdout or repr(name)[1:-1] in listed.stdout


def test_run_name_over_255_bytes_is_one_line(idx_dir, tmp_path):
    name = "é" * 130  # 260 bytes in UTF-8
    result = invoke(*train_args(idx_dir, tmp_path / name, "--max-steps", "1"))
    assert_one_line_error(result, "too long")
    assert not any(tmp_path.iterdir())


def test_name_option_with_a_leading_dash_or_separator(idx_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_RUNS", str(tmp_path / "runs"))
    base = ["train", "--dataset", "idx", "--data-dir", idx_dir, "--device", "cpu", "--max-steps", "1"]
    assert_ok(invoke(*base, "--name=-dash"))
    assert (tmp_path / "runs" / "-dash" / "checkpoints").is_dir()
    result = invoke(*base, "--name", "../escape")
    if result.exit_code == 0:  # taken as a path: it must then stay a real folder that was asked for
        assert (tmp_path / "escape" / "checkpoints").is_dir()
    else:
        assert_one_line_error(result)


@contextlib.contextmanager
def read_only_copy(run: Path, mount: Path):
    """`run` copied onto a tmpfs mounted read-only at `mount`; skips where mounting is not allowed."""
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        shutil.copytree(run, mount / run.name)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, capture_output=True)
        yield mount / run.name
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_run_folder_on_a_read_only_mount(trained, idx_dir, tmp_path):
    with read_only_copy(trained, tmp_path / "ro") as run:
        before = hashes(run)
        assert_ok(invoke("eval", run, "--data-dir", idx_dir, "--device", "cpu", "--json"))  # reading works
        assert_ok(invoke("runs", "--root", run.parent))
        assert "read-only" in assert_one_line_error(invoke("plot", run, "--out", run / "again.png")).lower()
        resumed = invoke("train", "--resume", run, "--epochs", "2", "--data-dir", idx_dir, "--device", "cpu")
        assert_one_line_error(resumed)
        assert_nothing_lost(before, run)


# ------------------------------------------------------------------------------------- lessons' --csv
CSVS = {
    "bom-header": ("\ufeffa,b,label\n1,2,0\n3,4,1\n", None),
    "wrong-columns": ("1,2,0\n3,4\n", "columns"),
    "not-numbers": ("1,2,0\nx,y,z\n", "not a number"),
    "nan": ("1,2,0\nnan,4,1\n", "NaN"),
    "only-header": ("a,b,label\n", "no data rows"),
    "binary": ("\x00\x01\x02" * 100, None),
}


@pytest.mark.parametrize("case", sorted(CSVS))
def test_lesson_csv_junk(tmp_path, case):
    text, words = CSVS[case]
    csv = tmp_path / "table.csv"
    csv.write_text(text, encoding="utf-8")
    result = invoke("lesson", "run", "diabetes", "--csv", csv, "--epochs", "1", "--out", tmp_path / "out")
    if case == "bom-header":
        assert_ok(result)
    else:
        assert_one_line_error(result, *(w for w in [words] if w), "table.csv")


def test_out_that_is_a_file_is_never_replaced(trained, tmp_path):
    out = tmp_path / "curves.png"
    out.write_bytes(b"mine")
    assert "--force" in assert_one_line_error(invoke("plot", trained, "--out", out))
    assert out.read_bytes() == b"mine"
    assert error_lines(invoke("plot", trained, "--out", out, "--force")) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["metrics.jsonl", "run.json", "losses.f32"])
def test_run_folder_file_replaced_by_a_fifo(trained, tmp_path, name):
    """A run folder's own record replaced by a named pipe nobody writes: `runs` lists the run (marked or not) and
    `plot` answers in one line or draws; nothing waits on the pipe."""
    run = shutil.copytree(trained, tmp_path / "runs" / "odd")
    (run / name).unlink(missing_ok=True)
    _fifo(run / name)
    listed = run_cli("runs", "--root", run.parent, "--json", timeout=60)
    assert listed.returncode == 0 and "odd" in listed.stdout, listed.stderr
    plotted = run_cli("plot", run, "--out", tmp_path / "p.png", timeout=60)
    if plotted.returncode:
        assert_one_line_error_proc(plotted, name)
