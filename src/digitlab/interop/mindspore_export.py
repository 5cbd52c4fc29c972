"""`export --format mindspore`: a run's weights as the .ckpt that mindspore.save_checkpoint writes for the seed's
own network class, written without MindSpore, and read back to check it.

Only the models with a counterpart in the seeds (interop/counterparts.py) are written; any other is refused in one
line before anything is read or written. Parameter names are digitlab's (they are the seeds' attribute names), in
the network's parameter order, float32 as MindSpore's Dense and Conv2d hold them. The check reads the written file
back the way import-mindspore does and requires every weight to be bit-identical to the run's.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from digitlab.contract import CheckpointInfo
from digitlab.errors import CheckpointError, ConfigError
from digitlab.interop.ckpt import TYPE_NAMES, encode_ckpt, read_ckpt
from digitlab.interop.counterparts import COUNTERPARTS, Counterpart, datapipe_lines, exportable

WHY = "a .ckpt only loads into a MindSpore network with the same parameters, and the seeds define these networks"


def _same_parameters(counterpart: Counterpart, shapes: dict[str, tuple[int, ...]]) -> bool:
    """Whether a network's parameters (names and shapes, as a set) are exactly the seed network's."""
    from digitlab.models import get_model

    own = {k: tuple(v.shape) for k, v in get_model(counterpart.model).state_dict().items()}
    return own == dict(shapes)


def counterpart_for(info: CheckpointInfo, shapes: dict[str, tuple[int, ...]] | None = None) -> Counterpart:
    """The seed network the run's model fits: its registry counterpart with the model's own architecture, or any
    network (your own, or a registry model with architecture settings) whose parameters are exactly one seed
    network's, names and shapes (`shapes`: the checkpoint's); a one-line ConfigError naming the exportable ones
    otherwise."""
    from digitlab.models import model_spec

    counterpart = COUNTERPARTS.get(info.model)
    changed: dict = {}
    if counterpart is not None:
        defaults = {st.key: st.default for st in model_spec(info.model).settings}
        changed = {k: v for k in ("hidden", "channels", "layers")
                   if (v := getattr(info.config.model, k)) and v != defaults.get(k)}
    if counterpart is None or changed:
        # a network whose code is known (your own, recorded; or a registry family with settings): by its parameters
        known = info.code is not None or counterpart is not None
        same = [c for c in COUNTERPARTS.values() if known and shapes is not None and _same_parameters(c, shapes)]
        if same:
            counterpart = same[0]
        elif counterpart is None:
            raise ConfigError(f"--format mindspore: model '{info.model}' has no MindSpore counterpart; exportable: "
                              f"{exportable()}, or a network with exactly one of their parameter lists ({WHY})")
        else:
            shown = ", ".join(f"model.{k}={list(v) if isinstance(v, tuple) else v}" for k, v in changed.items())
            raise ConfigError(f"--format mindspore: this {info.model} run has {shown}, so its parameters fit no seed "
                              f"network; export a run trained with the model's own architecture")
    if info.num_classes != counterpart.num_classes:
        raise ConfigError(f"--format mindspore: this {info.model} run has {info.num_classes} classes but the seed's "
                          f"{counterpart.cell} has {counterpart.num_classes} outputs, so its last layer would not "
                          f"load; export a run trained on all {counterpart.num_classes} classes")
    return counterpart


def mindspore_params(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """The model's parameters by their MindSpore names, in the network's order, as float32 arrays."""
    params = {}
    for name, tensor in model.state_dict().items():
        if tensor.dtype != torch.float32:
            raise CheckpointError(f"parameter {name} is {tensor.dtype}; the seeds' MindSpore networks hold float32")
        params[name] = tensor.detach().cpu().contiguous().numpy()
    return params


def write_mindspore(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """The export step for export.py's format registry (example is unused: a .ckpt holds weights only)."""
    path.write_bytes(encode_ckpt(mindspore_params(model)))


def run_mindspore(path: Path, x: np.ndarray, model: torch.nn.Module) -> np.ndarray:
    """Read the written file back as import-mindspore does (by name, every parameter, strict), require every weight
    bit-identical to `model`'s, and return the outputs of the model rebuilt from the file."""
    from digitlab.interop.mindspore import map_parameters

    rebuilt = copy.deepcopy(model)
    state, report = map_parameters(read_ckpt(path), rebuilt)
    if report.missing or report.mismatched or report.unmapped:
        raise CheckpointError(f"{path}: the written checkpoint does not read back (missing {report.missing}, "
                              f"mismatched {report.mismatched}, unmapped {report.unmapped})")
    own = model.state_dict()
    changed = [k for k, v in state.items() if not torch.equal(v, own[k])]
    if changed:
        raise CheckpointError(f"{path}: weights changed on the way through the file: {', '.join(changed)}")
    rebuilt.load_state_dict(state, strict=True)
    with torch.inference_mode():
        return rebuilt.eval()(torch.from_numpy(x)).numpy()


def mindspore_sidecar(info: CheckpointInfo, model: torch.nn.Module, file_name: str) -> dict:
    """The `mindspore` part of `<file>.json`: which seed class loads the file, how, and the seed's datapipe lines
    that make its input."""
    counterpart = counterpart_for(info, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    return {
        "seed": counterpart.seed,
        "cell": counterpart.cell,
        "parameters": [{"name": k, "shape": list(v.shape), "dtype": TYPE_NAMES[np.dtype(np.float32)]}
                       for k, v in model.state_dict().items()],
        "datapipe": {
            "imports": ["from mindspore.dataset import MnistDataset, vision, transforms",
                        *(["from mindspore.dataset.vision import Inter"] if info.preprocessing.resize != 28 else [])],
            "image": datapipe_lines(counterpart, info.preprocessing),
            "label": "transforms.TypeCast(mindspore.int32)",
        },
        "load": [f"net = {counterpart.cell}()",
                 f"param_dict = mindspore.load_checkpoint({file_name!r})",
                 "param_not_load, _ = mindspore.load_param_into_net(net, param_dict)  # [] : every parameter placed",
                 "net.set_train(False)"],
    }
