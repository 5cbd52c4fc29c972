"""Hostile class 6: a fuzzed API, over a real uvicorn on 127.0.0.1. Schemathesis drives every operation of the app's
own /openapi.json with bounded examples (property-based: query values, path names, bodies of every documented media
type): every answer is a status that operation documents, errors carry a JSON one-line `detail`, never a 500, and
/healthz answers throughout. Then the hand-made cases: huge headers, a bad Content-Type, multipart with 1,000 parts or
no boundary, duplicate `file` fields, top_k of -1/0/11/10^20, run names with %00 and unicode; a 30 MB upload (chunked
and sized) gets its 413 rather than a reset; `serve RUN` with a run outside the runs folder shows it on the page's
menu and /runs."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digitlab.serve.app import create_app
from tests.hostile.conftest import assert_nothing_lost, hashes
from tests.serve.conftest import live_server
from tests.test_preprocess import png_bytes, stroke_image

DIGIT = png_bytes(stroke_image())
EXAMPLES = 100  # per operation: the whole fuzz stays within about 20 s on 2 busy cores


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """One live server for the module over a runs folder holding the tiny run: (port, runs root)."""
    root = tmp_path_factory.mktemp("api-runs")
    shutil.copytree(trained, root / "tiny")
    with live_server(create_app(root, workers=2)) as port:
        yield port, root


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": "localhost", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def one_line_detail(status: int, body: bytes, root: Path) -> str:
    assert 400 <= status < 500, (status, body[:300])
    detail = json.loads(body)["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, detail
    assert str(root) not in detail and "/tmp/" not in detail, detail
    return detail


class Heartbeat:
    """/healthz polled from another thread while the fuzzer runs: every answer must be a 200 within 5 s."""

    def __init__(self, port: int) -> None:
        self.port, self.answers, self.failures, self.stop = port, 0, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, _ = request(self.port, "GET", "/healthz", timeout=5)
                self.answers += 1
                if status != 200:
                    self.failures.append(status)
            except OSError as exc:
                self.failures.append(repr(exc))
            self.stop.wait(0.1)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.mark.slow
def test_fuzzed_api_from_its_own_openapi(served):
    schemathesis = pytest.importorskip("schemathesis")  # a dev dependency; the hand-made cases below need none
    from hypothesis import HealthCheck, Phase, given, settings

    port, root = served
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/healthz", "/api/runs", "/api/runs/{name}", "/api/predict"}
    before = hashes(root)
    seen: dict[str, set[int]] = {}

    def fuzzer(op):
        documented = {int(code) for code in op.definition.raw["responses"]}

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def fuzz(case):
            response = case.call(headers={"Host": "localhost"}, timeout=30)
            status = response.status_code
            seen.setdefault(op.label, set()).add(status)
            assert status < 500, (op.label, status, response.text[:300])
            assert status in documented, (op.label, status, sorted(documented), response.text[:300])
            if status >= 400:
                one_line_detail(status, response.content, root)

        return fuzz

    with Heartbeat(port) as beat:
        for op in operations:
            fuzzer(op)()
    assert beat.answers >= 3 and not beat.failures, beat.failures
    assert_nothing_lost(before, root)
    assert any(400 <= s < 500 for s in seen.get("POST /api/predict", ())), seen  # the fuzzer did reach the errors


HUGE_HEADER = {"X-Junk": "a" * 200_000}
MANY_HEADERS = {f"X-H{i}": "v" for i in range(2000)}


@pytest.mark.parametrize("headers", [HUGE_HEADER, MANY_HEADERS], ids=["one-200KB-header", "2000-headers"])
def test_huge_headers_are_refused_and_the_server_lives(served, headers):
    port, _ = served
    try:
        status, _ = request(port, "POST", "/api/predict", DIGIT, {"Content-Type": "image/png", **headers})
        assert status < 500 or status == 431, status
    except (ConnectionError, http.client.HTTPException):
        pass  # the HTTP parser may drop such a request; what matters is that the server goes on
    assert request(port, "GET", "/healthz")[0] == 200


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "BOUNDARY") -> bytes:
    out = b""
    for name, data in parts:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


CASES = {  # name -> (content type, body, expected statuses)
    "content-type-nonsense": ("no/such;;;=", DIGIT, {200, 415}),
    "content-type-json-but-png": ("application/json", DIGIT, {400}),
    "json-not-base64": ("application/json", b'{"image": "%%%"}', {400}),
    "json-list": ("application/json", b"[1, 2, 3]", {400}),
    "multipart-no-boundary": ("multipart/form-data", _multipart([("file", DIGIT)]), {400}),
    "multipart-wrong-boundary": ("multipart/form-data; boundary=OTHER", _multipart([("file", DIGIT)]), {400}),
    "multipart-1000-parts": ("multipart/form-data; boundary=BOUNDARY",
                             _multipart([(f"f{i}", b"x") for i in range(1000)]), {400}),
    "multipart-duplicate-file": ("multipart/form-data; boundary=BOUNDARY",
                                 _multipart([("file", DIGIT), ("file", DIGIT)]), {400}),
    "multipart-no-file-field": ("multipart/form-data; boundary=BOUNDARY", _multipart([("image", DIGIT)]), {400}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hand_made_bodies(served, case):
    port, root = served
    kind, body, expected = CASES[case]
    status, answer = request(port, "POST", "/api/predict?run=tiny", body, {"Content-Type": kind})
    if status != 200:
        one_line_detail(status, answer, root)
    assert status in expected, (status, answer[:300])


@pytest.mark.parametrize("top_k", ["-1", "0", "11", "100000000000000000000", "3.5", "nan", ""])
def test_top_k_out_of_range(served, top_k):
    port, root = served
    status, answer = request(port, "POST", f"/api/predict?run=tiny&top_k={top_k}", DIGIT, {"Content-Type": "image/png"})
    assert "top_k" in one_line_detail(status, answer, root) and status == 422


@pytest.mark.parametrize("name", ["nul%00x", "%00", "%E6%95%B0%E5%AD%97", "r%C3%A9sum%C3%A9", "%F0%9F%98%80",
                                  "%FF%FE", "tiny%00"])
def test_run_names_with_nul_and_unicode(served, name):
    port, root = served
    for method, path in (("GET", f"/api/runs/{name}"), ("POST", f"/api/predict?run={name}")):
        status, answer = request(port, method, path, DIGIT if method == "POST" else None, {"Content-Type": "image/png"})
        assert status in (400, 404), (path, status, answer[:200])
        one_line_detail(status, answer, root)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "sized"])
def test_30mb_upload_gets_its_413_not_a_reset(served, chunked):
    """http.client sends the whole body before it reads the answer, as curl and requests do: the server must read
    and drop the rest (up to its drain bound) and answer 413, not close the connection under the client."""
    port, root = served
    size = 30 * 1024 * 1024
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        if chunked:
            piece = b"\x00" * (256 * 1024)
            conn.request("POST", "/api/predict", body=(piece for _ in range(size // len(piece))), encode_chunked=True,
                         headers={"Host": "localhost", "Content-Type": "image/png"})
        else:
            conn.request("POST", "/api/predict", body=b"\x00" * size,
                         headers={"Host": "localhost", "Content-Type": "image/png"})
        response = conn.getresponse()
        status, answer = response.status, response.read()
    finally:
        conn.close()
    assert status == 413
    assert "2 MB" in one_line_detail(status, answer, root)
    assert request(port, "GET", "/healthz")[0] == 200


def test_serve_a_run_outside_the_runs_folder_lists_it(trained, tmp_path):
    """`serve RUN` with RUN outside runs/: the page's menu (/api/runs) and /runs show it, and it answers by name."""
    elsewhere = tmp_path / "elsewhere" / "my-run"
    shutil.copytree(trained, elsewhere)
    empty_root = tmp_path / "runs"
    with live_server(create_app(empty_root, elsewhere)) as port:
        status, body = request(port, "GET", "/api/runs")
        listing = json.loads(body)
        assert status == 200 and [r["run"] for r in listing["runs"]] == ["my-run"] and listing["default"] == "my-run"
        assert "error" not in listing["runs"][0] and listing["runs"][0]["model"] == "mlp"
        assert str(elsewhere) not in body.decode()
        status, body = request(port, "GET", "/api/runs/my-run")
        assert status == 200 and json.loads(body)["run"] == "my-run"
        status, body = request(port, "POST", "/api/predict?run=my-run", DIGIT, {"Content-Type": "image/png"})
        assert status == 200 and json.loads(body)["run"] == "my-run"
        assert request(port, "GET", "/api/runs/other")[0] == 404


def test_serve_outside_run_beside_runs_of_the_folder(trained, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(trained, root / "inside")
    shutil.copytree(trained, tmp_path / "outside")
    with live_server(create_app(root, tmp_path / "outside")) as port:
        names = [r["run"] for r in json.loads(request(port, "GET", "/api/runs")[1])["runs"]]
    assert sorted(names) == ["inside", "outside"]


def test_healthz_answers_during_a_slow_upload(served):
    """A client trickling its body does not hold the event loop: /healthz answers meanwhile."""
    port, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/api/predict", skip_host=True)
    conn.putheader("Host", "localhost")
    conn.putheader("Content-Length", str(len(DIGIT)))
    conn.endheaders()
    conn.send(DIGIT[:100])
    started = time.monotonic()
    assert request(port, "GET", "/healthz", timeout=5)[0] == 200
    assert time.monotonic() - started < 5
    conn.send(DIGIT[100:])
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()
