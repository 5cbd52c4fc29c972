"""Shared for the server tests: one tiny trained run, clients for it, and a real uvicorn on loopback."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.serve.app import create_app


@pytest.fixture(scope="session")
def runs_root(idx_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    result = CliRunner().invoke(cli, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                      "--epochs", "1", "--run-dir", str(root / "tiny")])
    assert result.exit_code == 0, result.output
    return root


def local_client(app, **kwargs) -> TestClient:
    """A test client that calls itself 'localhost' (the Host check refuses TestClient's default 'testserver')."""
    return TestClient(app, base_url="http://localhost", **kwargs)


@pytest.fixture()
def client(runs_root):
    return local_client(create_app(runs_root))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(app) -> Iterator[int]:
    """uvicorn serving `app` on a free 127.0.0.1 port in a thread; yields the port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def serve_process(*args: str) -> Iterator[str]:
    """`digitlab serve ARGS` in its own process on a free 127.0.0.1 port, up and answering /healthz; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("digitlab serve did not come up: " + proc.stdout.read().decode()[-2000:])
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# Debian's Chromium for the real-browser tests (they skip, saying so, where it is not installed)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright, with the flags this closed network needs (no background traffic)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()
