import base64
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from digitlab.cli import app as cli
from digitlab.serve.app import create_app
from tests.test_preprocess import png_bytes, stroke_image


@pytest.fixture(scope="module")
def runs_root(idx_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    result = CliRunner().invoke(cli, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                      "--epochs", "1", "--run-dir", str(root / "tiny")])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture()
def client(runs_root):
    return TestClient(create_app(runs_root))


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
    client = TestClient(create_app(runs_root))

    def call(_):
        return client.post("/api/predict", files={"file": ("d.png", DIGIT, "image/png")}).json()["prediction"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(40)))
    assert len(set(answers)) == 1  # same image, same answer, no crosstalk
    assert client.get("/healthz").json()["models_loaded"] == 1


def test_no_runs_yet(tmp_path):
    client = TestClient(create_app(tmp_path))
    assert client.get("/api/runs").json() == {"runs": [], "default": None}
    response = client.post("/api/predict", files={"file": ("d.png", DIGIT, "image/png")})
    assert response.status_code == 404 and "digitlab train" in response.json()["detail"]
