"""`digitlab lesson list | run`: the PyTorch course's basics as runnable lessons (digitlab.lessons).

`run` streams the lesson's lines to stdout as they are produced, exactly as the course prints them (tabs and
all, so they are echoed raw, not through rich), then names the files it wrote. With --json the lines go to
stderr while they stream and stdout gets one JSON object: name, key figures, files, lines.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import err, handle_errors, out, print_json

lesson_app = typer.Typer(help="The PyTorch course's basics as runnable lessons.", no_args_is_help=True)
app.add_typer(lesson_app, name="lesson")


@lesson_app.command("list")
@handle_errors
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """Every lesson: name, what it teaches, the seed section it follows, its options."""
    from digitlab.lessons import list_lessons

    rows = [{"name": x.name, "title": x.title, "teaches": x.teaches, "section": x.section, "options": list(x.options)}
            for x in list_lessons()]
    if as_json:
        print_json(rows)
        return
    table = Table("lesson", "teaches", "course section", "options")
    for r in rows:
        table.add_row(r["name"], r["teaches"], r["section"], ", ".join(f"--{o.replace('_', '-')}" for o in r["options"]))
    out.print(table)
    out.print("run one: digitlab lesson run NAME [--out DIR] [--json]")


@lesson_app.command("run")
@handle_errors
def run_cmd(
    name: str = typer.Argument(..., help="The lesson (see `digitlab lesson list`)."),
    out_dir: Path | None = typer.Option(None, "--out", help="Folder for its plots and output (default lessons/NAME/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the key figures, files and lines as JSON on stdout."),
    csv: Path | None = typer.Option(None, "--csv", help="diabetes: your own CSV (numbers, the 0/1 label last)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: the course's)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="mnist-*: stop after this many steps."),
    limit: int | None = typer.Option(None, "--limit", help="mnist-*: train on the first N images only."),
    dataset: str | None = typer.Option(None, "--dataset", help="mnist-*: dataset name (default mnist)."),
    data_dir: str | None = typer.Option(None, "--data-dir", help="mnist-*: folder holding the IDX files."),
    seed: int = typer.Option(0, "--seed", help="Seed for torch's generator (the lesson's numbers repeat)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | mps."),
) -> None:
    """Run one lesson: print what the course prints, write its plots, return its key figures."""
    from digitlab.lessons import run_lesson

    emit = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo
    result = run_lesson(name, out_dir, emit, csv=str(csv) if csv else None, epochs=epochs, max_steps=max_steps,
                        limit=limit, dataset=dataset, data_dir=data_dir, seed=seed, device=device)
    if as_json:
        print_json(result.to_dict())
        return
    err.print("wrote: " + ", ".join(result.files))
