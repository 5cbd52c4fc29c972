"""The typer applications every command module attaches to, the global options (--version), and the process entry
point (how a closed pipe and Ctrl-C end the process)."""

from __future__ import annotations

import sys

import typer

from digitlab.cli.console import EXIT_PIPE, err, silence_stdout
from digitlab.cli.usage import OneLineUsageGroup

app = typer.Typer(
    name="digitlab",
    help="Train, evaluate, compare and explain handwritten-digit classifiers (MNIST, Fashion-MNIST, KMNIST).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineUsageGroup,  # a usage mistake is one `error:` line, like every other error
)
data_app = typer.Typer(help="Find, fetch, verify and look at datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

def version_text() -> str:
    """`digitlab X.Y.Z (torch A.B.C, Python D.E.F)`: what a bug report needs."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from digitlab import __version__

    try:
        torch_version = version("torch")
    except PackageNotFoundError:  # pragma: no cover - torch is a dependency
        torch_version = "not installed"
    return f"digitlab {__version__} (torch {torch_version}, Python {platform.python_version()})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print digitlab's version (and torch's, Python's) and exit."),
) -> None:
    """Train, evaluate, compare and explain handwritten-digit classifiers (MNIST, Fashion-MNIST, KMNIST)."""


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # a closed pipe outside any command (e.g. --help | head): quiet, 141 as shells report
        silence_stdout()
        sys.exit(EXIT_PIPE)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
