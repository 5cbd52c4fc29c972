"""Against a real uvicorn on loopback: one client's big images do not stall anyone else; the Host check holds."""

import http.client
import json
import threading

from PIL import Image, ImageDraw

from digitlab.serve.app import create_app
from tests.serve.conftest import live_server
from tests.test_preprocess import png_bytes


def big_png() -> bytes:
    """40 megapixels (within the limit) of paper with one stroke: a PNG of a few tens of KB."""
    img = Image.new("L", (6000, 6600), 255)
    ImageDraw.Draw(img).rectangle((2800, 1200, 3300, 5400), fill=0)
    return png_bytes(img)


def get(port: int, path: str, host: str = "localhost") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_healthz_answers_while_big_images_are_decoded(runs_root):
    data = big_png()
    assert len(data) < 2 * 1024 * 1024
    app = create_app(runs_root, workers=2)
    with live_server(app) as port:
        get(port, "/healthz")
        statuses: list[int] = []

        def post() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("POST", "/api/predict", body=data, headers={"Host": "localhost", "Content-Type": "image/png"})
            statuses.append(conn.getresponse().status)
            conn.close()

        posts = [threading.Thread(target=post) for _ in range(6)]
        for t in posts:
            t.start()
        busy_answers, most_running = 0, 0
        while any(t.is_alive() for t in posts):
            status, body = get(port, "/healthz")
            assert status == 200
            running = body["workers"]["running"]
            most_running = max(most_running, running)
            # healthz answered while decoding was in progress in the workers: the event loop is free
            busy_answers += running > 0 and any(t.is_alive() for t in posts)
        for t in posts:
            t.join()
    assert statuses == [200] * 6
    assert busy_answers >= 3
    assert most_running <= 2  # the pool is the bound: never more decodes at once than workers


def test_host_check_over_http(runs_root):
    with live_server(create_app(runs_root)) as port:
        assert get(port, "/healthz", "localhost:1")[0] == 200
        assert get(port, "/healthz", "[::1]:8000")[0] == 200
        status, body = get(port, "/api/runs", "rebind.attacker.example")
        assert status == 403 and "rebind.attacker.example" in body["detail"]
