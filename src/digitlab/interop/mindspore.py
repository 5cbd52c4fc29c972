"""Read MindSpore .ckpt files without MindSpore, and turn one into a digitlab run.

The file format (read and written by hand) is interop/ckpt.py's; the models that have a MindSpore counterpart
are interop/counterparts.py's registry. Dense weights are (out, in) and Conv2d weights
(out, in, kh, kw), as in torch, so parameters map by name; MindSpore's own names for the seeds' networks
(`dense_relu_sequential.0.weight`, `conv1.weight`, `fc1.bias`, ...) are digitlab's names already.
Optimizer slots (`moments.*`, `learning_rate`, `global_step`, ...) are reported as unmapped. With no model named,
the importable model whose every parameter the file holds, with the right shapes, is chosen (`infer_model`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from digitlab import config as cfgmod
from digitlab import runs
from digitlab.checkpoint import save_weights
from digitlab.contract import CheckpointInfo, Preprocessing
from digitlab.data.catalog import get_spec
from digitlab.errors import CheckpointError, ConfigError
from digitlab.interop.ckpt import read_ckpt, write_ckpt  # noqa: F401 (write_ckpt: this module's API too)
from digitlab.interop.counterparts import COUNTERPARTS
from digitlab.io import atomic_write, write_json
from digitlab.models import get_model, model_spec
from digitlab.records import ImportSummary

# MindSpore wraps networks in cells whose names prefix the parameters (WithLossCell, TrainOneStepCell, ...)
PREFIXES = ("network.", "_backbone.", "backbone.", "net.", "model.")
# which digitlab recipe each importable model's preprocessing and config come from
RECIPE_FOR_MODEL = {c.model: c.recipe for c in COUNTERPARTS.values()}


@dataclass
class ImportReport:
    mapped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # in the file, not used by the model
    missing: list[str] = field(default_factory=list)  # needed by the model, not in the file
    mismatched: list[str] = field(default_factory=list)


def map_parameters(params: dict[str, np.ndarray], model: torch.nn.Module) -> tuple[dict, ImportReport]:
    own = model.state_dict()
    report = ImportReport()
    state = {}
    for tag, array in params.items():
        name = tag
        for prefix in PREFIXES:
            if name.startswith(prefix) and name[len(prefix):] in own:
                name = name[len(prefix):]
        if name not in own:
            report.unmapped.append(tag)
            continue
        if tuple(array.shape) != tuple(own[name].shape):
            report.mismatched.append(f"{tag} {tuple(array.shape)} vs {tuple(own[name].shape)}")
            continue
        state[name] = torch.from_numpy(array).to(own[name].dtype)
        report.mapped.append(tag)
    report.missing = [k for k in own if k not in state]
    return state, report


def infer_model(params: dict[str, np.ndarray], path: str | os.PathLike = "checkpoint") -> str:
    """The one importable model that the checkpoint's parameter names and shapes fit entirely; a one-line
    CheckpointError when none or several do (then `--model` decides)."""
    fits, near = [], []
    for name in RECIPE_FOR_MODEL:
        _, report = map_parameters(params, get_model(name))
        if not report.missing and not report.mismatched:
            fits.append(name)
        else:
            near.append(f"{name} lacks {len(report.missing)} and mismatches {len(report.mismatched)} parameter(s)")
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise CheckpointError(f"{path}: its parameters fit several models ({', '.join(fits)}); choose one with --model")
    names = ", ".join(list(params)[:6]) + (", ..." if len(params) > 6 else "")
    raise CheckpointError(f"{path}: its parameters ({names}) fit none of the importable models ({'; '.join(near)}); "
                          f"pass --model to see exactly which names are missing")


def import_checkpoint(path: str | os.PathLike, model_name: str | None, out: str | os.PathLike) -> ImportSummary:
    """Make a run folder from a MindSpore checkpoint; eval, predict and serve accept it. Returns its summary.json.
    With model_name None the model is inferred from the parameter names (model_inferred is then True)."""
    if model_name is not None and model_name not in RECIPE_FOR_MODEL:
        raise ConfigError(f"--model {model_name}: importable models are {', '.join(RECIPE_FOR_MODEL)}")
    params = read_ckpt(path)
    inferred = model_name is None
    model_name = infer_model(params, path) if model_name is None else model_name
    model_spec(model_name)
    model = get_model(model_name)
    state, report = map_parameters(params, model)
    if report.missing or report.mismatched:
        detail = "; ".join(filter(None, [
            f"missing: {', '.join(report.missing[:6])}" if report.missing else "",
            f"shape mismatch: {', '.join(report.mismatched[:6])}" if report.mismatched else "",
        ]))
        raise CheckpointError(f"{path}: does not fit model '{model_name}': {detail}; "
                              f"unmapped in the file: {', '.join(report.unmapped[:8]) or 'none'}")
    broken = {name: int((~torch.isfinite(t)).sum()) for name, t in state.items() if t.is_floating_point()}
    broken = {name: n for name, n in broken.items() if n}
    if broken:
        name, n = next(iter(broken.items()))
        raise CheckpointError(f"{path}: parameter {name} holds {n} NaN or infinite value(s)"
                              f"{f' (and {len(broken) - 1} more parameters)' if len(broken) > 1 else ''}; the file is "
                              "damaged or its training diverged: nothing imported")
    model.load_state_dict(state)
    from digitlab.recipes import load_recipe

    config = load_recipe(RECIPE_FOR_MODEL[model_name]).config
    spec = model_spec(model_name)
    out = Path(out)
    folder = runs.new_run_dir(None, out, config.recipe, option="--out")
    # the seeds' MindSpore pipelines: MNIST, Rescale + Normalize with MNIST's statistics, resized to the model's input
    data = get_spec(config.data.dataset)
    pre = Preprocessing(dataset=data.name, input_size=spec.input_size, resize=spec.input_size, pad=0, mean=data.mean,
                        std=data.std, normalize=config.data.normalize, classes=data.classes)
    info = CheckpointInfo(model=model_name, num_classes=len(data.classes), output=spec.output, preprocessing=pre,
                          config=config, origin={"imported_from": str(path), "format_source": "mindspore-ckpt"})
    atomic_write(folder / "config.toml", cfgmod.dumps(config))
    for name in ("last.safetensors", "best.safetensors"):
        save_weights(folder / "checkpoints" / name, model, info)
    summary = ImportSummary(run=folder.name, run_dir=str(folder), recipe=config.recipe, model=model_name,
                            model_inferred=inferred, params=sum(p.numel() for p in model.parameters()),
                            imported_from=str(path), mapped=list(report.mapped), unmapped=list(report.unmapped),
                            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_json(folder / "summary.json", summary.to_json())
    runs.set_status(folder, "imported", recipe=config.recipe, model=model_name)
    return summary
