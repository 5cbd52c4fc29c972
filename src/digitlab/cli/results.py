"""`digitlab eval|predict|plot|compare|runs`: everything read from run folders."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import (
    DATA_DIR_HELP,
    TRUST_CODE_HELP,
    err,
    fmt,
    handle_errors,
    out,
    print_error,
    print_json,
    warn,
    warn_fallback,
)
from digitlab.cli.progress import RichReporter
from digitlab.errors import DigitlabError
from digitlab.io import atomic_write, refuse_overwrite
from digitlab.records import RunRow
from digitlab.tables import predictions_csv

X_HELP = "x axis: epochs, steps, or images (images seen = steps x batch size: compares runs of any batch size)."


@app.command("eval")
@handle_errors
def eval_cmd(
    target: Path = typer.Argument(..., help="A run folder or a .safetensors checkpoint."),
    dataset: str | None = typer.Option(None, "--dataset", help="Default: the dataset the model was trained on."),
    split: str = typer.Option("test", "--split", help="test, train or val"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    device: str = typer.Option("auto", "--device"),
    confusion_out: Path | None = typer.Option(None, "--confusion", help="Confusion-matrix PNG (default: in the run)."),
    mistakes_out: Path | None = typer.Option(None, "--mistakes", help="Worst-mistakes gallery PNG (default: in the run)."),
    n_mistakes: int = typer.Option(16, "--n-mistakes", min=1, max=100, help="How many mistakes in the gallery."),
    strict_data: bool = typer.Option(False, "--strict-data"),
    as_json: bool = typer.Option(False, "--json"),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
) -> None:
    """Accuracy, average loss, per-class precision/recall/F1 and the confusion matrix."""
    from digitlab.evaluation import default_figure_path, evaluate

    if split not in ("test", "train", "val"):
        raise DigitlabError(f"--split {split}: choose test, train or val")
    png = confusion_out or default_figure_path(target, "confusion", split)
    gallery = mistakes_out or default_figure_path(target, "mistakes", split)
    if target.is_dir() and None in (png, gallery):
        warn(f"{target}: the run folder is not writable, so its figures are not redrawn; "
             "pass --confusion/--mistakes to write them elsewhere")
    result = evaluate(target, dataset, split, data_dir, device, png, strict_data=strict_data, mistakes_png=gallery,
                      n_mistakes=n_mistakes)
    warn_fallback(result["data"].get("fallback"))
    if as_json:
        print_json(result)
        return
    out.print(f"{result['model']} on {result['data']['dataset']} {split} ({result['n']:,} images): "
              f"Accuracy: {result['accuracy']:.2f}%, Avg loss: {result['avg_loss']:.6f}")
    table = Table("class", "support", "precision", "recall", "f1")
    for row in result["per_class"]:
        table.add_row(result["classes"][row["class"]], str(row["support"]), f"{row['precision']:.4f}",
                      f"{row['recall']:.4f}", f"{row['f1']:.4f}")
    out.print(table)
    matrix = Table("true \\ pred", *result["classes"], title="confusion matrix")
    for cls, row in zip(result["classes"], result["confusion_matrix"]):
        matrix.add_row(cls, *map(str, row))
    out.print(matrix)
    for key in ("confusion_png", "mistakes_png"):
        if result.get(key):
            out.print(f"wrote {result[key]}")




@app.command("predict")
@handle_errors
def predict_cmd(
    target: Path = typer.Argument(..., help="A run folder or a .safetensors checkpoint."),
    paths: list[Path] | None = typer.Argument(None, help="Image files or folders of images."),
    top_k: int = typer.Option(3, "--top-k", min=1, max=10),
    dataset: str | None = typer.Option(None, "--dataset", help="Predict dataset samples instead of files."),
    split: str = typer.Option("test", "--split"),
    n: int = typer.Option(10, "--n", min=1, max=10000, help="With --dataset: how many samples."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    explain: Path | None = typer.Option(None, "--explain", help="Write input + probability bars per image here."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write the results as CSV."),
    submission: Path | None = typer.Option(None, "--submission", help=(
        "Kaggle's Digit Recognizer: predict every row of the test.csv given and write ImageId,Label here.")),
    force: bool = typer.Option(False, "--force", help="Let --csv, --explain and --submission replace existing files."),
    device: str = typer.Option("auto", "--device"),
    as_json: bool = typer.Option(False, "--json"),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
) -> None:
    """Predict the digit in your own images (MNIST-style preprocessing), or dataset samples with --dataset."""
    from digitlab.predict import predict_dataset, predict_files

    if submission is not None:
        kaggle_submission(target, paths or [], submission, force, device, as_json)
        return
    tables = [p for p in paths or [] if p.suffix.lower() == ".csv"]
    if tables:
        raise DigitlabError(f"{tables[0]}: a CSV of digits (Kaggle's test.csv?): predict every row with "
                            "--submission submission.csv")
    if dataset is not None or not paths:
        if paths:
            raise DigitlabError("give image paths or --dataset, not both")
        result = predict_dataset(target, dataset, split, n, data_dir, device)
        warn_fallback(result["data"].get("fallback"))
        if as_json:
            print_json(result)
        else:
            # the tutorials print numpy arrays: Predicted: "[4 2 5 ...]", Actual: "[4 2 5 ...]"
            shown = {k: "[" + " ".join(map(str, result[k])) + "]" for k in ("predicted", "actual")}
            out.print(f'Predicted: "{shown["predicted"]}", Actual: "{shown["actual"]}"')
        return
    if csv_out is not None:
        refuse_overwrite(csv_out, force, "--csv")
    results, errors = predict_files(target, list(paths), top_k, device, explain, force=force)
    for e in errors:
        print_error(e["error"])
    if csv_out is not None:
        atomic_write(csv_out, predictions_csv(results))
    if as_json:
        print_json([{k: r[k] for k in ("file", "prediction", "probability", "top_k")} for r in results])
    else:
        table = Table("file", "prediction", "probability", f"top {top_k}")
        for r in results:
            table.add_row(r["file"], r["label"], f"{r['probability']:.1%}",
                          "  ".join(f"{t['label']} {t['probability']:.1%}" for t in r["top_k"]))
        if results:
            out.print(table)
        if explain and results:
            out.print(f"wrote {len(results)} explanations to {explain}")
    if errors:
        raise typer.Exit(1)


def kaggle_submission(target: Path, paths: list[Path], submission: Path, force: bool, device: str,
                      as_json: bool) -> None:
    from digitlab.predict import predict_csv, submission_csv, submission_input

    source = submission_input(target, paths)  # the input first: a folder of images is the likelier mistake
    if submission.is_dir():
        raise DigitlabError(f"--submission {submission}: a folder; --submission names the answer file to write, "
                            "e.g. --submission submission.csv")
    if os.path.realpath(submission) == os.path.realpath(source):  # even with --force: the answers would replace the input
        raise DigitlabError(f"--submission {submission}: is the input CSV itself; name another file for the answers")
    refuse_overwrite(submission, force, "--submission")
    result = predict_csv(target, source, device)
    atomic_write(submission, submission_csv(result["labels"]))
    result = {k: v for k, v in result.items() if k != "labels"} | {"submission": str(submission)}
    if as_json:
        print_json(result)
        return
    scored = f"; accuracy on its labels {result['accuracy']:.2f}%" if "accuracy" in result else ""
    out.print(f"wrote {submission}: {result['n']:,} rows (ImageId,Label) from {result['csv']}{scored}")


@app.command("plot")
@handle_errors
def plot_cmd(
    targets: list[Path] = typer.Argument(..., help="One or more run folders."),
    out_path: Path = typer.Option(Path("curves.png"), "--out", help="PNG or SVG file."),
    x: str = typer.Option("epochs", "--x", help=X_HELP),
    title: str = typer.Option("", "--title", help="The figure's title (default: how many runs, by what)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """Training loss (raw + smoothed) and test accuracy, several runs overlaid, against epochs, steps or images."""
    from digitlab import runs
    from digitlab.compare import plot_runs

    refuse_overwrite(out_path, force, "--out")
    path = plot_runs([runs.resolve_run(t) for t in targets], out_path, x=x, title=title)
    out.print(f"wrote {path}")


def print_runs_table(rows: list[RunRow], title: str = "", date: bool = False) -> None:
    """The runs table. Run names are shown whole (the column never shrinks below the longest name; a name wider than
    the terminal folds onto a second line rather than being cut), so two long names that differ at the end stay
    distinguishable."""
    longest = max((len(r.run) for r in rows), default=3)
    table = Table(title=title or None)
    table.add_column("run", min_width=min(longest, 80), overflow="fold")
    for name in ("status", "recipe", "model", "params", "epochs", "best acc", "final acc", "final loss", "train s",
                 "img/s", "data"):
        table.add_column(name)
    if date:
        table.add_column("date", no_wrap=True)
    for r in rows:
        data = r.data + (" (SAMPLE)" if r.fallback else "")
        cells = [r.run, r.status, r.recipe, r.model, fmt(r.params, ","), fmt(r.epochs), fmt(r.best_test_acc, ".2f"),
                 fmt(r.final_test_acc, ".2f"), fmt(r.final_test_loss, ".4f"), fmt(r.train_seconds, ".1f"),
                 fmt(r.images_per_second, ",.0f"), data]
        table.add_row(*cells, *([r.date or "-"] if date else []))
    out.print(table)


@app.command("compare")
@handle_errors
def compare_cmd(
    targets: list[Path] | None = typer.Argument(None, help="Run folders to compare."),
    recipes: list[str] | None = typer.Option(None, "--recipes", help="Train these recipes, then compare."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="With --recipes: epochs for each."),
    seed: int | None = typer.Option(None, "--seed", help="With --recipes: one seed for all."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    overrides: list[str] | None = typer.Option(None, "--set", help="With --recipes: key=value for every recipe."),
    plot_out: Path | None = typer.Option(Path("compare.png"), "--out", help="Overlay plot (PNG/SVG)."),
    x: str = typer.Option("epochs", "--x", help=X_HELP),
    as_json: bool = typer.Option(False, "--json"),
    as_csv: bool = typer.Option(False, "--csv", help="Print the table as CSV."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """A table of runs sorted by accuracy, plus their curves overlaid. --recipes A B trains them first."""
    from digitlab.compare import compare_runs, train_recipes
    from digitlab.curves import X_UNITS
    from digitlab.tables import runs_csv

    refuse_overwrite(plot_out, force, "--out")  # before anything trains
    if x not in X_UNITS:
        raise DigitlabError(f"--x {x}: choose {', '.join(X_UNITS)}")
    folders = list(targets or [])
    if recipes:
        # `--recipes a b` (space separated, as in the docs) arrives as one option value plus extra arguments
        names = list(recipes) + [str(t) for t in folders if not Path(t).exists()]
        folders = [t for t in folders if Path(t).exists()]
        values = {"train.epochs": epochs, "train.seed": seed, "data.data_dir": str(data_dir) if data_dir else None}
        reporter = RichReporter(err if (as_json or as_csv) else out)
        try:
            folders += train_recipes(names, list(overrides or []), reporter=reporter, values=values)
        finally:
            reporter.stop()
    rows = compare_runs(folders, plot_out, x=x)
    if as_json:
        print_json([r.to_json() for r in rows])
    elif as_csv:
        typer.echo(runs_csv(rows), nl=False)
    else:
        print_runs_table(rows, "sorted by best test accuracy")
        if plot_out:
            out.print(f"wrote {plot_out}")


runs_app = typer.Typer(help="Every run with its status, recipe, accuracy and date; `runs rm NAME` removes runs.")
app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
@handle_errors
def runs_cmd(
    ctx: typer.Context,
    root: Path | None = typer.Option(None, "--root", help="Runs folder (default: $DIGITLAB_RUNS or ./runs)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every run with its status (running, finished, stopped, failed, interrupted), recipe, accuracy, date."""
    from digitlab.runs import list_runs

    ctx.obj = {"root": root}
    if ctx.invoked_subcommand is not None:
        return
    rows = list_runs(root)
    if as_json:
        print_json([r.to_json() for r in rows])
        return
    if not rows:
        out.print("no runs yet: `digitlab train` makes one")
        return
    print_runs_table(rows, date=True)


