"""paths: the one rule for run and sweep folder names, and whether a recorded process is alive."""

import os

import pytest

from digitlab import paths


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "x" * 256, "é" * 128])
def test_names_that_are_not_one_folder(name):
    assert paths.folder_name_problem(name)


@pytest.mark.parametrize("name", ["run", "my run", "ünïcode", "-dash", "x" * 255, "a..b"])
def test_names_that_are(name):
    assert paths.folder_name_problem(name) is None


def test_pid_alive():
    assert paths.pid_alive(os.getpid())
    assert not paths.pid_alive(0) and not paths.pid_alive(-5)
    assert paths.pid_alive(2**70)  # a number no kernel has (OverflowError) is not taken for a dead run
