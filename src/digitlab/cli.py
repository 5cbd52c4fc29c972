"""The `digitlab` command line: thin typer commands that parse, call one library function, and format
the result for people (or as JSON with --json). Only this module prints; errors from the library arrive
as DigitlabError and leave as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from digitlab.errors import DigitlabError

app = typer.Typer(
    name="digitlab",
    help="Train, evaluate, compare and explain handwritten-digit classifiers (MNIST, Fashion-MNIST, KMNIST).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Find, fetch, verify and look at datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Tables stay readable when output is piped or captured (rich would otherwise assume 80 columns).
WIDTH = None if sys.stdout.isatty() else max(shutil.get_terminal_size((160, 24)).columns, 160)
out = Console(highlight=False, soft_wrap=True, width=WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=WIDTH)

DATA_DIR_HELP = "Folder holding the IDX files (else $DIGITLAB_DATA, the cache, /usr/share/datasets)."


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def handle_errors(fn):
    """Turn digitlab's exceptions into one error line and an exit code; keep warnings visible."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # the CLI reports fallbacks itself
            try:
                return fn(*args, **kwargs)
            except DigitlabError as exc:
                raise fail(str(exc).replace("\n", " "), exc.exit_code) from None
            except KeyboardInterrupt:
                raise fail("interrupted", 130) from None
            except OSError as exc:  # disk full, permission denied, ...: say which file and why, no traceback
                where = exc.filename or "a file"
                raise fail(f"{where}: {exc.strerror or exc}; check the path, its permissions and free space") from None

    return wrapper


def print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def warn_fallback(fallback: str | None) -> None:
    if fallback:
        err.print(f"[bold yellow on black] WARNING [/] [yellow]{fallback}[/]", markup=True)


def download_progress():
    """A rich progress bar for downloads, as a (context manager, callback) pair."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        console=err, transient=True)
    tasks: dict[str, int] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done, total=total)

    return progress, update


# ------------------------------------------------------------------------------------------------ data
@data_app.command("fetch")
@handle_errors
def data_fetch(
    name: str = typer.Argument("mnist", help="mnist, fashion-mnist, kmnist"),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Find the dataset locally or download it (mirrors, checksums, lock); never falls back to the sample."""
    from digitlab.data.sources import fetch

    progress, update = download_progress()
    with progress:
        source = fetch(name, progress=update)
    result = {"dataset": source.dataset, "source": source.kind, "path": source.path,
              "files": {k: str(v) for k, v in source.files.items()}}
    if as_json:
        print_json(result)
    else:
        out.print(f"{name}: {source.kind} at {source.path}")


