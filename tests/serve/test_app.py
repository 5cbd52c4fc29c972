import base64
import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from digitlab.serve import app as serve_app
from digitlab.serve import catalog
from digitlab.serve.app import create_app
from tests.helpers import synthetic_digits
from tests.serve.conftest import local_client
from tests.test_preprocess import ODD_GOOD, _float_tiff, png_bytes, stroke_image

DIGIT = png_bytes(stroke_image())


def check_prediction(body):
    assert 0 <= body["prediction"] <= 9 and len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) < 1e-3
    assert body["model"] == "mlp" and body["run"] == "tiny" and len(body["top_k"]) == 3
    assert body["input"].startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(body["input"].split(",", 1)[1]))) as im:
        assert im.size == (28, 28)


def test_pages_and_health(client):
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "/static/app.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/runs").status_code == 200
    assert "pointerdown" in client.get("/static/app.js").text
    assert client.get("/static/secret.py").status_code == 404
    assert client.get("/docs").status_code == 200
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]


def test_runs_api(client):
    body = client.get("/api/runs").json()
    assert [r["run"] for r in body["runs"]] == ["tiny"] and body["default"] == "tiny"
    one = client.get("/api/runs/tiny").json()
    assert one["model"] == "mlp" and "loss.png" in one["figures"]
    figure = client.get(one["figures"]["loss.png"])
    assert figure.status_code == 200 and figure.headers["content-type"] == "image/png"
    assert client.get("/api/runs/nope").status_code == 404
    assert client.get("/api/runs/tiny/figures/config.toml").status_code == 404


@pytest.mark.parametrize("name", ["..", "a..b", "%2e%2e", ".hidden"])
def test_bad_run_names(client, name):
    response = client.get(f"/api/runs/{name}")
    assert 400 <= response.status_code < 500
    response = client.post(f"/api/predict?run={name}", files={"file": ("d.png", DIGIT, "image/png")})
    assert response.status_code == 400 and "run name" in response.json()["detail"]


def test_predict_three_ways(client):
    check_prediction(client.post("/api/predict", files={"file": ("d.png", DIGIT, "image/png")}).json())
    check_prediction(client.post("/api/predict", content=DIGIT, headers={"content-type": "image/png"}).json())
    b64 = base64.b64encode(DIGIT).decode()
    check_prediction(client.post("/api/predict", json={"image": b64}).json())
    check_prediction(client.post("/api/predict?run=tiny", json={"image": "data:image/png;base64," + b64}).json())


@pytest.mark.parametrize("kwargs,status,words", [
    ({"content": b"hello", "headers": {"content-type": "image/png"}}, 415, "not a readable image"),
    ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "empty"),
    ({"content": b"x" * (3 * 1024 * 1024), "headers": {"content-type": "image/png"}}, 413, "2 MB"),
    ({"json": {"picture": "abc"}}, 400, "JSON body"),
    ({"json": {"image": "%%%not base64"}}, 400, "JSON body"),
    ({"files": {"other": ("d.png", DIGIT, "image/png")}}, 400, "'file' field"),
    ({"content": png_bytes(Image.new("L", (60, 60), 255)), "headers": {"content-type": "image/png"}}, 422, "no digit"),
])
def test_bad_requests_are_4xx_one_line(client, kwargs, status, words):
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert words in detail and "\n" not in detail


def test_pixel_bomb_is_refused(client):
    buf = io.BytesIO()
    Image.new("1", (10000, 10000), 1).save(buf, format="PNG")
    response = client.post("/api/predict", content=buf.getvalue(), headers={"content-type": "image/png"})
    assert response.status_code == 413


def test_unknown_run_is_404(client):
    response = client.post("/api/predict?run=ghost", files={"file": ("d.png", DIGIT, "image/png")})
    assert response.status_code == 404 and "unknown run" in response.json()["detail"]


