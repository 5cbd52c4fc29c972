"""What the CLI prints with: the two consoles (stdout, stderr), the error line, JSON output and warnings.

User text (paths, messages naming `[train]`) is always printed literally, never parsed as rich markup, so a
path like `x[/y]` cannot break the printer. Library errors (DigitlabError) leave as one `error: ...` line
and an exit code; OS errors (disk full, permission denied) name their file. Two endings are not errors: a deliberate
stop (Ctrl-C, SIGTERM: TrainingInterrupted) prints its plain line ("... saved. Resume with: ...") and exits 130, and
a reader that closed the pipe (`digitlab train | head`) ends the process quietly with 141.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import sys
import warnings

import typer
from rich.console import Console
from rich.text import Text

from digitlab.errors import DigitlabError, DigitlabNote, TrainingInterrupted
from digitlab.io import describe_os_error

# 128 + SIGPIPE: what a shell reports for a program whose reader went away (`digitlab train | head`)
EXIT_PIPE = 141

# Tables stay readable when output is piped or captured (rich would otherwise assume 80 columns).
WIDTH = None if sys.stdout.isatty() else max(shutil.get_terminal_size((160, 24)).columns, 160)


class PipeConsole(Console):
    """A rich Console that lets a closed pipe surface as BrokenPipeError. rich's own answer is SystemExit(1), which
    training would record as a failed run ("error": "1"); as BrokenPipeError the run is saved and marked interrupted
    ("output closed") and `handle_errors` ends the process quietly. Once broken, the console prints nothing more."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "output closed")


# markup=False: everything printed is literal text; styles come only from rich Text objects built here.
out = PipeConsole(highlight=False, soft_wrap=True, width=WIDTH, markup=False)
err = PipeConsole(stderr=True, highlight=False, soft_wrap=True, width=WIDTH, markup=False)

TRUST_CODE_HELP = ("Run the model code recorded in this checkpoint even if it is not on your trust list (only for "
                   "checkpoints whose code you have read: `digitlab trust RUN --show`).")
DATASET_HELP = "mnist, fashion-mnist, kmnist, mnist-sample, idx; your own files: folder, csv, npz (with --data-dir)"
DATA_DIR_HELP = "Folder holding the IDX files (else $DIGITLAB_DATA, the cache, /usr/share/datasets)."


def labelled(label: str, style: str, message: str) -> Text:
    """`label message` with only the label styled; the message is plain text (no markup)."""
    return Text.assemble((label, style), " ", message)


def print_error(message: str) -> None:
    err.print(labelled("error:", "bold red", message.replace("\n", " ")))


def fail(message: str, code: int = 1) -> typer.Exit:
    print_error(message)
    return typer.Exit(code)


def handle_errors(fn):
    """Turn digitlab's exceptions into one error line and an exit code; keep warnings visible."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from digitlab.models.trust import allowing

        with warnings.catch_warnings(), allowing(bool(kwargs.get("trust_code"))):
            warnings.simplefilter("ignore", category=UserWarning)  # the CLI reports fallbacks itself
            warnings.simplefilter("always", category=DigitlabNote)
            shown = warnings.showwarning  # restored by catch_warnings

            def show(message, category, *rest, **kw):
                if issubclass(category, DigitlabNote):
                    return warn(str(message))
                return shown(message, category, *rest, **kw)

            warnings.showwarning = show
            try:
                return fn(*args, **kwargs)
            except TrainingInterrupted as exc:  # asked for, and saved: say how to go on, not "error:"
                err.print(str(exc).replace("\n", " "))
                raise typer.Exit(exc.exit_code) from None
            except DigitlabError as exc:
                raise fail(str(exc), exc.exit_code) from None
            except KeyboardInterrupt:
                err.print("interrupted")
                raise typer.Exit(130) from None
            except BrokenPipeError:  # the reader left (`| head`): nothing to say, and nowhere to say it
                silence_stdout()
                raise typer.Exit(EXIT_PIPE) from None
            except OSError as exc:  # disk full, permission denied, ...: say which file and why, no traceback
                raise fail(describe_os_error(exc)) from None

    return wrapper


def silence_stdout() -> None:
    """The reader of stdout left (`digitlab ... | head`). Python would complain once more while flushing stdout at
    exit ("Exception ignored ... BrokenPipeError"), so the process's stdout is pointed at /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout already closed, or not a real file (CliRunner): nothing left to flush
        pass


def print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def warn(message: str) -> None:
    err.print(labelled("warning:", "bold yellow", message))


def warn_fallback(fallback: str | None) -> None:
    if fallback:
        err.print(labelled(" WARNING ", "bold yellow on black", fallback))


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


def fmt(value, spec: str = "") -> str:
    """A table cell: '-' for a missing value."""
    return "-" if value is None else format(value, spec)
