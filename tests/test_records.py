"""records.py: every record's JSON round trip, files written by the previous version (tests/fixtures/runs-b0b3321,
made by commit b0b3321, before the records were typed) read the same, older and damaged layouts, nothing lost."""

import json
import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from digitlab import runs
from digitlab.errors import CheckpointError
from digitlab.records import (
    CSV_COLUMNS,
    ROW_KEYS,
    EvalRecord,
    ImportSummary,
    RunRow,
    RunStart,
    RunSummary,
    StepRecord,
    read_record,
)
from digitlab.sweep.choices import METRICS
from digitlab.tables import runs_csv

OLD = Path(__file__).parent / "fixtures" / "runs-b0b3321"
OLD_RUNS = ("finished-val", "stopped-running-mean", "target", "unsummarized", "imported")
# summary.json as the first release (8c3f8a2) wrote it: no ended, update, init_from, final_train_loss, ...
FIRST_SUMMARY_KEYS = ("batch_size", "best_epoch", "best_test_acc", "data", "data_verified", "device", "epochs",
                      "final_test_acc", "final_test_loss", "final_val_acc", "images_per_second", "lr", "model", "n_test",
                      "n_train", "optimizer", "params", "recipe", "run", "run_dir", "seed", "status", "steps", "threads",
                      "train_seconds")


def old_lines(run: str) -> list[dict]:
    return [json.loads(line) for line in (OLD / run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("run", ["finished-val", "stopped-running-mean", "target"])
def test_metrics_written_by_the_previous_version_round_trip_exactly(run):
    """Every line of an old metrics.jsonl reads as a typed record and writes back as the same JSON, key order too."""
    for obj in old_lines(run):
        record = read_record(obj)
        assert record is not None and record.kind == obj["kind"]
        assert record.to_json() == obj and list(record.to_json()) == list(obj)
    kinds = {r.kind for r in runs.MetricsLog.read(str(OLD / run / "metrics.jsonl"))}  # a str path, as run_dir is
    assert "step" in kinds and kinds & {"epoch", "stop"}


def test_old_records_hold_what_the_tutorials_lines_need():
    steps = [r for r in map(read_record, old_lines("stopped-running-mean")) if isinstance(r, StepRecord)]
    assert steps and all(r.loss_mean is not None and r.batches for r in steps)  # the course's running mean
    evals = [r for r in map(read_record, old_lines("finished-val")) if isinstance(r, EvalRecord)]
    assert [r.epoch for r in evals] == [1, 2] and all(r.val_acc is not None and r.train_loss for r in evals)
    assert evals[0].score() == evals[0].val_acc  # validation picks the best epoch when there is one
    target = [r for r in map(read_record, old_lines("target")) if isinstance(r, EvalRecord)]
    assert target[-1].reached_target == 5.0


@pytest.mark.parametrize("run", ["finished-val", "stopped-running-mean", "target"])
def test_summaries_written_by_the_previous_version_round_trip_exactly(run):
    written = json.loads((OLD / run / "summary.json").read_text())
    summary = RunSummary.from_json(written)
    assert summary.to_json() == written and list(summary.to_json()) == list(written)
    assert summary.run == run and summary["status"] == written["status"]  # the dict view, for older code


def test_an_imported_summary_of_the_previous_version_round_trips_exactly():
    written = json.loads((OLD / "imported" / "summary.json").read_text())
    assert ImportSummary.from_json(written).to_json() == written
    assert list(ImportSummary.from_json(written).to_json()) == list(written)


def test_an_imported_summary_reads_as_a_run_summary_keeping_its_own_keys():
    written = json.loads((OLD / "imported" / "summary.json").read_text())
    summary = RunSummary.from_json(written)
    again = summary.to_json()  # every key it had, with its value (and the training figures it lacks, as null)
    assert {k: again[k] for k in written} == written
    assert summary.status == "imported" and summary.model == "lenet5" and summary.epochs is None
    assert summary.extra["model_inferred"] is True and len(summary.extra["mapped"]) == 8


def test_run_rows_of_the_previous_version_are_unchanged(tmp_path):
    """run_row over run folders the previous version wrote gives the rows it gave (its output, recorded then)."""
    expected = json.loads((OLD / "expected-rows.json").read_text())
    root = shutil.copytree(OLD, tmp_path / "runs")
    for name in OLD_RUNS:
        row = runs.run_row(root / name).to_json()
        assert row.pop("path") == str(root / name) and row.pop("date")
        assert row == expected[name], name
    listed = runs.list_runs(root)
    assert sorted(r.run for r in listed) == sorted(OLD_RUNS)


def test_a_summary_of_the_first_layout_reads_and_the_row_falls_back_to_the_log(tmp_path):
    run = shutil.copytree(OLD / "finished-val", tmp_path / "first")
    written = json.loads((run / "summary.json").read_text())
    first = {k: written[k] for k in FIRST_SUMMARY_KEYS}
    (run / "summary.json").write_text(json.dumps(first))
    summary = RunSummary.from_json(first)
    assert summary.ended is None and summary.update is None and summary.init_from is None and summary.extra == {}
    assert summary.to_json()["final_test_acc"] == written["final_test_acc"]
    row = runs.run_row(run)  # the first layout had no final_train_loss: the last epoch's, from metrics.jsonl
    assert row.final_train_loss == [r for r in old_lines("finished-val") if r["kind"] == "epoch"][-1]["train_loss"]
    assert row.best_test_acc == written["best_test_acc"]


def test_a_newer_file_loses_nothing():
    """Keys this version does not know are kept and written back (a newer digitlab's records, read and rewritten)."""
    step = {"kind": "step", "step": 3, "epoch": 1, "batch": 2, "batches": 9, "loss": 0.5, "lr": 0.1,
            "images_per_second": 10.0, "grad_norm": 1.5}
    assert StepRecord.from_json(step).extra == {"grad_norm": 1.5} and StepRecord.from_json(step).to_json() == step
    ev = {"kind": "epoch", "epoch": 1, "step": 9, "test_acc": 90.0, "ece": 0.02}
    assert EvalRecord.from_json(ev).to_json() == ev
    summary = {"run": "r", "run_dir": "r", "status": "finished", "carbon_g": 0.3}
    assert RunSummary.from_json(summary).to_json()["carbon_g"] == 0.3


@pytest.mark.parametrize("bad", ["97.5", True, [1], {"x": 1}, None])
def test_a_value_of_the_wrong_type_reads_as_missing(bad, tmp_path):
    """A hand-edited or damaged file: a wrong-typed figure is None, never a string that breaks a table later."""
    assert EvalRecord.from_json({"kind": "epoch", "epoch": 1, "step": 2, "test_acc": bad}).test_acc is None
    assert StepRecord.from_json({"kind": "step", "step": bad, "loss": 0.1}).step == 0
    run = shutil.copytree(OLD / "finished-val", tmp_path / "r")
    written = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**written, "best_test_acc": bad, "params": bad, "recipe": bad}))
    row = runs.run_row(run)
    assert row.best_test_acc is None and row.params is None and row.recipe == (bad if isinstance(bad, str) else "")
    assert runs_csv([row]).splitlines()[0] == ",".join(CSV_COLUMNS)


