"""`digitlab serve`: its options reach the app (uvicorn itself is replaced by a stub that keeps the app)."""

import pytest
from typer.testing import CliRunner

from digitlab.cli import app as cli
from tests.serve.conftest import local_client


@pytest.fixture()
def served(monkeypatch):
    import uvicorn

    got: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: got.update(app=app, **kwargs))
    return got


def test_serve_options_reach_the_app(served, runs_root):
    from fastapi.testclient import TestClient

    result = CliRunner().invoke(cli, ["serve", "--runs", str(runs_root), "--port", "8123", "--allow-host", "box.lan",
                                      "--no-batch", "--workers", "1", "--timeout", "3", "--threads", "0"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 8123 and served["host"] == "127.0.0.1"
    assert "box.lan" in result.output
    app = served["app"]
    health = TestClient(app, base_url="http://box.lan:8123").get("/healthz").json()
    assert health["batching"] is False and health["workers"]["workers"] == 1
    assert local_client(app).get("/healthz").status_code == 200
    assert TestClient(app, base_url="http://other.lan").get("/healthz").status_code == 403


def test_serve_wildcard_bind_answers_any_host_and_warns(served, runs_root):
    from fastapi.testclient import TestClient

    result = CliRunner().invoke(cli, ["serve", "--runs", str(runs_root), "--host", "0.0.0.0", "--threads", "0"])
    assert result.exit_code == 0, result.output
    assert "no authentication" in result.output and "any Host" in result.output
    assert TestClient(served["app"], base_url="http://192.168.1.9:8000").get("/healthz").status_code == 200
    assert TestClient(served["app"]).get("/healthz").json()["batching"] is True


def test_serve_bad_target_is_one_line(served, tmp_path):
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing"), "--threads", "0"])
    assert result.exit_code != 0 and "error:" in result.output and "Traceback" not in result.output
    assert "app" not in served