def test_concurrent_requests_share_one_model(runs_root):
    client = local_client(create_app(runs_root))

    def call(_):
        return client.post("/api/predict", files={"file": ("d.png", DIGIT, "image/png")}).json()["prediction"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(40)))
    assert len(set(answers)) == 1  # same image, same answer, no crosstalk
    assert client.get("/healthz").json()["models_loaded"] == 1


def test_no_runs_yet(tmp_path):
    client = local_client(create_app(tmp_path))
    assert client.get("/api/runs").json() == {"runs": [], "default": None}
    response = client.post("/api/predict", files={"file": ("d.png", DIGIT, "image/png")})
    assert response.status_code == 404 and "digitlab train" in response.json()["detail"]


# ------------------------------------------------------------------------------------------------ hostile cases
def one_line_4xx(response, status=None):
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    return detail


@pytest.mark.parametrize("length", [256, 300, 5000])
def test_over_long_run_names_are_4xx(client, length):
    name = "r" * length
    one_line_4xx(client.get(f"/api/runs/{name}"))
    one_line_4xx(client.get(f"/api/runs/{name}/figures/loss.png"))
    detail = one_line_4xx(client.post(f"/api/predict?run={name}", content=DIGIT,
                                      headers={"content-type": "image/png"}), 400)
    assert "longer than" in detail and len(detail) < 300  # the name is cut, not echoed whole


@pytest.mark.parametrize("name", ["a\nb", "nul\x00x", "con:x", "émoji-🙂", "x" * 255])
def test_odd_run_names_are_4xx(client, name):
    one_line_4xx(client.get("/api/runs/" + quote(name, safe="")))
    one_line_4xx(client.post("/api/predict", params={"run": name}, content=DIGIT,
                             headers={"content-type": "image/png"}))


