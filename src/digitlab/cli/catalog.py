"""`digitlab recipes`: what the recipe registry holds (`digitlab models` lives in cli/inspect.py)."""

from __future__ import annotations

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import handle_errors, out, print_json


@app.command("recipes")
@handle_errors
def recipes_cmd(
    name: str | None = typer.Argument(None, help="Show this recipe's full resolved config (as TOML, or --json)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every recipe: name, source tutorial, expected accuracy, what it trains. With NAME: its whole config."""
    from digitlab.config import to_dict
    from digitlab.recipes import list_recipes, load_recipe

    if name is not None:
        show_recipe(load_recipe(name), as_json)
        return
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
    out.print("`digitlab recipes NAME` prints one recipe's full config (every setting, defaults included)")


def show_recipe(recipe, as_json: bool) -> None:
    """One recipe's resolved config: defaults <- its TOML. The TOML form is a valid `--config FILE` (its header
    lines are comments), so `digitlab recipes lenet5 > mine.toml`, edit, `digitlab train --config mine.toml`."""
    from digitlab.config import dumps, to_dict

    if as_json:
        print_json({"name": recipe.name, "source": recipe.source, "expected_acc": recipe.expected_acc,
                    "floor_acc": recipe.floor_acc, "description": recipe.description, "config": to_dict(recipe.config)})
        return
    header = [f"# recipe {recipe.name}: {recipe.description}", f"# from: {recipe.source or '-'}"]
    if recipe.expected_acc is not None:
        header.append(f"# expected test accuracy: {recipe.expected_acc}%")
    header.append(f"# every setting, defaults included; train with it: digitlab train --recipe {recipe.name}")
    typer.echo("\n".join(header) + "\n\n" + dumps(recipe.config), nl=False)


# ------------------------------------------------------------------------------------------------ results
