import asyncio
import json
import socket

import pytest

from digitlab.serve.app import create_app
from digitlab.serve.uploads import DRAIN_BYTES
from tests.serve.conftest import live_server

CHUNK = 64 * 1024


def call_streaming(app, chunks: int, content_length: int | None = None) -> tuple[int, dict, int]:
    """Drive the ASGI app with a body of `chunks` x 64 KB sent in pieces; returns (status, body, chunks read)."""
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        if pulled >= chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b"\x89" * CHUNK, "more_body": pulled < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"host", b"localhost"), (b"content-type", b"image/png")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/predict", "raw_path": b"/api/predict", "root_path": "", "query_string": b"",
             "headers": headers, "server": ("localhost", 80), "client": ("127.0.0.1", 5000)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


def test_chunked_body_over_the_limit_is_drained_then_answered_413(tmp_path):
    """An over-limit body is read and dropped to its end (so that a client that sends all before it reads gets the
    413), and the 413 names its size."""
    total = 480  # 30 MB offered without a Content-Length
    status, body, pulled = call_streaming(create_app(tmp_path), total)
    assert status == 413 and "2 MB" in body["detail"] and str(total * CHUNK) in body["detail"]
    assert pulled == total


def test_chunked_body_is_dropped_only_up_to_the_drain_bound(tmp_path):
    total = 2 * DRAIN_BYTES // CHUNK  # twice what the server is willing to read and drop
    status, body, pulled = call_streaming(create_app(tmp_path), total)
    assert status == 413 and "2 MB" in body["detail"]
    assert pulled <= DRAIN_BYTES // CHUNK + 1  # stopped reading at the bound, not at the end


def test_declared_length_over_the_drain_bound_reads_nothing(tmp_path):
    chunks = 2 * DRAIN_BYTES // CHUNK
    status, body, pulled = call_streaming(create_app(tmp_path), chunks, content_length=chunks * CHUNK)
    assert status == 413 and pulled == 0


def recv_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not part:
            break
        data += part
    return data


@pytest.mark.parametrize("chunked", [True, False])
def test_big_upload_over_real_http_gets_413_early(tmp_path, chunked):
    """Over a socket: the server answers 413 and closes while most of a 200 MB upload (over the drain bound) is still
    unsent."""
    total, sent = 200 * 1024 * 1024, 0
    with live_server(create_app(tmp_path)) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
        sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n{framing}\r\n\r\n"
                     .encode())
        piece = b"\x89" * CHUNK
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        try:
            while sent < total:
                sock.sendall(frame)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        reply = recv_all(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < DRAIN_BYTES + total // 4  # the server stopped reading at the drain bound: the rest was not sent