def test_an_int_is_a_fine_float_and_a_whole_float_a_fine_int():
    assert EvalRecord.from_json({"kind": "epoch", "test_acc": 100}).test_acc == 100.0
    assert isinstance(EvalRecord.from_json({"kind": "epoch", "test_acc": 100}).test_acc, float)
    assert StepRecord.from_json({"kind": "step", "step": 2.5}).step == 0
    whole = StepRecord.from_json({"kind": "step", "step": 20.0, "epoch": 1.0})  # a hand-edited or foreign file
    assert (whole.step, whole.epoch) == (20, 1) and type(whole.step) is int
    assert StepRecord.from_json({"kind": "step", "step": float("nan")}).step == 0


def test_a_number_too_big_for_a_float_reads_as_missing_and_hides_no_run(tmp_path):
    huge = 10**400
    assert EvalRecord.from_json({"kind": "epoch", "test_acc": huge}).test_acc is None
    root = tmp_path / "runs"
    for name in ("good", "huge"):
        shutil.copytree(OLD / "finished-val", root / name)
    written = json.loads((root / "huge" / "summary.json").read_text())
    (root / "huge" / "summary.json").write_text(json.dumps({**written, "best_test_acc": huge}))
    with open(root / "huge" / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"kind": "epoch", "epoch": 3, "step": 30, "test_acc": huge}) + "\n")
    rows = {r.run: r for r in runs.list_runs(root)}
    assert rows["huge"].best_test_acc is None and rows["huge"].error is None
    assert rows["good"].best_test_acc == written["best_test_acc"]


@pytest.mark.parametrize("updated", [float("nan"), float("inf"), 1e300, -5, "yesterday"])
def test_a_damaged_update_time_dates_the_row_by_its_folder(updated, tmp_path):
    run = shutil.copytree(OLD / "finished-val", tmp_path / "r")
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "updated": updated}))
    row = runs.safe_run_row(run)
    assert row.error is None and row.status == "finished" and row.date[:2] == "20"


def test_json_nested_past_the_recursion_limit_is_damage_not_a_crash(tmp_path):
    run = shutil.copytree(OLD / "finished-val", tmp_path / "r")
    deep = "[" * 200_000 + "]" * 200_000
    (run / "summary.json").write_text(deep)
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write(deep + "\n")
    row = runs.safe_run_row(run)  # the summary reads as absent, the deep line is skipped: the row comes from the log
    assert row.error is None and row.final_test_acc == [r for r in old_lines("finished-val")
                                                        if r["kind"] == "epoch"][-1]["test_acc"]
    with pytest.raises(CheckpointError, match="damaged JSON"):
        runs.read_json(run / "summary.json")


