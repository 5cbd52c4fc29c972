"""`digitlab data fetch|info|show`: find, fetch, verify and look at datasets."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer
from rich.table import Table

from digitlab.cli.app import data_app
from digitlab.cli.console import (
    DATA_DIR_HELP,
    DATASET_HELP,
    download_progress,
    err,
    handle_errors,
    labelled,
    out,
    print_json,
    warn,
    warn_fallback,
)
from digitlab.errors import DigitlabError
from digitlab.io import refuse_overwrite


def _progress():
    """The download bar on a terminal; nothing otherwise (rich leaves a blank line on a pipe)."""
    return download_progress() if err.is_terminal else (contextlib.nullcontext(), None)


@data_app.command("fetch")
@handle_errors
def data_fetch(
    name: str = typer.Argument("mnist", help="mnist, fashion-mnist, kmnist"),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Verify the copy in this folder (any layout data info knows) and install it into the "
                             "data home, so every later command finds it with no --data-dir."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Find the dataset locally or download it (mirrors, checksums, lock), or install a local copy (--from).

    Never falls back to the offline sample.
    """
    if from_dir is not None:
        _install(name, from_dir, as_json)
        return
    from digitlab.data.sources import fetch

    progress, update = _progress()
    with progress:
        source = fetch(name, progress=update)
    result = {"dataset": source.dataset, "source": source.kind, "path": source.path,
              "files": {k: str(v) for k, v in source.files.items()}}
    if as_json:
        print_json(result)
    else:
        out.print(f"{name}: {source.kind} at {source.path}")


def _install(name: str, from_dir: Path, as_json: bool) -> None:
    from dataclasses import asdict

    from digitlab.data.install import install

    done = install(name, from_dir)
    if as_json:
        print_json({**asdict(done), "source": "installed", "from": done.source})
        return
    parts = [f"{len(done.copied)} copied"] + ([f"{len(done.kept)} already there"] if done.kept else [])
    out.print(f"{name}: installed into {done.path} ({', '.join(parts)}; verified: {done.verify_note})")
    for aside in done.set_aside:
        warn(f"{Path(done.path) / aside}: an unverified file that was in the way, renamed (not deleted)")
    out.print(f"every command now finds {name} there, with no --data-dir")


@data_app.command("info")
@handle_errors
def data_info(
    name: str = typer.Argument("mnist", help=DATASET_HELP),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    strict_data: bool = typer.Option(False, "--strict-data", help="Fail instead of using the offline sample "
                                     "(with folder: fail on a file that is not a readable image)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Where the data came from, whether it is verified, split sizes, class counts, pixel statistics."""
    from digitlab.data.sources import load_dataset
    from digitlab.stats import dataset_info

    progress, update = _progress()
    with progress:
        ds = load_dataset(name, data_dir, strict=strict_data, progress=update)
    info = dataset_info(ds)
    warn_fallback(ds.fallback)
    if as_json:
        print_json(info)
        return
    out.print(labelled(info["dataset"], "bold", f" source: {info['source']}  {info['path']}"))
    out.print(f"verified: {'yes' if info['verified'] else 'no'} ({info['verify_note']})")
    out.print(f"normalize: mean {ds.mean:.4f}  std {ds.std:.4f}")
    if "split" in info:
        out.print(f"split: {info['split']}")
    if ds.notice:
        warn(ds.notice)
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
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
    batch: bool = typer.Option(False, "--batch", help="Print a recipe's first batch: shapes and dtypes (no grid)."),
    recipe: str | None = typer.Option(None, "--recipe", help="With --batch: the recipe's pipeline (default quickstart)."),
    as_json: bool = typer.Option(False, "--json", help="With --batch: print the shapes as JSON."),
) -> None:
    """Write a labelled grid of samples to a PNG; or, with --batch, a recipe's batch shapes as the tutorials print."""
    if batch:
        show_batch(name, recipe, data_dir, strict_data, as_json)
        return
    from digitlab.data.loader import select
    from digitlab.data.sources import load_dataset
    from digitlab.plots import image_grid

    refuse_overwrite(out_path, force, "--out")  # an earlier grid (or any file) is never replaced silently
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


def show_batch(name: str, recipe: str | None, data_dir: Path | None, strict: bool, as_json: bool) -> None:
    """The quick start's shape lines and the LeNet-5 sample's one-sample view, after a recipe's transforms."""
    from digitlab.inspect import batch_preview
    from digitlab.recipes import resolve_config

    config = resolve_config(recipe, values={"data.dataset": name, "data.strict": strict or None,
                                            "data.data_dir": str(data_dir) if data_dir else None})
    info = batch_preview(config)
    warn_fallback(info["data"].get("fallback"))
    if as_json:
        print_json(info)
        return
    out.print(f"Shape of image [N, C, H, W]: {tuple(info['image_shape'])} {info['image_dtype']}")
    out.print(f"Shape of label: {tuple(info['label_shape'])} {info['label_dtype']}")
    sample = info["sample"]
    out.print(f"The item of the dataset: dict_keys({sample['keys']})")
    out.print(f"Tensor of image in item: {tuple(sample['image_shape'])}  label: {sample['label']}")
    out.print(f"{info['n_train']:,} training images in {info['batches_per_epoch']:,} batches; pixel values "
              f"{info['pixel_min']} .. {info['pixel_max']} after the recipe's transforms")


# ------------------------------------------------------------------------------------------------ training
