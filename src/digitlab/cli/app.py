"""The typer applications every command module attaches to, and the process entry point."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="digitlab",
    help="Train, evaluate, compare and explain handwritten-digit classifiers (MNIST, Fashion-MNIST, KMNIST).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Find, fetch, verify and look at datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def main() -> None:
    from digitlab.cli.console import err

    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
