"""The `digitlab` command line: thin typer commands that parse, call one library function, and format the
result for people (or as JSON with --json). Only this package prints; errors from the library arrive as
DigitlabError and leave as one line on stderr with a non-zero exit code. Nothing outside it imports it.

One module per group of commands; each attaches its commands to `app` (or `data_app`) when imported:
    console   consoles, the error line, JSON output        progress  the training progress reporter
    data      data fetch | info | show                     train     train (and --resume)
    catalog   recipes                                      results   eval | predict | plot | compare | runs
    inspect   models [show]
    interop   import-mindspore | export | serve            lesson    lesson list | run (the PyTorch course)
    sweep     sweep [show]                                 launch    torchrun (PyTorch's launcher, one-line failures)
    trust     trust RUN: the code a checkpoint carries
"""

from __future__ import annotations

from digitlab.cli import (  # noqa: F401  (registers commands)
    catalog,
    data,
    inspect,
    interop,
    launch,
    lesson,
    results,
    sweep,
    train,
    trust,
)
from digitlab.cli.app import app, main

__all__ = ["app", "main"]
