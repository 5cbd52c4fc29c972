"""bench/: `make bench-quick` runs bench/run.py; its --smoke mode runs every side there is on tiny data, skipping
(and naming) the sides whose venv is missing. Also the MindSpore data layout and the table."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from digitlab.data.sources import load_dataset

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import sides  # noqa: E402  (bench/sides.py)


def test_make_bench_quick_runs_the_suite():
    if not shutil.which("make"):
        pytest.skip("no make here")
    out = subprocess.run(["make", "-n", "-B", "bench-quick"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = [x for x in out.splitlines() if "bench/run.py" in x]
    assert line and "--quick" in line[-1] and "--mindspore .venv-bench/mindspore/bin/python" in line[-1]
    # builds both venvs when they are missing (-B: as if nothing were built yet)
    assert "mindspore==2.10.0" in out and "torchvision==" in out and "pip install -q --disable-pip-version-check -e ." in out


def test_smoke_runs_each_side_and_names_the_missing_ones(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    missing = tmp_path / "no-venv" / "bin" / "python"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--mindspore", str(missing),
                           "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    rows = {r["recipe"]: r for r in report["recipes"]}
    assert set(rows) == {"quickstart", "lenet5"}
    for row in rows.values():
        assert row["digitlab_s_per_epoch"] > 0 and row["plain_s_per_epoch"] > 0
        assert row["digitlab_over_plain"] > 0
        assert "mindspore_s_per_epoch" not in row and row["x_vs_mindspore"] is None
    assert any("MindSpore side" in note and str(missing) in note for note in report["skipped"])
    if sides_has_torchvision():
        assert all(r["torchvision_s_per_epoch"] > 0 for r in rows.values())
    else:
        assert any("torchvision side" in note for note in report["skipped"])


def sides_has_torchvision() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


def test_plain_loop_trains_the_recipe(idx_dir):
    ds = load_dataset("idx", str(idx_dir))
    result = sides.plain_loop("quickstart", ds, epochs=1, overrides=["optim.lr=0.1"])
    assert result["steps"] == result["steps_per_epoch"] == -(-600 // 64)
    assert result["accuracy"] > 50  # the synthetic digits are easy: it learned something


def test_a_side_in_its_own_process_gives_what_it_gives_here(idx_dir, tmp_path):
    """bench/run.py --isolate: the same side and steps in a fresh process, the same result but for the seconds."""
    ds = load_dataset("idx", str(idx_dir))
    here = sides.run_side("digitlab", "quickstart", ds, 1, 3, tmp_path)
    there = sides.run_side("digitlab", "quickstart", ds, 1, 3, tmp_path, isolate=True)
    assert "error" not in there, there
    assert there.keys() == here.keys() and there["seconds_per_epoch"] > 0
    bad = sides.run_side("plain", "no-such-recipe", ds, 1, 3, tmp_path, isolate=True)
    assert "error" in bad and "\n" not in bad["error"]


def test_mindspore_layout_holds_the_verified_files_decompressed(idx_dir, tmp_path):
    ds = load_dataset("idx", str(idx_dir))
    target = sides.write_mindspore_layout(ds, tmp_path)
    assert target == tmp_path / "MNIST_Data"
    for split, stem in (("train", "train-images-idx3-ubyte"), ("train", "train-labels-idx1-ubyte"),
                        ("test", "t10k-images-idx3-ubyte"), ("test", "t10k-labels-idx1-ubyte")):
        assert (target / split / stem).read_bytes() == gzip.decompress((idx_dir / f"{stem}.gz").read_bytes())
    before = (target / "train" / "train-images-idx3-ubyte").stat().st_mtime_ns
    sides.write_mindspore_layout(ds, tmp_path)  # already right: kept as it is
    assert (target / "train" / "train-images-idx3-ubyte").stat().st_mtime_ns == before


def test_missing_mindspore_venv_is_none(tmp_path):
    assert sides.run_mindspore(str(tmp_path / "nope" / "python"), "quickstart", tmp_path) is None
    assert sides.run_mindspore(None, "quickstart", tmp_path) is None


def test_table_shows_each_side_and_the_ratios():
    rows = [{"recipe": "quickstart", "mindspore_s_per_epoch": 50.0, "mindspore_acc": 90.5, "plain_s_per_epoch": 2.5,
             "plain_acc": 90.3, "digitlab_s_per_epoch": 2.4, "digitlab_acc": 90.32, "x_vs_mindspore": 20.83,
             "x_vs_torchvision": None, "digitlab_over_plain": 0.96},
            {"recipe": "lenet5", "mindspore_error": "exit 1: boom", "digitlab_s_per_epoch": 5.0, "digitlab_acc": None}]
    text = sides.format_table(rows).splitlines()
    assert text[0].split("  ")[0] == "recipe" and "digitlab/plain" in text[0]
    assert "50.00 (90.50%)" in text[1] and "20.83x" in text[1] and "0.96x" in text[1]
    assert "failed" in text[2] and "5.00" in text[2]


def test_plain_sides_use_torch_default_optimizer():
    import torch

    from digitlab.config import OptimConfig

    model = torch.nn.Linear(3, 2)
    for name in ("sgd", "momentum", "adam", "adamw", "adadelta"):
        cfg = OptimConfig(name=name, lr=0.05, weight_decay=0.01)
        opt = sides.plain_optimizer(model, cfg)
        assert not opt.defaults.get("fused"), name
        assert opt.defaults["lr"] == 0.05 and opt.defaults["weight_decay"] == 0.01


def test_a_failed_run_among_repeats_is_kept_not_fatal(idx_dir, tmp_path, monkeypatch):
    """--repeats: one failed run of a side (e.g. an --isolate child killed) is recorded, the others still count."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    bench_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_run)
    ds = load_dataset("idx", str(idx_dir))
    calls = {"n": 0}

    def flaky(name, recipe, dataset, epochs, max_steps, tmp, isolate=False):
        calls["n"] += 1
        if name == "plain" and calls["n"] > 2:
            return {"error": "exit -9: killed"}
        return {"seconds_per_epoch": 1.0 + calls["n"] / 100, "accuracy": None, "steps": 3, "steps_per_epoch": 10}

    monkeypatch.setattr(sides, "run_side", flaky)
    monkeypatch.setattr(sides, "torchvision_available", lambda: False)
    out = bench_run.bench_recipes(ds, ["quickstart"], 3, 1, tmp_path, None, [], floor=False, repeats=3)
    row = out["recipes"][0]
    assert row["plain_runs"][0] is not None and row["plain_runs"][1:] == [None, None]
    assert row["plain_errors"] == ["exit -9: killed"] * 2
    assert row["digitlab_over_plain"] is not None and len(row["digitlab_runs"]) == 3
