"""`digitlab runs` (bare: the table, with long names whole and a date column) and `digitlab runs rm`."""

import json

from typer.testing import CliRunner

from digitlab.cli import app
from tests.test_runs import fake_run

runner = CliRunner()
LONG = "a-very-long-run-name-for-the-lenet5-experiment-with-augmentation-seed"


def test_runs_table_shows_long_names_whole_and_the_date(isolated_env):
    root = isolated_env / "runs"
    for seed in (1, 2):
        fake_run(root, f"{LONG}-{seed}")
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    assert f"{LONG}-1" in result.stdout and f"{LONG}-2" in result.stdout  # whole, so the two stay distinguishable
    assert "date" in result.stdout.splitlines()[1]
    assert json.loads(runner.invoke(app, ["runs", "--json", "--root", str(root)]).stdout)[0]["date"]


def test_runs_rm(isolated_env, tmp_path):
    root = isolated_env / "runs"
    fake_run(root, "a")
    fake_run(root, "b")
    other = fake_run(tmp_path, "elsewhere")
    asked = runner.invoke(app, ["runs", "rm", "a"])  # no terminal to ask: refused, nothing removed
    assert asked.exit_code == 1 and "--yes" in asked.output and (root / "a").exists()
    result = runner.invoke(app, ["runs", "rm", "a", "--yes"])
    assert result.exit_code == 0 and "removed" in result.stdout and not (root / "a").exists()
    result = runner.invoke(app, ["runs", "--root", str(tmp_path), "rm", "elsewhere", "-y", "--json"])
    assert json.loads(result.stdout)[0]["name"] == "elsewhere" and not other.exists()
    missing = runner.invoke(app, ["runs", "rm", "b", "zzz", "--yes"])
    assert missing.exit_code == 1 and missing.output.startswith("error: zzz") and (root / "b").exists()
    assert [r["run"] for r in json.loads(runner.invoke(app, ["runs", "--json"]).stdout)] == ["b"]


def test_runs_rm_refuses_a_running_run(isolated_env):
    fake_run(isolated_env / "runs", "live", status="running")
    result = runner.invoke(app, ["runs", "rm", "live", "--yes"])
    assert result.exit_code == 1 and "still training" in result.output
    assert (isolated_env / "runs" / "live").exists()
