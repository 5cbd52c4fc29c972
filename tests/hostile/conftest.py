"""The hostile battery's shared pieces: one CLI runner, the one-line-error check, and "nothing saved was lost".

Every case asserts three things: the exit status (non-zero for a mistake), that the command said so in ONE line
(`error: ...`, no traceback, no multi-line panel), and that no file digitlab had already saved changed (byte hashes
of the run folders and outputs before and after). Trained runs are built once per module (module-scoped fixtures).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from digitlab.cli import app

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result: Result, *words: str, code: int | None = None) -> str:
    """A refused command: non-zero exit (exactly `code` when given), no traceback, and stderr is exactly one line,
    `error: ...`, containing each of `words` (case-insensitive). Returns that line."""
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}\nexception: {result.exception!r}"
    assert result.exit_code != 0, shown
    if code is not None:
        assert result.exit_code == code, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown  # no escaped exception
    assert "Traceback" not in result.output, shown
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for word in words:
        assert word.lower() in lines[0].lower(), shown
    return lines[0]


def assert_ok(result: Result) -> None:
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}\nexception: {result.exception!r}"
    assert result.exit_code == 0 and result.exception is None, shown
    assert "Traceback" not in result.output, shown


def hashes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under each root (or of the root itself, when it is a file), keyed by path."""
    out: dict[str, str] = {}
    for root in roots:
        files: Iterable[Path] = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_nothing_lost(before: dict[str, str], *roots: Path) -> None:
    """Every file hashed before is still there, byte for byte (new files may appear; none changed or vanished)."""
    after = hashes(*roots)
    lost = [p for p in before if p not in after]
    changed = [p for p in before if p in after and after[p] != before[p]]
    assert not lost and not changed, f"lost: {lost}; changed: {changed}"


def train_args(idx_dir: Path, run_dir: Path, *extra: str | Path) -> list[str | Path]:
    """A tiny, fast training run on the synthetic IDX data (about 10 steps an epoch)."""
    return ["train", "--dataset", "idx", "--data-dir", idx_dir, "--device", "cpu", "--epochs", "1",
            "--batch-size", "64", "--lr", "0.05", "--run-dir", run_dir, *extra]


@pytest.fixture(scope="module")
def trained(idx_dir, tmp_path_factory) -> Path:
    """One tiny finished run (mlp, 1 epoch) for the whole module; tests copy it before damaging anything."""
    run = tmp_path_factory.mktemp("hostile-runs") / "tiny"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIGITLAB_OFFLINE", "1")
        mp.setenv("XDG_CACHE_HOME", str(run.parent / "cache"))
        result = invoke(*train_args(idx_dir, run))
    assert_ok(result)
    return run


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def run_cli(*args: str | Path, timeout: float = 60, memory_gb: int = 4, env: dict | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`digitlab ARGS` in a fresh process that cannot hang the suite (killed after `timeout` s: the test then fails)
    nor exhaust the machine (its address space is capped at `memory_gb`: an unbounded read dies with MemoryError)."""
    import os
    import resource
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_gb << 30, memory_gb << 30))

    src = str(Path(__file__).resolve().parents[2] / "src")
    full_env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    try:
        return subprocess.run([sys.executable, "-m", "digitlab", *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, preexec_fn=cap, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"digitlab {' '.join(map(str, args))} still running after {timeout} s (a hang): {exc.stderr!r}")


def assert_one_line_error_proc(proc: subprocess.CompletedProcess, *words: str) -> str:
    """assert_one_line_error for a finished process."""
    shown = f"exit {proc.returncode}\nstdout: {proc.stdout!r}\nstderr: {proc.stderr!r}"
    assert proc.returncode not in (0, None) and proc.returncode > 0, shown  # < 0: killed by a signal
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for word in words:
        assert word.lower() in lines[0].lower(), shown
    return lines[0]
