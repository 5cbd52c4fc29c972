"""`digitlab trust RUN`: read the model code a checkpoint carries, and trust it (or list / remove trusted code)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import handle_errors, out, print_json
from digitlab.errors import DigitlabError


@app.command("trust")
@handle_errors
def trust_cmd(
    target: Path | None = typer.Argument(None, help="A run folder or checkpoint whose model is your own code."),
    show: bool = typer.Option(False, "--show", help="Print the recorded code and trust nothing."),
    list_all: bool = typer.Option(False, "--list", help="List the trusted code (sha256, name, file, when, why)."),
    remove: str | None = typer.Option(None, "--remove", help="Take this sha256 (or a unique prefix) off the list."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Trust the Python code recorded in a run's checkpoint, so eval, predict, serve, export and --resume run it."""
    from digitlab import runs
    from digitlab.checkpoint import read_weights
    from digitlab.models import trust
    from digitlab.models.user import printable

    if list_all or remove:
        if target is not None:
            raise DigitlabError("--list and --remove take no run; give one or the other")
        entries = trust.trusted_list()
        if remove:
            matches = [sha for sha in entries if sha.startswith(remove.lower())]
            if len(matches) != 1:
                raise DigitlabError(f"--remove {remove}: matches {len(matches)} trusted entries; give more of the sha256")
            trust.remove(matches[0])
            out.print(f"removed {matches[0]} ({entries[matches[0]].get('ref', '')}) from {trust.trust_file()}")
            return
        if as_json:
            print_json(entries)
            return
        table = Table("sha256", "code", "added", "why", title=str(trust.trust_file()))
        for sha, e in entries.items():
            table.add_row(sha[:16], printable(str(e.get("ref", ""))), str(e.get("added", "")), str(e.get("why", "")))
        out.print(table)
        return
    if target is None:
        raise DigitlabError("give a run folder or checkpoint to trust (or --list)")
    ckpt = read_weights(runs.weights_path(target))  # reads metadata and tensors; runs nothing
    code = ckpt.info.code
    if code is None:
        raise DigitlabError(f"{ckpt.path}: its model is '{ckpt.info.model}' from digitlab's registry; there is no "
                            "code to trust")
    if not code.text:
        raise DigitlabError(f"{ckpt.path}: {code.missing}")
    if as_json:
        print_json({**code.to_json(), "trusted": trust.is_trusted(code)})
    elif show:  # control characters escaped: an ESC sequence in a comment could otherwise hide a line of code
        out.print(printable(f"# {code.display}  sha256 {code.sha256}  arguments {code.args}  (from {code.file})"))
        out.print(printable(code.text), end="" if code.text.endswith("\n") else "\n")
    if show or as_json:
        return
    added = trust.add(code, "trusted")
    out.print(f"{'trusted' if added else 'already trusted'}: {code.display} (sha256 {code.sha256}); "
              f"list: {trust.trust_file()}; modules it imports from its folder are not covered: read those too")
