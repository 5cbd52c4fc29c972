"""What the API says about runs: rows and details with run names only (no paths of this machine), one run at a time.

A damaged run folder does not take the listing down: it is listed with an `error` field and the others as usual.
The run (or checkpoint) `serve RUN` was given is listed too when it lies outside the runs folder (`outside_root`):
the page shows what the server serves.
Values JSON cannot carry (NaN, infinity) become null; absolute paths become run-relative or their last part.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from digitlab import runs
from digitlab.inference import runs_untrusted_code
from digitlab.serve.limits import scrub_paths

FIGURES = ("loss.png", "confusion-test.png", "mistakes-test.png")
PRIVATE_KEYS = {"path", "run_dir"}  # where this machine keeps things: not the client's business


def public(value: Any, root: Path) -> Any:
    """A JSON-able copy for clients: no path keys, paths in text scrubbed, non-finite numbers as null."""
    if isinstance(value, dict):
        return {k: public(v, root) for k, v in value.items() if k not in PRIVATE_KEYS}
    if isinstance(value, (list, tuple)):
        return [public(v, root) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return scrub_paths(value, root)
    return value


def _row(folder: Path, root: Path) -> dict:
    try:
        # trusted: false for a run whose model is code not on this user's trust list (answered 409 until trusted)
        return {**public(runs.run_row(folder).to_json(), root), "trusted": not runs_untrusted_code(folder)}
    except Exception as exc:  # noqa: BLE001 - one damaged run must not hide the others; say what failed
        reason = scrub_paths(str(exc).splitlines()[0] if str(exc) else "", root)[:200]
        return {"run": folder.name, "error": f"cannot read this run ({type(exc).__name__}{': ' + reason if reason else ''})"}


def _mtime(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def outside_root(root: Path, target: Path | None) -> dict[str, Path]:
    """{name: path} of the run folder or checkpoint `serve TARGET` was given, when it is not the runs folder's own
    `root/name` (the server serves it under that name); {} otherwise."""
    if target is None:
        return {}
    try:
        inside = (root / target.name).resolve() == target.resolve()
    except OSError:
        inside = False
    return {} if inside else {target.name: target}


def _run_folder(target: Path) -> Path:
    """A served target's run folder (a checkpoint file's run is the folder above `checkpoints/`)."""
    return target.parent.parent if target.is_file() and target.parent.name == "checkpoints" else target


class ListedRun(NamedTuple):
    """A run the server offers: the name clients use, its folder on this machine, whether it lies outside root."""

    name: str
    folder: Path
    outside: bool


def listed_runs(root: Path, extra: dict[str, Path] | None = None) -> list[ListedRun]:
    """Every run folder under root that has checkpoints, newest first; `extra` (served from outside root, see
    `outside_root`) first, in place of a folder of root with the same name."""
    extra = extra or {}
    served = [ListedRun(name, _run_folder(target), True) for name, target in extra.items()]
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and (p / "checkpoints").is_dir() and p.name not in extra]
    except OSError:  # no runs folder yet, or one we cannot list
        return served
    folders.sort(key=_mtime, reverse=True)
    return served + [ListedRun(p.name, p, False) for p in folders]


def trained_runs(root: Path, extra: dict[str, Path] | None = None) -> list[dict]:
    """The rows of `listed_runs`, each read on its own (a served one under the name it is served by)."""
    return [{**_row(folder, root), "run": name} if outside else _row(folder, root)
            for name, folder, outside in listed_runs(root, extra)]


def untrusted_runs(root: Path, extra: dict[str, Path] | None = None) -> list[Path]:
    """The run folders (as this machine names them: what `digitlab trust` takes) among `listed_runs` whose model is
    code not trusted here: the server answers 409 for them until they are trusted."""
    return [folder for _, folder, _ in listed_runs(root, extra) if runs_untrusted_code(folder)]


def run_detail(root: Path, folder: Path) -> dict:
    """One run: its row, its summary (when readable) and the URLs of its figures."""
    row = _row(folder, root)
    name = folder.name
    figures = {f: f"/api/runs/{quote(name, safe='')}/figures/{f}" for f in FIGURES if (folder / f).is_file()}
    summary: Any = {}
    if (folder / "summary.json").exists():
        try:
            summary = public(runs.read_json(folder / "summary.json"), root)
        except Exception as exc:  # noqa: BLE001 - a damaged summary is reported, the rest still shown
            summary = {"error": f"summary.json cannot be read ({type(exc).__name__})"}
    return {**row, "summary": summary, "figures": figures}
