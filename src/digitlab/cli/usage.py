"""Usage mistakes (a bad option value, an unknown option, a missing argument) as ONE `error:` line.

click/typer would print a usage line, a hint and a boxed panel: several lines for one mistake, unlike every other
error digitlab prints. `OneLineUsageGroup` is the top-level typer group class: it catches click's exceptions where
the command line is parsed (the group's own options, and each subcommand's, which are parsed inside the group's
invoke) and prints `error: <click's message> (see `digitlab CMD --help`)`, exit status 2 as click uses. `digitlab`
with no arguments still prints the help.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

# typer carries its own copy of click: its exceptions (ClickException, UsageError, ...) all derive from the public
# typer.TyperException, not from the `click` package's classes.
CliMistake = typer.TyperException


def _is_help(exc: Exception) -> bool:
    """`digitlab` / `digitlab data` with no command: click shows the help, which is not a mistake."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def _one_line(exc: CliMistake) -> typer.Exit:
    from digitlab.cli.console import print_error

    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    print_error(str(exc.format_message()).strip() + hint)
    return typer.Exit(getattr(exc, "exit_code", 2))


class OneLineUsageGroup(TyperGroup):
    """A TyperGroup whose parse errors (its own and its subcommands') leave as one `error:` line."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except CliMistake as exc:
            if _is_help(exc) or not hasattr(exc, "format_message"):
                raise
            raise _one_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CliMistake as exc:
            if _is_help(exc) or not hasattr(exc, "format_message"):
                raise
            raise _one_line(exc) from None
