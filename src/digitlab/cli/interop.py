"""`digitlab import-mindspore|export|serve`: models going in and out of digitlab."""

from __future__ import annotations

from pathlib import Path

import typer

from digitlab.cli.app import app
from digitlab.cli.console import (
    DATA_DIR_HELP,
    TRUST_CODE_HELP,
    handle_errors,
    labelled,
    out,
    print_json,
    warn,
    warn_fallback,
)


@app.command("import-mindspore")
@handle_errors
def import_mindspore_cmd(
    ckpt: Path = typer.Argument(..., help="A MindSpore .ckpt (mindspore.save_checkpoint)."),
    model: str | None = typer.Option(None, "--model", help=(
        "mlp (quick start Network), mlp-deep or lenet5; default: the one the parameter names fit")),
    out_dir: Path = typer.Option(..., "--out", help="The run folder to create, e.g. runs/ms-lenet5"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Read a MindSpore checkpoint (no MindSpore needed) into a run that eval, predict and serve accept."""
    from digitlab.interop.mindspore import import_checkpoint

    summary = import_checkpoint(ckpt, model, out_dir)
    if as_json:
        print_json(summary.to_json())
        return
    how = ", inferred from its parameter names" if summary.model_inferred else ""
    out.print(f"imported {len(summary.mapped)} tensors into {summary.run_dir} (model {summary.model}{how})")
    if summary.unmapped:
        out.print(f"unmapped (not used by the model): {', '.join(summary.unmapped)}")
    out.print(f"next: digitlab eval {summary.run_dir}")


@app.command("export")
@handle_errors
def export_cmd(
    target: Path = typer.Argument(..., help="A run folder or a .safetensors checkpoint."),
    fmt: str = typer.Option(..., "--format", help=(
        "onnx, torchscript or mindspore (a .ckpt for the seeds' own MindSpore networks: mlp, mlp-deep, lenet5)")),
    out_file: Path = typer.Option(..., "--out", help="The file to write (a .json with preprocessing goes beside it)."),
    n_check: int = typer.Option(1000, "--check", min=1, help="Test images to compare against PyTorch."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    as_json: bool = typer.Option(False, "--json"),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
) -> None:
    """Export to ONNX or TorchScript (dynamic batch), or a MindSpore .ckpt for mlp, mlp-deep and lenet5; verified
    before it is kept."""
    from digitlab.export import export_model

    result = export_model(target, fmt, out_file, n_check, data_dir, force)
    warn_fallback(result["data"].get("fallback"))
    if as_json:
        print_json(result)
        return
    out.print(f"wrote {result['path']} ({fmt}); checked on {result['checked']} test images: top-1 agreement "
              f"{result['top1_agreement']:.2%}, max |diff| {result['max_abs_diff']:.1e}")
    loads_into = (result.get(fmt) or {}).get("cell")
    if loads_into:
        out.print(f"loads into {result[fmt]['seed']}'s {loads_into}: mindspore.load_checkpoint + load_param_into_net")
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
    allow_host: list[str] = typer.Option([], "--allow-host", help=(
        "Another Host name to answer (repeatable), e.g. a DNS name of this machine; '*' answers any. "
        "localhost, 127.0.0.1, [::1] and --host are always allowed; others get 403 (DNS rebinding guard).")),
    batch: bool = typer.Option(True, "--batch/--no-batch", help="Gather concurrent predictions into one forward pass."),
    workers: int = typer.Option(0, "--workers", min=0, help="Threads for decoding and inference (0: a core each, up to 4)."),
    timeout_s: float = typer.Option(15.0, "--timeout", min=0.1, help="Seconds a prediction may take before a 503/504."),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="With --batch: most images in one forward pass."),
    batch_wait_ms: float = typer.Option(2.0, "--batch-wait-ms", min=0, help="With --batch: longest wait for company."),
    collect: Path | None = typer.Option(None, "--collect", help=(
        "Turn on the Collect view (/collect): digits drawn and labelled on the page are saved as PNGs in "
        "DIR/<label>/, a folder dataset for `digitlab train --dataset folder --data-dir DIR`. Off unless given.")),
    collect_per_class: int = typer.Option(2000, "--collect-max-per-class", min=1,
                                          help="With --collect: most images per class."),
    collect_total: int = typer.Option(10000, "--collect-max-total", min=1,
                                      help="With --collect: most images in all."),
    threads: int = typer.Option(1, "--threads", min=0, help=(
        "torch threads per forward pass (0: torch's choice, which honours OMP_NUM_THREADS). One is best for single "
        "images and small batches; the worker pool already uses the other cores.")),
    trust_code: bool = typer.Option(False, "--trust-code", help=(
        "Let every served run's recorded model code run, trusted or not (only for runs whose code you have read).")),
) -> None:
    """The web page: draw a digit and watch the model answer; browse runs; a REST API (docs at /docs)."""
    import uvicorn

    from digitlab.device import apply_threads, pick_device
    from digitlab.serve.app import create_app
    from digitlab.serve.collect import CollectLimits
    from digitlab.serve.limits import LOOPBACK_HOSTS, allowed_hosts

    if target is not None:
        from digitlab.checkpoint import MAX_CHECKPOINT_BYTES
        from digitlab.errors import CheckpointError
        from digitlab.io import check_regular
        from digitlab.runs import weights_path

        # a clear error now rather than on the first request (a named pipe would hang the model's load)
        check_regular(weights_path(target), MAX_CHECKPOINT_BYTES, CheckpointError)
    if runs_root is not None and (runs_root.exists() or runs_root.is_symlink()) and not runs_root.is_dir():
        from digitlab.errors import DigitlabError

        raise DigitlabError(f"--runs {runs_root}: not a folder; give the folder that holds the run folders "
                            "(a missing one is fine: no runs yet)")
    if trust_code:
        from digitlab.models.trust import allow_for_process

        allow_for_process()  # the server's worker threads load models: the whole process, not this thread
    hosts = allowed_hosts(host, allow_host)
    if host.strip("[]") not in LOOPBACK_HOSTS:
        warn(f"serving on {host}: anyone who can reach this machine can use the page and the API "
             "(there is no authentication)")
    apply_threads(threads)
    app_ = create_app(runs_root, target, pick_device(device), hosts=hosts, batch=batch, workers=workers or None,
                      timeout_s=timeout_s, max_batch=max_batch, max_wait_s=batch_wait_ms / 1000, collect_dir=collect,
                      collect_limits=CollectLimits(max_per_class=collect_per_class, max_total=collect_total))
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    out.print(f"digitlab serving on http://{shown}:{port}/  (runs page /runs, API docs /docs; Ctrl-C stops)")
    if collect is not None:
        out.print(f"collecting digits: http://{shown}:{port}/collect saves them in {collect}/<label>/")
    if hosts is None:
        out.print("answering any Host name (wildcard bind or --allow-host '*')")
    elif len(hosts) > len(LOOPBACK_HOSTS):
        out.print("answering Host names: " + ", ".join(sorted(hosts)))
    if not trust_code:
        from digitlab import runs
        from digitlab.serve.catalog import outside_root, untrusted_runs

        root = runs_root or runs.paths.runs_root()
        note = untrusted_note(untrusted_runs(root, outside_root(root, target)))
        if note:
            out.print(labelled("note:", "bold cyan", note))
    uvicorn.run(app_, host=host.strip("[]"), port=port, log_level="warning")


UNTRUSTED_SHOWN = 5  # runs named in the start-up note; the rest are counted


def untrusted_note(folders: list[Path]) -> str | None:
    """serve's start-up line about runs whose recorded model code is not trusted here (each answers 409 until it
    is): what to run to read and trust it; None when there are none."""
    if not folders:
        return None
    if len(folders) == 1:
        run = folders[0]
        return (f"run {run.name}: its model code is not trusted here, so it answers 409 until you read it "
                f"(`digitlab trust {run} --show`) and trust it (`digitlab trust {run}`), or serve with --trust-code")
    shown = ", ".join(f.name for f in folders[:UNTRUSTED_SHOWN])
    more = f" and {len(folders) - UNTRUSTED_SHOWN} more" if len(folders) > UNTRUSTED_SHOWN else ""
    first = folders[0]
    return (f"{len(folders)} runs ({shown}{more}): their model code is not trusted here, so they answer 409 until "
            f"you read and trust each: `digitlab trust {first} --show`, then `digitlab trust {first}` (likewise for "
            "the others), or serve with --trust-code")
