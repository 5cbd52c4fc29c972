from __future__ import annotations

import sys

import pytest

from tests.helpers import write_dataset


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Every test gets its own cache, config (trust list) and runs folder, and never touches the network."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))  # the trust list of recorded model code
    monkeypatch.setenv("DIGITLAB_RUNS", str(home / "runs"))
    monkeypatch.setenv("DIGITLAB_OFFLINE", "1")
    monkeypatch.delenv("DIGITLAB_DATA", raising=False)
    yield home
    # `serve --trust-code` trusts all code for the whole process (the server's threads load models): never past its test
    if (trust := sys.modules.get("digitlab.models.trust")) is not None:
        trust._allow_all = False


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory):
    """A folder with a small synthetic dataset in MNIST's file names (use with --dataset idx)."""
    return write_dataset(tmp_path_factory.mktemp("idx") / "digits", n_train=600, n_test=200)


# Whole files that are slow by nature (processes killed mid-write, a real browser): `make test-fast` leaves them out,
# `make test` runs them. Single slow tests carry @pytest.mark.slow themselves.
SLOW_FILES = ("hostile/test_crash_safety.py", "serve/test_browser.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(tuple(f"tests/{name}" for name in SLOW_FILES)):
            item.add_marker(pytest.mark.slow)