def test_every_record_reads_as_the_dict_it_writes(tmp_path):
    """For code written when records were dicts: a Reporter's record["loss"], `"key" in summary`, dict(row)."""
    step = StepRecord(step=5, epoch=1, batch=4, batches=9, loss=0.5, lr=0.1, images_per_second=10.0)
    assert step["loss"] == 0.5 and "loss_mean" not in step and step.get("loss_mean", 1) == 1
    assert dict(step) == step.to_json() and {**step}["kind"] == "step" and json.dumps(dict(step))
    summary = RunSummary.from_json(json.loads((OLD / "finished-val" / "summary.json").read_text()))
    assert "final_test_acc" in summary and list(summary) == list(summary.to_json()) and len(summary) == len(summary.keys())
    written = json.loads((OLD / "finished-val" / "summary.json").read_text())
    assert summary == written and summary.copy() == written and summary != {**written, "epochs": 99}
    row = runs.run_row(shutil.copytree(OLD / "target", tmp_path / "target"))
    assert row["run"] == "target" and row.get("error") is None and dict(row)["best_test_acc"] == row.best_test_acc
    start = RunStart(run_dir="r", config=None, device="cpu", params=1, data={"dataset": "idx"}, threads=2,
                     precision="float32", precision_reason="", update="after backward", update_reason="", n_train=1,
                     n_test=1)
    assert start["device"] == "cpu" and "resumed_at" not in start and start["notes"] == []
    assert "resumed_at" in RunStart(**{**{f.name: getattr(start, f.name) for f in fields(start)}, "resumed_at": 3})


@pytest.mark.parametrize("obj", [None, [], "step", {"kind": "note"}, {"step": 3}])
def test_what_is_not_a_record_is_skipped(obj):
    assert read_record(obj) is None


def test_every_record_round_trips_with_every_field_set():
    step = StepRecord(step=5, epoch=2, batch=1, batches=4, loss=0.25, lr=0.1, images_per_second=99.0, loss_mean=0.3)
    assert StepRecord.from_json(step.to_json()) == step
    for kind in ("epoch", "stop"):
        ev = EvalRecord(kind=kind, epoch=2, step=8, test_acc=91.0, test_loss=0.3, val_acc=90.0, val_loss=0.31,
                        train_loss=0.4, train_seconds=1.5, lr=0.01, reached_target=90.0)
        assert EvalRecord.from_json(ev.to_json()) == ev and read_record(ev.to_json()) == ev
    row = RunRow(run="r", path="/x/r", status="finished", recipe="fast", model="cnn", params=10, epochs=2,
                 best_test_acc=99.0, final_test_acc=98.9, final_test_loss=0.03, final_train_loss=0.04,
                 train_seconds=3.0, images_per_second=1e4, data="mnist", data_source="data-dir", fallback=True,
                 date="2026-12-07 01:00", error="x")
    assert RunRow.from_json(row.to_json()) == row
    summary = RunSummary(run="r", run_dir="/x/r", status="finished", ended="done", model_code={"file": "n.py"},
                         params=3, final_test_acc=1.0, epochs=1, steps=2, data={"dataset": "idx"}, seed=0, rank=0)
    assert RunSummary.from_json(summary.to_json()) == summary


def test_the_row_and_csv_columns_are_those_the_previous_version_wrote():
    """One list now (RunRow's fields): `runs --json` keys and the `compare --csv` header are as before."""
    assert ROW_KEYS == ("run", "path", "status", "recipe", "model", "params", "epochs", "best_test_acc",
                        "final_test_acc", "final_test_loss", "final_train_loss", "train_seconds", "images_per_second",
                        "data", "data_source", "fallback", "date")
    assert ",".join(CSV_COLUMNS) == ("run,recipe,model,params,epochs,best_test_acc,final_test_acc,final_test_loss,"
                                     "final_train_loss,train_seconds,images_per_second,data,data_source,status")


def test_a_damaged_row_has_every_key_and_its_error():
    row = RunRow(run="bad", path="/x/bad", status="damaged", error="ValueError: x").to_json()
    assert set(ROW_KEYS) <= set(row) and row["error"] == "ValueError: x" and row["best_test_acc"] is None


def test_every_sweep_metric_is_a_field_of_the_epoch_record():
    names = {f.name for f in fields(EvalRecord)}
    assert all(metric.record_key in names for metric in METRICS.values())


def test_rank_is_written_only_for_the_other_processes():
    assert "rank" not in RunSummary(run="r").to_json() and RunSummary(run="r", rank=1).to_json()["rank"] == 1
