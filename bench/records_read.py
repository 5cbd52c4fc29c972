"""What typed run records cost to read: metrics.jsonl as JSON objects vs as StepRecord / EvalRecord values, and
`digitlab runs`' row for one run (summary.json + run.json + the whole log).

    python bench/records_read.py [--records 100000] [--repeats 5]

Prints the median seconds of each and the cost per record. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from digitlab.records import EvalRecord, StepRecord
from digitlab.runs import MetricsLog, run_row


def write_run(folder: Path, n: int, batches: int = 938) -> None:
    """A run folder whose log holds n records: a step record each step, an epoch record at each epoch's end."""
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('recipe = "quickstart"\n')
    lines = []
    for step in range(1, n + 1):
        epoch = (step - 1) // batches + 1
        lines.append(json.dumps(StepRecord(step=step, epoch=epoch, batch=(step - 1) % batches, batches=batches,
                                           loss=0.1234567, lr=0.01, images_per_second=12345.6).to_json()))
        if step % batches == 0:
            lines.append(json.dumps(EvalRecord(epoch=epoch, step=step, test_acc=97.5, test_loss=0.08, train_loss=0.1,
                                               train_seconds=1.0 * epoch, lr=0.01).to_json()))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        write_run(run, args.records)
        log = run / "metrics.jsonl"
        n = len(MetricsLog.objects(log))
        objects = median_seconds(lambda: MetricsLog.objects(log), args.repeats)
        typed = median_seconds(lambda: MetricsLog.read(log), args.repeats)
        row = median_seconds(lambda: run_row(run), args.repeats)
    print(f"{n:,} records, median of {args.repeats}")
    print(f"  JSON objects (MetricsLog.objects): {objects:.3f} s ({objects / n * 1e6:.2f} us per record)")
    print(f"  typed records (MetricsLog.read):   {typed:.3f} s ({typed / n * 1e6:.2f} us per record)")
    print(f"  typing's own cost:                 {(typed - objects) / n * 1e6:.2f} us per record")
    print(f"  run_row (the runs table's row):    {row:.3f} s")


if __name__ == "__main__":
    main()