@runs_app.command("rm")
@handle_errors
def runs_rm_cmd(
    ctx: typer.Context,
    targets: list[str] = typer.Argument(..., help="Run names (under the runs folder) or run folders."),
    root: Path | None = typer.Option(None, "--root", help="Runs folder (default: $DIGITLAB_RUNS or ./runs)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; needed when not at a terminal."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete runs (their folders, checkpoints included). A run still training is refused."""
    import dataclasses
    import sys

    from digitlab.runs import remove_runs, resolve_run

    root = root or (ctx.obj or {}).get("root")
    folders = [resolve_run(t, root) for t in targets]  # every name checked before anything is asked or removed
    if not yes:
        if not sys.stdin.isatty():
            raise DigitlabError(f"runs rm: about to delete {len(folders)} run folder(s); add --yes to confirm "
                                "(there is no terminal to ask)")
        listed = ", ".join(str(f) for f in folders)
        if not typer.confirm(f"delete {listed} (checkpoints included)?", err=True):
            err.print("nothing removed")
            raise typer.Exit(1)
    removed = remove_runs(folders, root)
    if as_json:
        print_json([dataclasses.asdict(r) for r in removed])
        return
    for r in removed:
        size = f"{r.size_bytes / 1e6:.1f} MB" if r.size_bytes >= 1e5 else f"{r.size_bytes / 1e3:.1f} kB"
        out.print(f"removed {r.path} ({r.status}, {size})")


# ------------------------------------------------------------------------------------------------ interop
