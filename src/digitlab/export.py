"""Export a trained model to ONNX, TorchScript or a MindSpore .ckpt, checked before it is kept (FORMATS).

The exported file takes a normalized (B, 1, S, S) float32 batch (dynamic B) and returns the model's raw
outputs. A JSON file beside it records the preprocessing (mean/std, input size, resize, classes) so any
runtime can feed it correctly. The export is written to a temporary file, checked on 1,000 test images
(same top-1 as PyTorch, outputs within 1e-4; ONNX through onnxruntime; a .ckpt is read back as import-mindspore
reads it, every weight bit-identical), and only then renamed into place. A .ckpt is written only for the models
with a network in the seeds (interop/mindspore_export.py), and its JSON adds how the seed's own code loads and
feeds it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from digitlab.checkpoint import read_info, read_shapes
from digitlab.contract import CheckpointInfo
from digitlab.data.sources import load_dataset
from digitlab.errors import ConfigError, DigitlabError
from digitlab.evaluation import data_source
from digitlab.inference import load_model
from digitlab.interop import mindspore_export
from digitlab.io import atomic_save, refuse_overwrite, write_json
from digitlab.runs import weights_path

TOLERANCE = 1e-4


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise DigitlabError("ONNX export needs the onnx and onnxruntime packages: pip install 'digitlab[export]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # the TorchScript-based exporter: no extra dependency, dynamic batch via dynamic_axes
            torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17,
                              dynamo=False)
        except TypeError:  # torch without the dynamo switch
            torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17)


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    try:
        import onnxruntime as ort
    except ImportError:
        raise DigitlabError("checking an ONNX export needs onnxruntime: pip install 'digitlab[export]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _export_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        traced.save(str(path))


def _run_torchscript(path: Path, x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        return loaded(torch.from_numpy(x)).numpy()


@dataclass(frozen=True)
class Format:
    """How one format is written (export(model, example, tmp)), run for the check (run(path, x, model) -> outputs),
    which models it takes (accept(info) raises a one-line error, before any data is read), and what its JSON adds."""

    export: Callable[[torch.nn.Module, torch.Tensor, Path], None]
    run: Callable[[Path, np.ndarray, torch.nn.Module], np.ndarray]
    accept: Callable[[CheckpointInfo, dict], object] | None = None  # (info, tensor shapes), from the header
    sidecar: Callable[[CheckpointInfo, torch.nn.Module, str], dict] | None = None


FORMATS: dict[str, Format] = {
    "onnx": Format(_export_onnx, lambda path, x, model: _run_onnx(path, x)),
    "torchscript": Format(_export_torchscript, lambda path, x, model: _run_torchscript(path, x)),
    "mindspore": Format(mindspore_export.write_mindspore, mindspore_export.run_mindspore,
                        mindspore_export.counterpart_for, mindspore_export.mindspore_sidecar),
}


def export_model(target: str | os.PathLike, fmt: str, out: str | os.PathLike, n_check: int = 1000,
                 data_dir: str | os.PathLike | None = None, force: bool = False) -> dict:
    """Export, verify, keep. Returns {"path", "format", "checked", "top1_agreement", "max_abs_diff", ...}."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose {', '.join(list(FORMATS)[:-1])} or {list(FORMATS)[-1]}")
    form = FORMATS[fmt]
    out = Path(out)
    refuse_overwrite(out, force, "--out")
    refuse_overwrite(out.with_name(out.name + ".json"), force, "--out's sidecar")  # written beside it, same rule
    if form.accept is not None:  # from the header, before the weights load: a model of your own is refused here too
        form.accept(read_info(weights_path(target)), read_shapes(weights_path(target)))
    model, ckpt = load_model(target, "cpu")
    pre = ckpt.info.preprocessing
    size = pre.input_size
    # check on real test images when we can find them; the sample (MNIST digits) otherwise
    ds = load_dataset(*data_source(ckpt.info, None, data_dir), test_size=ckpt.info.config.data.test_size)
    images, labels = ds.test_images[:n_check], ds.test_labels[:n_check]
    x = pre.model_input(images, "cpu")
    with torch.inference_mode():
        reference = model(x).numpy()
    checked: dict[str, float] = {}

    def export_and_check(tmp: Path) -> None:
        """Runs on the temporary file; raising here leaves nothing under the real name."""
        form.export(model, torch.zeros(1, 1, size, size), tmp)
        got = form.run(tmp, x.numpy(), model)
        checked["agreement"] = float((got.argmax(1) == reference.argmax(1)).mean())
        checked["diff"] = float(np.abs(got - reference).max())
        if checked["agreement"] < 1.0 or checked["diff"] > TOLERANCE:
            raise DigitlabError(f"{out}: the {fmt} export disagrees with PyTorch (top-1 agreement "
                                f"{checked['agreement']:.4f}, max |diff| {checked['diff']:.2e} > {TOLERANCE}); "
                                "nothing was written")

    atomic_save(out, export_and_check)
    agreement, diff = checked["agreement"], checked["diff"]
    sidecar = out.with_name(out.name + ".json")
    meta = {
        "model": ckpt.model_name,
        "format": fmt,
        "file": out.name,
        "input": {"name": "input", "shape": ["batch", 1, size, size], "dtype": "float32"},
        "output": {"name": "output", "kind": ckpt.info.output, "classes": list(pre.classes)},
        "preprocessing": {
            "steps": ["grayscale 28x28, white ink on black (MNIST convention)",
                      f"resize to {pre.resize}x{pre.resize} bilinear" if pre.resize != 28 else "no resize",
                      f"pad {pre.pad}" if pre.pad else "no padding",
                      "x / 255",
                      f"(x - {pre.mean}) / {pre.std}" if pre.normalize else "no normalization"],
            **pre.to_json(),
        },
        "checked": {"images": len(labels), "dataset": ds.name, "top1_agreement": agreement, "max_abs_diff": diff},
        "source_checkpoint": str(ckpt.path),
    }
    if form.sidecar is not None:
        meta[fmt] = form.sidecar(ckpt.info, model, out.name)
    write_json(sidecar, meta)
    return {"path": str(out), "format": fmt, "sidecar": str(sidecar), "checked": len(labels),
            "top1_agreement": agreement, "max_abs_diff": diff, "data": ds.provenance(),
            **({fmt: meta[fmt]} if fmt in meta else {})}
