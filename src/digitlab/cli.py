"""The `digitlab` command line: thin typer commands that parse, call one library function, and format
the result for people (or as JSON with --json). Only this module prints; errors from the library arrive
as DigitlabError and leave as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import functools
import json
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

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

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
    table = Table("split", "n", "shape", "dtype", "pixel mean", "pixel std", "class counts")
    for split, s in info["splits"].items():
        table.add_row(split, str(s["n"]), "x".join(map(str, s["shape"])), s["dtype"], f"{s['pixel_mean']:.4f}",
                      f"{s['pixel_std']:.4f}", " ".join(map(str, s["class_counts"])))
    out.print(table)


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
                       "train.ckpt_every": ckpt_every}
            config = build_config(recipe, config_file, options, list(overrides or []))
            summary = train(config, name=name, run_dir=run_dir, reporter=reporter, progress=update)
    finally:
        reporter.stop()
    if as_json:
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
    strict_data: bool = typer.Option(False, "--strict-data"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Accuracy, average loss, per-class precision/recall/F1 and the confusion matrix."""
    from digitlab.evaluate import default_confusion_path, evaluate

    if split not in ("test", "train", "val"):
        raise DigitlabError(f"--split {split}: choose test, train or val")
    png = confusion_out or default_confusion_path(target, split)
    result = evaluate(target, dataset, split, data_dir, device, png, strict_data=strict_data)
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
    if result.get("confusion_png"):
        out.print(f"wrote {result['confusion_png']}")


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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
