"""`digitlab torchrun [torchrun options] COMMAND ...`: torchrun for `python -m digitlab COMMAND ...`, its failures
as one line (digitlab/launch.py)."""

from __future__ import annotations

import os
import sys

import typer

from digitlab.cli.app import app
from digitlab.cli.console import handle_errors


@app.command("torchrun", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                           "help_option_names": []})
@handle_errors
def torchrun_cmd(ctx: typer.Context) -> None:
    """torchrun (PyTorch's launcher) running `digitlab COMMAND ...`: the same options, failures in one line.

    e.g. digitlab torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint HOST:29400 train ...
    """
    from digitlab.launch import QUIET, WorkerFailed, launch

    # c10d's C++ side logs each failed connection with a stack of frames before Python sees the error; its level is
    # read once, when torch loads: start again with it at FATAL (unless the user set it), and give the workers the
    # user's environment back
    if "TORCH_CPP_LOG_LEVEL" not in os.environ and QUIET not in os.environ:
        os.execve(sys.executable, [sys.executable, "-m", "digitlab", "torchrun", *ctx.args],
                  {**os.environ, "TORCH_CPP_LOG_LEVEL": "FATAL", QUIET: "1"})
    if os.environ.pop(QUIET, None):
        os.environ.pop("TORCH_CPP_LOG_LEVEL", None)
    try:
        launch(list(ctx.args))
    except WorkerFailed as exc:  # the worker printed its own error line
        raise typer.Exit(exc.exit_code) from None
