"""`digitlab train` (and `--resume`): parse the options, call digitlab.train / digitlab.resume."""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.cli.app import app
from digitlab.cli.console import (
    DATA_DIR_HELP,
    DATASET_HELP,
    TRUST_CODE_HELP,
    download_progress,
    err,
    handle_errors,
    out,
    print_json,
)
from digitlab.cli.progress import RichReporter
from digitlab.errors import DigitlabError


@app.command("train")
@handle_errors
def train_cmd(
    recipe: str | None = typer.Option(None, "--recipe", "-r",
                                      help="Recipe name (default quickstart; see `digitlab recipes`)."),
    model: str | None = typer.Option(None, "--model", help=(
        "Model name (see `digitlab models`), or your own network: FILE.py:ClassName (arguments: --set model.args.X=V).")),
    epochs: int | None = typer.Option(None, "--epochs", min=1),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    lr: float | None = typer.Option(None, "--lr"),
    optimizer: str | None = typer.Option(None, "--optimizer", help="sgd, momentum, adam, adamw, adadelta"),
    loss: str | None = typer.Option(None, "--loss", help="ce, nll, softmax-ce"),
    seed: int | None = typer.Option(None, "--seed"),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, mps"),
    dataset: str | None = typer.Option(None, "--dataset", help=DATASET_HELP),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP + " For folder, csv, npz: the "
                                         "folder of class folders, the CSV or the .npz."),
    strict_data: bool = typer.Option(False, "--strict-data", help=(
        "Fail instead of using the offline sample; with --dataset folder, fail on any file that is not a readable "
        "image instead of skipping it.")),
    init_from: str | None = typer.Option(None, "--init-from", help=(
        "Fine-tune: start from this run's (or checkpoint's) weights, same architecture; a fresh last layer when "
        "the classes differ. Try --recipe fine-tune.")),
    freeze: int | None = typer.Option(None, "--freeze", min=0, help="Train only the last N layers (train.freeze)."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=0, help="Stop after N steps (smoke runs)."),
    ckpt_every: int | None = typer.Option(None, "--ckpt-every", min=0, help="Resume checkpoint every N steps."),
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="CPU threads for torch (default: $OMP_NUM_THREADS, else torch's choice)."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also log to runs/<name>/tb/ for TensorBoard."),
    config_file: Path | None = typer.Option(None, "--config", help="A TOML config applied over the recipe."),
    overrides: list[str] | None = typer.Option(None, "--set", help="key=value, e.g. --set optim.momentum=0.9"),
    name: str | None = typer.Option(None, "--name", help="Run name (folder under runs/)."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Exact run folder to create."),
    resume_dir: Path | None = typer.Option(None, "--resume", help="Continue this run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout."),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
) -> None:
    """Train a model: a recipe, plus any option or --set override. Writes a run folder."""
    from digitlab.recipes import resolve_config
    from digitlab.training.engine import resume, train

    console = err if as_json else out
    reporter = RichReporter(console)
    progress, update = download_progress()
    try:
        placement = {"train.epochs": epochs, "train.max_steps": max_steps, "train.device": device,
                     "train.ckpt_every": ckpt_every, "train.threads": threads,
                     "data.data_dir": str(data_dir) if data_dir else None}
        if resume_dir is not None:
            given = [o for o, v in (("--recipe", recipe), ("--model", model), ("--lr", lr),
                                    ("--batch-size", batch_size), ("--optimizer", optimizer), ("--loss", loss),
                                    ("--seed", seed), ("--dataset", dataset), ("--config", config_file),
                                    ("--name", name), ("--run-dir", run_dir), ("--strict-data", strict_data),
                                    ("--tensorboard", tensorboard), ("--init-from", init_from),
                                    ("--freeze", freeze)) if v]
            if given:
                raise DigitlabError(f"--resume continues a run as it was configured; drop {', '.join(given)}")
            summary = resume(resume_dir, list(overrides or []), reporter=reporter, progress=update, values=placement)
        else:
            values = {**placement, "model.name": model, "train.batch_size": batch_size, "optim.lr": lr,
                      "optim.name": optimizer, "loss.name": loss, "train.seed": seed, "data.dataset": dataset,
                      "data.strict": True if strict_data else None, "train.tensorboard": True if tensorboard else None,
                      "train.init_from": init_from, "train.freeze": freeze}
            if init_from:  # the same architecture and input geometry as the run it starts from, unless told
                from digitlab.training.finetune import base_values, origin

                values = {**base_values(origin(init_from)), **{k: v for k, v in values.items() if v is not None}}
            config = resolve_config(recipe, config_file, values, list(overrides or []))
            summary = train(config, name=name, run_dir=run_dir, reporter=reporter, progress=update)
    finally:
        reporter.stop()
    if as_json and summary.rank == 0:  # under torchrun only rank 0 reports
        print_json(summary.to_json())