@data_app.command("info")
@handle_errors
def data_info(
    name: str = typer.Argument("mnist", help="mnist, fashion-mnist, kmnist, mnist-sample, idx"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    strict_data: bool = typer.Option(False, "--strict-data", help="Fail instead of using the offline sample."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Where the data came from, whether it is verified, split sizes, class counts, pixel statistics."""
    from digitlab.data.sources import load_dataset
    from digitlab.stats import dataset_info

    progress, update = download_progress()
    with progress:
        ds = load_dataset(name, data_dir, strict=strict_data, progress=update)
    info = dataset_info(ds)
    warn_fallback(ds.fallback)
    if as_json:
        print_json(info)
        return
    out.print(f"[bold]{info['dataset']}[/]  source: {info['source']}  {info['path']}", markup=True)
    out.print(f"verified: {'yes' if info['verified'] else 'no'} ({info['verify_note']})")
    out.print(f"normalize: mean {ds.mean:.4f}  std {ds.std:.4f}")
    table = Table("split", "n", "shape", "dtype", "pixel mean", "pixel std")
    for split, s in info["splits"].items():
        table.add_row(split, str(s["n"]), "x".join(map(str, s["shape"])), s["dtype"], f"{s['pixel_mean']:.4f}",
                      f"{s['pixel_std']:.4f}")
    out.print(table)
    counts = Table("class", *info["splits"], title="class counts")
    for c, name in enumerate(info["classes"]):
        counts.add_row(name, *(str(s["class_counts"][c]) for s in info["splits"].values()))
    out.print(counts)


def parse_classes(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(c) for c in text.replace(" ", "").split(",") if c]
    except ValueError:
        raise DigitlabError(f"--classes '{text}': give class numbers separated by commas, like 3,5") from None


@data_app.command("show")
@handle_errors
def data_show(
    name: str = typer.Argument("mnist"),
    out_path: Path = typer.Option(Path("grid.png"), "--out", help="PNG/SVG file to write."),
    split: str = typer.Option("train", "--split", help="train or test"),
    n: int = typer.Option(25, "--n", min=1, max=400, help="How many samples."),
    classes: str | None = typer.Option(None, "--classes", help="Only these classes, e.g. 3,5"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    strict_data: bool = typer.Option(False, "--strict-data"),
) -> None:
    """Write a labelled grid of samples to a PNG."""
    from digitlab.data.loader import select
    from digitlab.data.sources import load_dataset
    from digitlab.plots import image_grid

    ds = load_dataset(name, data_dir, strict=strict_data)
    warn_fallback(ds.fallback)
    wanted = parse_classes(classes)
    if any(c < 0 or c >= len(ds.classes) for c in wanted):
        raise DigitlabError(f"--classes {classes}: classes are 0..{len(ds.classes) - 1}")
    images, labels = select(*ds.split(split), classes=wanted, limit=n)
    if not len(labels):
        raise DigitlabError(f"no {split} samples of classes {classes}")
    titles = [f"{int(y)}" + (f" {ds.classes[int(y)]}" if not ds.classes[int(y)].isdigit() else "") for y in labels]
    path = image_grid(images, titles, out_path, suptitle=f"{ds.name} {split} ({ds.source})")
    out.print(f"wrote {path} ({len(labels)} {split} samples of {ds.name})")


# ------------------------------------------------------------------------------------------------ training
class RichReporter:
    """Progress for people: a bar per epoch with live loss and images/s, the tutorials' log lines, and
    the tutorials' 'Test: Accuracy' line after each epoch. Writes to `console` (stderr under --json)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console,
                                 transient=True, refresh_per_second=4)
        self.task = None

    def on_start(self, info: dict) -> None:
        config = info["config"]
        data = info["data"]
        resumed = f", resuming at step {info['resumed_at']}" if "resumed_at" in info else ""
        self.console.print(
            f"[bold]{config.recipe or 'custom'}[/]: model {config.model.name} ({info['params']:,} params) on "
            f"{data['dataset']} ({info['n_train']:,} train / {info['n_test']:,} test, {data['source']}"
            f"{', verified' if data['verified'] else ', NOT verified'}), device {info['device']}{resumed}",
            markup=True)
        self.console.print(f"run folder: {info['run_dir']}")
        self.progress.start()

    def on_epoch_start(self, epoch: int, epochs: int, steps: int, start_step: int) -> None:
        self.console.print(f"Epoch {epoch + 1}\n-------------------------------")
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, completed=start_step,
                                           status="")

    def on_step(self) -> None:
        self.progress.advance(self.task)

    def on_log(self, record: dict) -> None:
        self.console.print(f"loss: {record['loss']:>7f}  [{record['batch']:>3d}/{record['batches']:>3d}]")
        self.progress.update(self.task, status=f"loss {record['loss']:.4f}  {record['images_per_second']:,.0f} img/s")

    def on_epoch_end(self, record: dict) -> None:
        if record.get("test_acc") is not None:
            self.console.print(f"Test: \n Accuracy: {record['test_acc']:>0.1f}%, Avg loss: {record['test_loss']:>8f} \n")
        if record.get("val_acc") is not None:
            self.console.print(f"Val: Accuracy: {record['val_acc']:>0.1f}%, Avg loss: {record['val_loss']:>8f}")

    def on_message(self, text: str) -> None:
        warn_fallback(text)

    def on_end(self, summary: dict) -> None:
        self.progress.stop()
        acc = summary.get("final_test_acc")
        self.console.print(
            f"Done! {summary['status']} after {summary['epochs']} epochs / {summary['steps']} steps in "
            f"{summary['train_seconds']:.1f} s ({summary['images_per_second'] or 0:,.0f} img/s)"
            + (f"; test accuracy {acc:.2f}% (best {summary['best_test_acc']:.2f}%)" if acc is not None else ""))
        self.console.print(f"summary: {summary['run_dir']}/summary.json")

    def stop(self) -> None:
        self.progress.stop()


def build_config(recipe: str, config_file: Path | None, options: dict, overrides: list[str]):
    """defaults <- recipe TOML <- --config FILE <- named options <- --set key=value."""
    from digitlab import config as cfgmod
    from digitlab.recipes import load_recipe

    config = load_recipe(recipe).config
    if config_file is not None:
        config = cfgmod.from_dict(cfgmod.load_toml(config_file), str(config_file), base=config)
    named = [f"{key}={json.dumps(value) if isinstance(value, str) else value}".replace("True", "true")
             .replace("False", "false") for key, value in options.items() if value is not None]
    config = cfgmod.with_overrides(config, named, origin="option")
    return cfgmod.with_overrides(config, overrides)


@app.command("train")
@handle_errors
def train_cmd(
    recipe: str = typer.Option("quickstart", "--recipe", "-r", help="Recipe name (see `digitlab recipes`)."),
    model: str | None = typer.Option(None, "--model", help="Model name (see `digitlab models`)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    lr: float | None = typer.Option(None, "--lr"),
    optimizer: str | None = typer.Option(None, "--optimizer", help="sgd, momentum, adam, adamw, adadelta"),
    loss: str | None = typer.Option(None, "--loss", help="ce, nll, softmax-ce"),
    seed: int | None = typer.Option(None, "--seed"),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, mps"),
    dataset: str | None = typer.Option(None, "--dataset", help="mnist, fashion-mnist, kmnist, mnist-sample, idx"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    strict_data: bool = typer.Option(False, "--strict-data", help="Fail instead of using the offline sample."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=0, help="Stop after N steps (smoke runs)."),
    ckpt_every: int | None = typer.Option(None, "--ckpt-every", min=0, help="Resume checkpoint every N steps."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also log to runs/<name>/tb/ for TensorBoard."),
    config_file: Path | None = typer.Option(None, "--config", help="A TOML config applied over the recipe."),
    overrides: list[str] | None = typer.Option(None, "--set", help="key=value, e.g. --set optim.momentum=0.9"),
    name: str | None = typer.Option(None, "--name", help="Run name (folder under runs/)."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Exact run folder to create."),
    resume_dir: Path | None = typer.Option(None, "--resume", help="Continue this run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
) -> None:
    """Train a model: a recipe, plus any option or --set override. Writes a run folder."""
    from digitlab.training.engine import resume, train

    console = err if as_json else out
    reporter = RichReporter(console)
    progress, update = download_progress()
    try:
        if resume_dir is not None:
            allowed = {"train.epochs": epochs, "train.max_steps": max_steps, "train.device": device,
                       "train.ckpt_every": ckpt_every, "data.data_dir": str(data_dir) if data_dir else None}
            extra = [f"{k}={json.dumps(v)}" for k, v in allowed.items() if v is not None]
            given = [o for o, v in (("--recipe", recipe != "quickstart"), ("--model", model), ("--lr", lr),
                                    ("--batch-size", batch_size), ("--optimizer", optimizer), ("--loss", loss),
                                    ("--seed", seed), ("--dataset", dataset), ("--config", config_file),
                                    ("--name", name), ("--run-dir", run_dir)) if v]
            if given:
                raise DigitlabError(f"--resume continues a run as it was configured; drop {', '.join(given)}")
            summary = resume(resume_dir, extra + list(overrides or []), reporter=reporter, progress=update)
        else:
            options = {"model.name": model, "train.epochs": epochs, "train.batch_size": batch_size,
                       "optim.lr": lr, "optim.name": optimizer, "loss.name": loss, "train.seed": seed,
                       "train.device": device, "data.dataset": dataset,
                       "data.data_dir": str(data_dir) if data_dir else None,
                       "data.strict": True if strict_data else None, "train.max_steps": max_steps,
                       "train.ckpt_every": ckpt_every, "train.tensorboard": True if tensorboard else None}
            config = build_config(recipe, config_file, options, list(overrides or []))
            summary = train(config, name=name, run_dir=run_dir, reporter=reporter, progress=update)
    finally:
        reporter.stop()
    if as_json and summary.get("rank", 0) == 0:  # under torchrun only rank 0 reports
        print_json(summary)


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
) -> None:
    """Accuracy, average loss, per-class precision/recall/F1 and the confusion matrix."""
    from digitlab.evaluate import default_figure_path, evaluate

    if split not in ("test", "train", "val"):
        raise DigitlabError(f"--split {split}: choose test, train or val")
    png = confusion_out or default_figure_path(target, "confusion", split)
    gallery = mistakes_out or default_figure_path(target, "mistakes", split)
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


@app.command("models")
@handle_errors
def models_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """The model registry: name, parameters, input size, where it comes from."""
    from digitlab.models import count_parameters, get_model, list_models, model_spec

    rows = []
    for name in list_models():
        spec = model_spec(name)
        rows.append({"name": name, "params": count_parameters(get_model(name)), "input_size": spec.input_size,
                     "normalize": spec.normalize, "output": spec.output, "source": spec.source,
                     "description": spec.description})
    if as_json:
        print_json(rows)
        return
    table = Table("model", "params", "input", "source", "description")
    for r in rows:
        table.add_row(r["name"], f"{r['params']:,}", f"{r['input_size']}x{r['input_size']}", r["source"],
                      r["description"])
    out.print(table)


@app.command("recipes")
@handle_errors
def recipes_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every recipe: name, source tutorial, expected accuracy, what it trains."""
    from digitlab.config import to_dict
    from digitlab.recipes import list_recipes

    rows = [{"name": r.name, "source": r.source, "expected_acc": r.expected_acc, "floor_acc": r.floor_acc,
             "description": r.description, "model": r.config.model.name, "epochs": r.config.train.epochs,
             "config": to_dict(r.config)} for r in list_recipes()]
    if as_json:
        print_json(rows)
        return
    table = Table("recipe", "source", "expected acc", "description")
    for r in rows:
        table.add_row(r["name"], r["source"], f"{r['expected_acc']}%" if r["expected_acc"] else "-", r["description"])
    out.print(table)


# ------------------------------------------------------------------------------------------------ results
def fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


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
    force: bool = typer.Option(False, "--force", help="Let --csv replace an existing file."),
    device: str = typer.Option("auto", "--device"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Predict the digit in your own images (MNIST-style preprocessing), or dataset samples with --dataset."""
    from digitlab.predict import predict_dataset, predict_files

    if dataset is not None or not paths:
        if paths:
            raise DigitlabError("give image paths or --dataset, not both")
        result = predict_dataset(target, dataset, split, n, data_dir, device)
        warn_fallback(result["data"].get("fallback"))
        if as_json:
            print_json(result)
        else:
            out.print(f"Predicted: {result['predicted']}, Actual: {result['actual']}")
        return
    if csv_out is not None and csv_out.exists() and not force:
        raise DigitlabError(f"--csv {csv_out}: file exists; choose another name or add --force to replace it")
    results, errors = predict_files(target, list(paths), top_k, device, explain)
    for e in errors:
        err.print(f"[bold red]error:[/] {e['error']}", markup=True)
    if csv_out is not None:
        import csv
        import io

        from digitlab.training.checkpoint import atomic_write

        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["file", "prediction", "probability", "top_k"])
        for r in results:
            writer.writerow([r["file"], r["prediction"], r["probability"],
                             " ".join(f"{t['label']}:{t['probability']:.4f}" for t in r["top_k"])])
        atomic_write(csv_out, buf.getvalue().encode())
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


@app.command("plot")
@handle_errors
def plot_cmd(
    targets: list[Path] = typer.Argument(..., help="One or more run folders."),
    out_path: Path = typer.Option(Path("curves.png"), "--out", help="PNG or SVG file."),
) -> None:
    """Loss per step (raw + smoothed) and test accuracy per epoch; several runs overlaid."""
    from digitlab import runs
    from digitlab.compare import plot_runs

    path = plot_runs([runs.resolve_run(t) for t in targets], out_path)
    out.print(f"wrote {path}")


def print_runs_table(rows: list[dict], title: str = "") -> None:
    table = Table("run", "status", "recipe", "model", "params", "epochs", "best acc", "final acc", "final loss",
                  "train s", "img/s", "data", title=title or None)
    for r in rows:
        data = r["data"] + (" (SAMPLE)" if r["fallback"] else "")
        table.add_row(r["run"], r["status"], r["recipe"], r["model"], fmt(r["params"], ","), fmt(r["epochs"]),
                      fmt(r["best_test_acc"], ".2f"), fmt(r["final_test_acc"], ".2f"), fmt(r["final_test_loss"], ".4f"),
                      fmt(r["train_seconds"], ".1f"), fmt(r["images_per_second"], ",.0f"), data)
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
    as_json: bool = typer.Option(False, "--json"),
    as_csv: bool = typer.Option(False, "--csv", help="Print the table as CSV."),
) -> None:
    """A table of runs sorted by accuracy, plus their curves overlaid. --recipes A B trains them first."""
    from digitlab.compare import compare_runs, to_csv, train_recipes

    folders = list(targets or [])
    if recipes:
        # `--recipes a b` (space separated, as in the docs) arrives as one option value plus extra arguments
        names = list(recipes) + [str(t) for t in folders if not Path(t).exists()]
        folders = [t for t in folders if Path(t).exists()]
        extra = [f"train.epochs={epochs}"] if epochs else []
        extra += [f"train.seed={seed}"] if seed is not None else []
        extra += [f"data.data_dir={json.dumps(str(data_dir))}"] if data_dir else []
        reporter = RichReporter(err if (as_json or as_csv) else out)
        try:
            folders += train_recipes(names, extra + list(overrides or []), reporter=reporter)
        finally:
            reporter.stop()
    rows = compare_runs(folders, plot_out)
    if as_json:
        print_json(rows)
    elif as_csv:
        typer.echo(to_csv(rows), nl=False)
    else:
        print_runs_table(rows, "sorted by best test accuracy")
        if plot_out:
            out.print(f"wrote {plot_out}")


@app.command("runs")
@handle_errors
def runs_cmd(
    root: Path | None = typer.Option(None, "--root", help="Runs folder (default: $DIGITLAB_RUNS or ./runs)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every run with its status (running, finished, stopped, failed, interrupted), recipe, accuracy, date."""
    from digitlab.runs import list_runs

    rows = list_runs(root)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no runs yet: `digitlab train` makes one")
        return
    print_runs_table(rows)


# ------------------------------------------------------------------------------------------------ interop
@app.command("import-mindspore")
@handle_errors
def import_mindspore_cmd(
    ckpt: Path = typer.Argument(..., help="A MindSpore .ckpt (mindspore.save_checkpoint)."),
    model: str = typer.Option(..., "--model", help="mlp (quick start Network), mlp-deep or lenet5"),
    out_dir: Path = typer.Option(..., "--out", help="The run folder to create, e.g. runs/ms-lenet5"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Read a MindSpore checkpoint (no MindSpore needed) into a run that eval, predict and serve accept."""
    from digitlab.interop.mindspore import import_checkpoint

    summary = import_checkpoint(ckpt, model, out_dir)
    if as_json:
        print_json(summary)
        return
    out.print(f"imported {len(summary['mapped'])} tensors into {summary['run_dir']} (model {model})")
    if summary["unmapped"]:
        out.print(f"unmapped (not used by the model): {', '.join(summary['unmapped'])}")
    out.print(f"next: digitlab eval {summary['run_dir']}")


@app.command("export")
@handle_errors
def export_cmd(
    target: Path = typer.Argument(..., help="A run folder or a .safetensors checkpoint."),
    fmt: str = typer.Option(..., "--format", help="onnx or torchscript"),
    out_file: Path = typer.Option(..., "--out", help="The file to write (a .json with preprocessing goes beside it)."),
    n_check: int = typer.Option(1000, "--check", min=1, help="Test images to compare against PyTorch."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Export to ONNX or TorchScript (dynamic batch), verified against PyTorch before it is kept."""
    from digitlab.export import export_model

    result = export_model(target, fmt, out_file, n_check, data_dir, force)
    warn_fallback(result["data"].get("fallback"))
    if as_json:
        print_json(result)
        return
    out.print(f"wrote {result['path']} ({fmt}); checked on {result['checked']} test images: top-1 agreement "
              f"{result['top1_agreement']:.2%}, max |diff| {result['max_abs_diff']:.1e}")
    out.print(f"preprocessing: {result['sidecar']}")


# ------------------------------------------------------------------------------------------------ serve
@app.command("serve")
@handle_errors
def serve_cmd(
    target: Path | None = typer.Argument(None, help="Default model: a run folder or checkpoint (else the best run)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes it to your network."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    runs_root: Path | None = typer.Option(None, "--runs", help="Runs folder to list (default: $DIGITLAB_RUNS or ./runs)."),
    device: str = typer.Option("cpu", "--device", help="Where models run (cpu is best for single images)."),
) -> None:
    """The web page: draw a digit and watch the model answer; browse runs; a REST API (docs at /docs)."""
    import uvicorn

    from digitlab.device import pick_device
    from digitlab.serve.app import create_app

    if target is not None:
        from digitlab.runs import weights_path

        weights_path(target)  # a clear error now rather than on the first request
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[bold yellow]warning:[/] serving on {host}: anyone who can reach this machine can use the page "
                  "and the API (there is no authentication)", markup=True)
    app_ = create_app(runs_root, target, pick_device(device))
    out.print(f"digitlab serving on http://{host}:{port}/  (runs page /runs, API docs /docs; Ctrl-C stops)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
