"""`digitlab models [show NAME_OR_RUN]`: the model registry, and one model's tree, layer table and parameters."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from digitlab.cli.app import app
from digitlab.cli.console import TRUST_CODE_HELP, handle_errors, out, print_json

models_app = typer.Typer(help="The model registry; `models show NAME` describes one model.", invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
@handle_errors
def models_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """The model registry: name, parameters, input size, where it comes from."""
    if ctx.invoked_subcommand is not None:
        return
    from digitlab.models import count_parameters, get_model, list_models, model_spec

    rows = []
    for name in list_models():
        spec = model_spec(name)
        rows.append({"name": name, "params": count_parameters(get_model(name)), "input_size": spec.input_size,
                     "normalize": spec.normalize, "output": spec.output, "source": spec.source,
                     "description": spec.description,
                     "settings": {f"model.{st.key}": list(st.default) if isinstance(st.default, tuple) else st.default
                                  for st in spec.settings}})
    if as_json:
        print_json(rows)
        return
    table = Table("model", "params", "input", "source", "description", "settings (--set)")
    for r in rows:
        settings = " ".join(f"{k}={v}".replace(" ", "") for k, v in r["settings"].items())
        table.add_row(r["name"], f"{r['params']:,}", f"{r['input_size']}x{r['input_size']}", r["source"],
                      r["description"], settings)
    out.print(table)
    out.print("your own network: --model FILE.py:ClassName (docs/own-network.md)")


@models_app.command("show")
@handle_errors
def models_show(
    target: str = typer.Argument(..., help="A model name (see `digitlab models`), your FILE.py:Name, or a run folder / "
                                           "checkpoint."),
    overrides: list[str] | None = typer.Option(None, "--set", help=(
        "Architecture settings for a model name, e.g. --set model.hidden=[256,128] or --set model.args.hidden=64.")),
    as_json: bool = typer.Option(False, "--json"),
    trust_code: bool = typer.Option(False, "--trust-code", help=TRUST_CODE_HELP),
) -> None:
    """The module tree, each layer's output shape and parameters for the model's input, totals, parameter names."""
    from digitlab.inspect import model_summary

    info = model_summary(Path(target) if Path(target).exists() else target, list(overrides or []))
    if as_json:
        print_json(info)
        return
    out.print(info["tree"])
    out.print(info["layers"])
    out.print(f"parameters: {info['total_params']:,} total, {info['trainable_params']:,} trainable")
    for p in info["parameters"]:  # seed 000's list: Parameter (name=..., shape=(...), dtype=Float32, requires_grad=True)
        out.print(f"Parameter (name={p['name']}, shape={tuple(p['shape'])}, dtype={p['dtype']}, "
                  f"requires_grad={p['requires_grad']})")