@pytest.mark.parametrize("name", sorted(ODD_GOOD))
def test_odd_images_are_predicted(client, name):
    response = client.post("/api/predict", content=ODD_GOOD[name](), headers={"content-type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    check_prediction(response.json())


@pytest.mark.parametrize("make,status,words", [
    (lambda: _float_tiff(nan=True), 422, "not numbers"),
    (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415, "not a readable image"),
    (lambda: png_bytes(stroke_image())[:150], 415, "not a readable image"),
    (lambda: png_bytes(Image.new("F", (40, 40), 0.5), "TIFF"), 422, "no digit"),
])
def test_bad_images_are_4xx(client, make, status, words):
    assert words in one_line_4xx(client.post("/api/predict", content=make()), status)


def copy_run(runs_root, tmp_path, name="copy"):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "tiny", root / name)
    return root


def rewrite_metadata(path, change):
    """Rewrite a weights checkpoint's digitlab metadata through `change(info) -> info`."""
    from safetensors.torch import load_file, save_file

    with safe_open(path, "pt") as f:
        meta = f.metadata()
    meta["digitlab"] = json.dumps(change(json.loads(meta["digitlab"])))
    save_file(load_file(path), path, metadata=meta)


@pytest.mark.parametrize("damage", ["no-preprocessing", "preprocessing-not-a-dict", "bad-json", "truncated", "model"])
def test_damaged_checkpoint_is_409_naming_the_run(runs_root, tmp_path, damage):
    root = copy_run(runs_root, tmp_path, "broken")
    for ckpt in (root / "broken" / "checkpoints").glob("*.safetensors"):
        if damage == "no-preprocessing":
            rewrite_metadata(ckpt, lambda info: {k: v for k, v in info.items() if k != "preprocessing"})
        elif damage == "preprocessing-not-a-dict":
            rewrite_metadata(ckpt, lambda info: {**info, "preprocessing": [1, 2]})
        elif damage == "model":
            rewrite_metadata(ckpt, lambda info: {**info, "model": "no-such-model"})
        elif damage == "bad-json":
            data = ckpt.read_bytes()
            ckpt.write_bytes(data.replace(b'"digitlab":"{', b'"digitlab":"!', 1))
        else:
            ckpt.write_bytes(ckpt.read_bytes()[:300])
    client = local_client(create_app(root))
    response = client.post("/api/predict?run=broken", content=DIGIT)
    detail = one_line_4xx(response, 409)
    assert "run 'broken'" in detail and str(tmp_path) not in detail and " /" not in detail
    assert client.get("/healthz").json()["models_loaded"] == 0


def test_run_listing_survives_a_damaged_run(runs_root, tmp_path, monkeypatch):
    root = copy_run(runs_root, tmp_path, "good")
    shutil.copytree(root / "good", root / "bad")
    shutil.copytree(root / "good", root / "binary")
    (root / "binary" / "metrics.jsonl").write_bytes(b"\xff\xfe\x00garbage\x80\x81\n" * 10)
    (root / "binary" / "summary.json").write_bytes(b"\xff\xfe\x00")
    real = catalog.runs.run_row

    def flaky(folder):
        if folder.name == "bad":
            raise OSError(5, "Input/output error", str(folder / "metrics.jsonl"))
        return real(folder)

    monkeypatch.setattr(catalog.runs, "run_row", flaky)
    client = local_client(create_app(root))
    response = client.get("/api/runs")
    assert response.status_code == 200
    rows = {r["run"]: r for r in response.json()["runs"]}
    assert set(rows) == {"good", "bad", "binary"}
    assert "error" in rows["bad"] and "\n" not in rows["bad"]["error"] and str(tmp_path) not in rows["bad"]["error"]
    assert "error" not in rows["good"] and rows["good"]["model"] == "mlp"
    assert response.json()["default"] in ("good", "binary")
    detail = client.get("/api/runs/binary")
    assert detail.status_code == 200 and detail.json()["run"] == "binary"


def test_no_absolute_paths_leave_the_server(client, runs_root):
    for url in ("/api/runs", "/api/runs/tiny"):
        text = client.get(url).text
        assert str(runs_root) not in text and str(runs_root.resolve()) not in text and '"path"' not in text
        assert "/tmp/" not in text and '"run_dir"' not in text
    body = client.get("/api/runs/tiny").json()
    assert body["summary"]["model"] == "mlp" and body["run"] == "tiny"


def test_bad_query_parameter_is_one_line(client):
    detail = one_line_4xx(client.post("/api/predict?top_k=lots", content=DIGIT), 422)
    assert "top_k" in detail


def test_unforeseen_failure_is_a_one_line_500(runs_root, monkeypatch):
    app = create_app(runs_root)
    monkeypatch.setattr(serve_app, "prepare", lambda data: (_ for _ in ()).throw(RuntimeError("boom\nsecret")))
    client = local_client(app, raise_server_exceptions=False)
    response = client.post("/api/predict", content=DIGIT)
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail == "internal error (RuntimeError); the server log has the details"


# ------------------------------------------------------------------------------------------------ batching
def digits_as_png(n):
    images, _ = synthetic_digits(n, seed=7)
    return [png_bytes(Image.fromarray(img).resize((84, 84))) for img in images]


@pytest.mark.parametrize("batch", [True, False])
def test_concurrent_different_digits_each_get_their_own_answer(runs_root, batch):
    pngs = digits_as_png(24)
    reference = local_client(create_app(runs_root, batch=False))
    expected = [reference.post("/api/predict", content=p).json()["probabilities"] for p in pngs]
    assert len({tuple(e) for e in expected}) > 1  # the digits really differ
    client = local_client(create_app(runs_root, batch=batch, max_wait_s=0.02))

    def call(i):
        return i, client.post("/api/predict", content=pngs[i]).json()["probabilities"]

    with ThreadPoolExecutor(12) as pool:
        answers = dict(pool.map(call, list(range(len(pngs))) * 2))
    for i, probs in answers.items():
        assert np.allclose(probs, expected[i], atol=1e-4), i
    health = client.get("/healthz").json()
    assert health["batching"] is batch
    if batch:
        assert health["batches"]["tiny"]["items"] == 2 * len(pngs)
