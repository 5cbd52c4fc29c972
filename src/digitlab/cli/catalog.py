"""`digitlab models` and `digitlab recipes`: what the registries hold."""

from __future__ import annotations

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import handle_errors, out, print_json


@app.command("models")
@handle_errors
def models_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """The model registry: name, parameters, input size, where it comes from."""
    from digitlab.models import count_parameters, get_model, list_models, model_spec

    rows = []
    for name in list_models():
        spec = model_spec(name)
        rows.append({"name": name, "params": count_parameters(get_model(name)), "input_size": spec.input_size,
                     "normalize": spec.normalize, "output": spec.output, "source": spec.source,
                     "description": spec.description})
    if as_json:
        print_json(rows)
        return
    table = Table("model", "params", "input", "source", "description")
    for r in rows:
        table.add_row(r["name"], f"{r['params']:,}", f"{r['input_size']}x{r['input_size']}", r["source"],
                      r["description"])
    out.print(table)


@app.command("recipes")
@handle_errors
def recipes_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every recipe: name, source tutorial, expected accuracy, what it trains."""
    from digitlab.config import to_dict
    from digitlab.recipes import list_recipes

    rows = [{"name": r.name, "source": r.source, "expected_acc": r.expected_acc, "floor_acc": r.floor_acc,
             "description": r.description, "model": r.config.model.name, "epochs": r.config.train.epochs,
             "config": to_dict(r.config)} for r in list_recipes()]
    if as_json:
        print_json(rows)
        return
    table = Table("recipe", "source", "expected acc", "description")
    for r in rows:
        table.add_row(r["name"], r["source"], f"{r['expected_acc']}%" if r["expected_acc"] else "-", r["description"])
    out.print(table)


# ------------------------------------------------------------------------------------------------ results
