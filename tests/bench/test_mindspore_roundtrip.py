"""bench/mindspore_roundtrip.py (`make bench-mindspore`): the MindSpore check's make target, its verdict and its
refusal without MindSpore's venv. The check itself needs MindSpore, which the suite cannot install; its figures are
in docs/benchmarks.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import mindspore_roundtrip as msr  # noqa: E402  (bench/mindspore_roundtrip.py)


def test_make_target_needs_only_the_mindspore_venv():
    if not shutil.which("make"):
        pytest.skip("no make here")
    out = subprocess.run(["make", "-n", "-B", "bench-mindspore"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    line = [x for x in out.splitlines() if "bench/mindspore_roundtrip.py" in x]
    assert line and "--mindspore .venv-bench/mindspore/bin/python" in line[-1] and line[-1].startswith(".venv/")
    assert "mindspore==2.10.0" in out and "numpy<2" in out
    assert "torchvision" not in out  # the big comparison venv is not built for this check


def passing_row(**changes) -> dict:
    row = {"param_not_load": [], "ckpt_not_load": [], "digitlab_acc": 98.08, "mindspore_acc": 98.08,
           "mindspore_acc_all": 98.08, "round_trip_acc": 98.08}
    return {**row, **changes}


def test_verdict_passes_only_what_the_issue_asks():
    assert msr.verdict(passing_row()) == []
    assert msr.verdict(passing_row(mindspore_acc=98.08 + msr.TOLERANCE - 0.01)) == []
    assert "MindSpore 98.2 vs digitlab 98.08" in msr.verdict(passing_row(mindspore_acc=98.2))[0]
    assert "on all 10,000" in msr.verdict(passing_row(mindspore_acc_all=97.9))[0]
    assert "not loaded: ['fc1.bias']" in msr.verdict(passing_row(param_not_load=["fc1.bias"]))[0]
    assert "round trip 98.07 vs 98.08" in msr.verdict(passing_row(round_trip_acc=98.07))[0]


def test_without_the_mindspore_venv_it_says_how_to_build_it(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "mindspore_roundtrip.py"), "--mindspore",
                           str(tmp_path / "none" / "python")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "make bench-mindspore" in proc.stderr and "Traceback" not in proc.stderr
