import asyncio
import threading
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from digitlab.serve.limits import LOOPBACK_HOSTS, HostCheck, WorkerPool, allowed_hosts, host_name, run_name, scrub_paths


@pytest.mark.parametrize("header,name", [("localhost:8000", "localhost"), ("LOCALHOST", "localhost"),
                                         ("[::1]:8000", "::1"), ("[::1]", "::1"), ("127.0.0.1:80", "127.0.0.1"),
                                         ("evil.example:8000", "evil.example"), ("", "")])
def test_host_name(header, name):
    assert host_name(header) == name


def test_allowed_hosts_like_jupyter():
    assert allowed_hosts("127.0.0.1") == LOOPBACK_HOSTS
    assert allowed_hosts("192.168.1.5") == LOOPBACK_HOSTS | {"192.168.1.5"}
    assert allowed_hosts("127.0.0.1", ["Box.Lan:8000"]) == LOOPBACK_HOSTS | {"box.lan"}
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("::") is None  # bound to every interface: any name
    assert allowed_hosts("127.0.0.1", ["*"]) is None


def host_app(hosts):
    app = FastAPI()
    app.add_middleware(HostCheck, hosts=hosts)

    @app.get("/x")
    def x() -> dict:
        return {"ok": True}

    return app


@pytest.mark.parametrize("base,status", [("http://localhost", 200), ("http://127.0.0.1:8000", 200),
                                         ("http://[::1]:8000", 200), ("http://evil.example", 403),
                                         ("http://localhost.evil.example", 403), ("http://127.0.0.1.nip.io", 403)])
def test_host_check(base, status):
    response = TestClient(host_app(LOOPBACK_HOSTS), base_url=base).get("/x")
    assert response.status_code == status
    if status == 403:
        detail = response.json()["detail"]
        assert "--allow-host" in detail and "\n" not in detail


def test_host_check_raw_headers():
    client = TestClient(host_app(LOOPBACK_HOSTS), base_url="http://localhost")
    assert client.get("/x", headers={"host": "attacker.example"}).status_code == 403
    assert client.get("/x", headers={"host": "localhost:1234"}).status_code == 200
    assert TestClient(host_app(None), base_url="http://anything.example").get("/x").status_code == 200
    assert TestClient(host_app(frozenset({"box.lan"})), base_url="http://box.lan:9").get("/x").status_code == 200


@pytest.mark.parametrize("name", ["", "..", "a/b", "a\\b", ".hidden", "x\x00", "r" * 256, "é" * 128])
def test_run_name_refuses(name):
    with pytest.raises(HTTPException) as info:
        run_name(name)
    assert info.value.status_code == 400 and "\n" not in info.value.detail and len(info.value.detail) < 200


def test_run_name_accepts():
    assert run_name("lenet5-20261126-101010") == "lenet5-20261126-101010"
    assert run_name("r" * 255) == "r" * 255


def test_scrub_paths(tmp_path):
    root = tmp_path / "runs"
    text = f"{root}/tiny/checkpoints/best.safetensors: damaged; also /etc/secret/file.txt and 3/4"
    assert scrub_paths(text, root) == "tiny/checkpoints/best.safetensors: damaged; also file.txt and 3/4"
    assert str(tmp_path) not in scrub_paths(str(Path(tmp_path, "x")), root)


def test_worker_pool_time_limit_and_bound():
    pool = WorkerPool(workers=1, timeout_s=0.2)
    gate = threading.Event()

    def slow() -> str:
        gate.wait(5)
        return "done"

    async def scenario():
        running = asyncio.ensure_future(pool.run(slow))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(pool.run(lambda: "never"))  # behind the slow job in the one worker
        results = await asyncio.gather(running, queued, return_exceptions=True)
        return results

    try:
        first, second = asyncio.run(scenario())
        assert isinstance(first, HTTPException) and first.status_code == 504
        assert isinstance(second, HTTPException) and second.status_code == 503
        assert pool.stats()["waiting"] == 0  # the cancelled job gave its place back
        gate.set()
        deadline = time.monotonic() + 5
        while pool.stats()["running"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.stats() == {"workers": 1, "running": 0, "waiting": 0}
        assert asyncio.run(pool.run(lambda: 41 + 1)) == 42
    finally:
        gate.set()
        pool.close()


def test_worker_pool_refuses_when_too_many_wait():
    pool = WorkerPool(workers=1, timeout_s=5, max_waiting=2)
    gate = threading.Event()

    async def scenario():
        jobs = [asyncio.ensure_future(pool.run(gate.wait, 5)) for _ in range(4)]
        await asyncio.sleep(0.1)
        gate.set()
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(scenario())
        refused = [r for r in results if isinstance(r, HTTPException)]
        assert len(refused) >= 1 and all(r.status_code == 503 for r in refused)
        assert any(r is True for r in results)
    finally:
        gate.set()
        pool.close()
