"""What the tutorials print about their pipeline and their model, as data.

    batch_preview(config) -> dict   a recipe's first training batch after its transforms: seed 000's
                                    "Shape of image [N, C, H, W]: (64, 1, 28, 28) Float32" and "Shape of label",
                                    and seed 002's one-sample view (keys, image shape, label)
    model_summary(target) -> dict   seed 000's module tree and parameter list, seed 002's layer shapes: the module
                                    tree, torchinfo's layer table (output shape, parameters per layer for the
                                    model's input size), total and trainable counts, every parameter's name and shape
A target is a registry name or a run folder / checkpoint (then the trained model and its input size).
"""

from __future__ import annotations

import os

import torch

from digitlab.config import Config
from digitlab.errors import ConfigError


def dtype_name(dtype: torch.dtype) -> str:
    """torch.float32 -> "Float32", as MindSpore prints dtypes in the tutorials."""
    return str(dtype).replace("torch.", "").capitalize()


def batch_preview(config: Config) -> dict:
    """The first training batch of a recipe's pipeline (shuffle, normalization, augmentation applied)."""
    from digitlab.device import pick_device
    from digitlab.training.setup import check_config, prepare_data

    device = pick_device(config.train.device)
    data = prepare_data(check_config(config), device)
    data.train.set_epoch(0)
    x, y = next(iter(data.train))
    return {
        "dataset": data.dataset.name,
        "data": data.dataset.provenance(),
        "batches_per_epoch": len(data.train),
        "n_train": len(data.train.labels),
        "image_shape": list(x.shape),
        "image_dtype": dtype_name(x.dtype),
        "label_shape": list(y.shape),
        "label_dtype": dtype_name(y.dtype),
        "pixel_min": round(float(x.min()), 4),
        "pixel_max": round(float(x.max()), 4),
        "sample": {"keys": ["image", "label"], "image_shape": list(x[0].shape), "label": int(y[0])},
        "device": str(device),
    }


def model_summary(target: str | os.PathLike, overrides: list[str] | None = None) -> dict:
    """A registry model or your own FILE.py:Name (freshly initialised, with `--set model.*` settings), or a trained
    one (run folder / checkpoint), described."""
    from torchinfo import summary as torchinfo_summary

    from digitlab import config as cfgmod
    from digitlab.models import build, count_parameters, list_models
    from digitlab.models.user import is_user_ref

    if str(target) in list_models() or (is_user_ref(str(target)) and not os.path.exists(target)):
        base = cfgmod.Config(model=cfgmod.ModelConfig(name=str(target)))
        cfg = cfgmod.validate(cfgmod.with_overrides(base, overrides)).model
        code = build.source_code(cfg)
        name, source = cfg.name, "registry" if code is None else code.file
        model, size = build.build(cfg, 10, code), build.traits(cfg, code).input_size
    else:
        from digitlab.inference import load_model

        if overrides:
            raise ConfigError("--set describes a model name's architecture; a trained run is shown as it was trained")
        try:
            model, ckpt = load_model(target)
        except Exception as exc:  # noqa: BLE001 - say both ways a target can be read
            if os.path.exists(target):
                raise
            raise ConfigError(f"'{target}' is neither a model name ({', '.join(list_models())}), FILE.py:Name, nor a "
                              "run folder or checkpoint") from exc
        name, size, source = ckpt.info.model, ckpt.info.preprocessing.input_size, str(ckpt.path)
    model = model.cpu().eval()
    table = torchinfo_summary(model, input_size=(1, 1, size, size), col_names=("output_size", "num_params"),
                              depth=3, verbose=0, device="cpu")
    return {
        "model": name,
        "source": source,
        "input_shape": [1, 1, size, size],
        "tree": str(model),
        "layers": str(table),
        "total_params": count_parameters(model),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "parameters": [{"name": n, "shape": list(p.shape), "dtype": dtype_name(p.dtype),
                        "requires_grad": p.requires_grad} for n, p in model.named_parameters()],
    }
