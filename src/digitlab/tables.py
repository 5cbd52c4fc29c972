"""CSV forms of digitlab's result tables: predictions (`predict --csv`) and runs (`compare --csv`).

The CLI writes these with digitlab.io (predictions) or prints them (runs); both are plain functions of the rows.
"""

from __future__ import annotations

import csv
import io

from digitlab.records import CSV_COLUMNS, RunRow


def predictions_csv(results: list[dict]) -> str:
    """One row per image: file, prediction, probability, top_k as "label:probability" pairs."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["file", "prediction", "probability", "top_k"])
    for r in results:
        writer.writerow([r["file"], r["prediction"], r["probability"],
                         " ".join(f"{t['label']}:{t['probability']:.4f}" for t in r["top_k"])])
    return buf.getvalue()


def runs_csv(rows: list[RunRow]) -> str:
    """The runs table (as `compare` and `runs` show it) as CSV, one row per run (records.CSV_COLUMNS)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(r.to_json() for r in rows)
    return buf.getvalue()
