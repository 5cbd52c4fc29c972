"""Hostile class 4: the web server. Run names too long or with `..`, bodies over 2 MB (sized or chunked), a foreign
Host header, odd and bad images, runs whose checkpoints are damaged (no preprocessing, NaN weights, none at all) or
whose records are damaged. Every answer is below 500 with a one-line `detail` carrying no path of the machine, the
other runs still list and predict, and no file in the runs folder changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from digitlab.serve.app import create_app
from tests.hostile.conftest import assert_nothing_lost, hashes
from tests.serve.conftest import local_client
from tests.test_preprocess import ODD_GOOD, _float_tiff, png_bytes, stroke_image

DIGIT = png_bytes(stroke_image())


def _rewrite_all(run: Path, change_meta=None, change_state=None) -> None:
    import json

    for ckpt in (run / "checkpoints").glob("*.safetensors"):
        with safe_open(str(ckpt), "pt") as fh:
            meta = dict(fh.metadata())
        state = load_file(str(ckpt))
        if change_meta:
            meta["digitlab"] = json.dumps(change_meta(json.loads(meta["digitlab"])))
        if change_state:
            change_state(state)
        save_file(state, str(ckpt), metadata=meta)


@pytest.fixture(scope="module")
def served_root(trained, tmp_path_factory) -> Path:
    """tiny (good), nopre (checkpoints lack preprocessing), nanw (NaN weights), bare (no checkpoints), damaged
    (binary metrics.jsonl, truncated summary.json and run.json)."""
    root = tmp_path_factory.mktemp("served")
    for name in ("tiny", "nopre", "nanw", "bare", "damaged"):
        shutil.copytree(trained, root / name)
    _rewrite_all(root / "nopre", change_meta=lambda m: {k: v for k, v in m.items() if k != "preprocessing"})

    def nan_first(state):
        key = sorted(state)[0]
        state[key] = state[key].clone().fill_(float("nan"))

    _rewrite_all(root / "nanw", change_state=nan_first)
    shutil.rmtree(root / "bare" / "checkpoints")
    (root / "damaged" / "metrics.jsonl").write_bytes(b"\xff\xfe\x00\x80 binary \x81\n" * 20)
    for name in ("summary.json", "run.json"):
        path = root / "damaged" / name
        path.write_bytes(path.read_bytes()[:17])
    return root


@pytest.fixture(scope="module")
def client(served_root):
    return local_client(create_app(served_root), raise_server_exceptions=False)


def one_line_4xx(response, root: Path, status: int | None = None) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert str(root) not in detail and "/tmp/" not in detail  # run names, never paths of the machine
    return detail


LONG = "r" * 300
BAD_NAMES = {"too-long": LONG, "far-too-long": "x" * 5000, "dotdot": "..", "dots-inside": "a..b",
             "encoded-dotdot": "%2e%2e", "hidden": ".hidden", "nul": "nul%00x", "newline": "a%0Ab"}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_bad_run_names(client, served_root, case):
    before = hashes(served_root)
    name = BAD_NAMES[case]
    one_line_4xx(client.get(f"/api/runs/{name}"), served_root)
    one_line_4xx(client.post(f"/api/predict?run={name}", content=DIGIT, headers={"content-type": "image/png"}),
                 served_root)
    assert_nothing_lost(before, served_root)


@pytest.mark.parametrize("run,words", [("nopre", "preprocessing"), ("nanw", "NaN"), ("bare", "checkpoint")])
def test_runs_with_unusable_checkpoints(client, served_root, run, words):
    before = hashes(served_root)
    detail = one_line_4xx(client.post(f"/api/predict?run={run}", content=DIGIT), served_root)
    assert words.lower() in detail.lower() and run in detail
    assert client.post("/api/predict?run=tiny", content=DIGIT).status_code == 200  # the others still answer
    assert_nothing_lost(before, served_root)


def test_listing_marks_damaged_runs_and_lists_the_rest(client, served_root):
    response = client.get("/api/runs")
    assert response.status_code == 200
    assert str(served_root) not in response.text and "/tmp/" not in response.text
    rows = {r["run"]: r for r in response.json()["runs"]}
    assert {"tiny", "damaged"} <= set(rows)
    assert "error" not in rows["tiny"] and rows["tiny"]["model"] == "mlp"
    assert client.get("/api/runs/damaged").status_code < 500


BAD_BODIES = {
    "empty": (b"", 400),
    "text": (b"hello, not an image", 415),
    "truncated-png": (DIGIT[:150], 415),
    "nan-float-tiff": (_float_tiff(nan=True), 422),
    "eps": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415),
    "blank": (png_bytes(stroke_image(box=(0, 0, 0, 0), width=0).point(lambda _: 255)), 422),
    "pixel-bomb-header": (None, 413),
}


def _pixel_bomb() -> bytes:
    """A PNG whose header claims 60000 x 60000 pixels (3.6 gigapixels) followed by almost nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_images(client, served_root, case):
    body, status = BAD_BODIES[case]
    body = _pixel_bomb() if body is None else body
    one_line_4xx(client.post("/api/predict?run=tiny", content=body, headers={"content-type": "image/png"}),
                 served_root, status)


@pytest.mark.parametrize("name", ["cielab-tiff", "i16-png", "cmyk-jpeg", "animated-gif", "float-tiff"])
def test_odd_but_good_images_are_answered(client, name):
    response = client.post("/api/predict?run=tiny", content=ODD_GOOD[name]())
    assert response.status_code == 200, response.text
    assert 0 <= response.json()["prediction"] <= 9


def test_body_over_2mb_sized(client, served_root):
    detail = one_line_4xx(client.post("/api/predict", content=b"\x89PNG" + b"\x00" * (3 * 1024 * 1024)),
                          served_root, 413)
    assert "2 MB" in detail


def test_body_over_2mb_chunked_stops_at_the_limit(client, served_root):
    sent = []

    def chunks():  # no Content-Length: the server must count as it reads, and stop
        for _ in range(64):
            sent.append(1)
            yield b"\x00" * (256 * 1024)

    detail = one_line_4xx(client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"}),
                          served_root, 413)
    assert "2 MB" in detail


@pytest.mark.parametrize("host,ok", [("localhost", True), ("127.0.0.1:8000", True), ("[::1]", True),
                                     ("evil.example", False), ("localhost.evil.example", False),
                                     ("127.0.0.1.nip.io", False)])
def test_host_header(served_root, host, ok):
    client = local_client(create_app(served_root))
    response = client.get("/api/runs", headers={"host": host})
    if ok:
        assert response.status_code == 200
    else:
        one_line_4xx(response, served_root, 403)
