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


@pytest.fixture()
def fresh_user_modules(monkeypatch):
    from digitlab.models import user

    monkeypatch.setattr(user, "_LOADED", {})
    monkeypatch.setattr(user, "_OBJECT_CODES", {})
    monkeypatch.setattr(user, "_NAMED", set())


def notes(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("note:")]


def test_serve_says_at_start_which_runs_answer_409_for_untrusted_code(served, idx_dir, tmp_path, monkeypatch,
                                                                      fresh_user_modules):
    import shutil

    from tests.models import user_nets

    net = tmp_path / "my_net.py"
    net.write_text(user_nets.CLASS)
    root = tmp_path / "runs"
    trained = CliRunner().invoke(cli, ["train", "--dataset", "idx", "--data-dir", str(idx_dir), "--device", "cpu",
                                       "--max-steps", "3", "--model", f"{net}:Network", "--run-dir",
                                       str(root / "mine")])
    assert trained.exit_code == 0, trained.output
    serve = ["serve", "--runs", str(root), "--threads", "0"]
    trusted = CliRunner().invoke(cli, serve)  # this user trained it: its code is on their trust list
    assert trusted.exit_code == 0, trusted.output
    assert notes(trusted) == [] and "serving on" in trusted.output

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-user"))  # another user: an empty trust list
    one = CliRunner().invoke(cli, serve)
    assert one.exit_code == 0, one.output
    assert notes(one) == [f"note: run mine: its model code is not trusted here, so it answers 409 until you read it "
                          f"(`digitlab trust {root / 'mine'} --show`) and trust it (`digitlab trust {root / 'mine'}`), "
                          "or serve with --trust-code"]
    lines = one.output.splitlines()
    assert lines.index(notes(one)[0]) > next(i for i, line in enumerate(lines) if "serving on" in line)
    assert "app" in served  # it still serves

    shutil.copytree(root / "mine", root / "yours")
    two = CliRunner().invoke(cli, serve)
    (line,) = notes(two)
    assert line.startswith("note: 2 runs (") and "mine" in line and "yours" in line and "answer 409" in line
    assert "--trust-code" in line
    assert notes(CliRunner().invoke(cli, [*serve, "--trust-code"])) == []  # told to run it: nothing to say

    assert CliRunner().invoke(cli, ["trust", str(root / "mine")]).exit_code == 0  # the same file: both trusted
    assert notes(CliRunner().invoke(cli, serve)) == []


def test_untrusted_note_names_a_few_and_counts_the_rest(tmp_path):
    from digitlab.cli.interop import UNTRUSTED_SHOWN, untrusted_note

    assert untrusted_note([]) is None
    folders = [tmp_path / f"run{i}" for i in range(UNTRUSTED_SHOWN + 2)]
    note = untrusted_note(folders)
    assert f"{len(folders)} runs (" in note and "and 2 more" in note and "\n" not in note
    assert all(f.name in note for f in folders[:UNTRUSTED_SHOWN])
    assert not any(f"{f.name}," in note or f"{f.name} " in note for f in folders[UNTRUSTED_SHOWN:])
    assert f"digitlab trust {folders[0]} --show" in note
