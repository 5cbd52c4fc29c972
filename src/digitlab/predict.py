"""Predict digits: for a person's image files (MNIST-style preprocessing), for dataset samples, or for every row of
Kaggle's test.csv (its answer file: `ImageId,Label`, 1-based ids, one row per test row)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from digitlab.data.sources import load_dataset
from digitlab.device import pick_device
from digitlab.errors import DigitlabError
from digitlab.evaluation import data_source
from digitlab.inference import class_probabilities, describe, load_model
from digitlab.io import refuse_overwrite
from digitlab.preprocess import IMAGE_SUFFIXES, image_files, read_image, to_mnist


def predict_files(
    target: str | os.PathLike,
    paths: list[str | os.PathLike],
    top_k: int = 3,
    device: str = "auto",
    explain_dir: str | os.PathLike | None = None,
    force: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Returns (results, errors): one result per readable image, one error {file, error} per bad one."""
    dev = pick_device(device)
    model, ckpt = load_model(target, dev)
    classes = ckpt.info.classes
    files: list[Path] = []
    empty_folders: list[dict] = []  # a folder given by name that holds no images is named, never silently skipped
    for path in paths:
        found = image_files([path])
        if not found and Path(path).is_dir():
            empty_folders.append({"file": str(path), "error": f"{path}: a folder with no image files (PNG, JPEG, BMP, "
                                                              "GIF, WebP, TIFF)"})
        files.extend(found)
    if not files:
        raise DigitlabError(f"no image files in {', '.join(map(str, paths))} (PNG, JPEG, BMP, GIF, WebP, TIFF)")
    prepared, names, errors = [], [], []
    originals: dict[str, np.ndarray] = {}  # decoded grayscale, kept only for --explain (shown beside the 28x28 input)
    for f in files:
        try:
            gray = read_image(f)
            prepared.append(to_mnist(gray, str(f)))
            names.append(str(f))
            if explain_dir is not None:
                originals[str(f)] = gray
        except DigitlabError as exc:
            errors.append({"file": str(f), "error": str(exc)})
    explained = explain_paths(names, explain_dir, force) if explain_dir is not None else {}
    results: list[dict] = []
    if prepared:
        batch = np.stack(prepared)
        probs = class_probabilities(model, ckpt.info, batch, dev)
        for name, p, img in zip(names, probs, batch):
            results.append({"file": name, **describe(p, classes, top_k)})
            if name in explained:
                from digitlab.plots import explanation

                explanation(img, p, classes, explained[name], title=Path(name).name, original=originals.get(name))
                results[-1]["explain"] = str(explained[name])
    return results, empty_folders + errors


def explain_paths(names: list[str], explain_dir: str | os.PathLike, force: bool) -> dict[str, Path]:
    """Each image's explanation file, decided before any is written: distinct within the call, and an existing file
    (from an earlier call) is refused unless `force`."""
    used: set[str] = set()
    paths = {name: Path(explain_dir) / unique_name(Path(name), used) for name in names}
    for path in paths.values():
        refuse_overwrite(path, force, "--explain")
    return paths


def unique_name(image: Path, used: set[str]) -> str:
    """`stem.explain.png`, or, when another image of this call already took that name (x.png and x.jpg, or the same
    name in two folders), `name.explain.png`, then `name-2.explain.png`, ...: one output never replaces another."""
    for candidate in [image.stem, image.name] + [f"{image.name}-{i}" for i in range(2, 10_000)]:
        if candidate + ".explain.png" not in used:
            used.add(candidate + ".explain.png")
            return candidate + ".explain.png"
    raise DigitlabError(f"{image}: too many images with this name for --explain")


SUBMISSION_BATCH = 4096
SUBMISSION_NEEDS = "--submission needs Kaggle's test.csv (784 pixel columns, no label)"


def submission_input(target: str | os.PathLike, paths: list[str | os.PathLike]) -> Path:
    """The one input of `predict --submission`, checked before any model loads: exactly one file, not a folder, not an
    image (each refusal says what --submission needs and, for images, the command that predicts them)."""
    images = f"`digitlab predict {target} IMAGES... --csv out.csv`"
    if not paths:
        raise DigitlabError(f"{SUBMISSION_NEEDS}: `digitlab predict {target} test.csv --submission submission.csv`")
    if len(paths) > 1:
        shown = ", ".join(map(str, paths[:3])) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        raise DigitlabError(f"{len(paths)} inputs given ({shown}); --submission needs one file, Kaggle's test.csv "
                            f"(784 pixel columns, no label); for image files use {images}")
    path = Path(paths[0])
    if path.is_dir():
        raise DigitlabError(f"{path}: a folder; {SUBMISSION_NEEDS}; for a folder of images use "
                            f"`digitlab predict {target} {path} --csv out.csv`")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise DigitlabError(f"{path}: an image; {SUBMISSION_NEEDS}; for image files use "
                            f"`digitlab predict {target} {path} --csv out.csv`")
    return path


def predict_csv(target: str | os.PathLike, csv_path: str | os.PathLike, device: str = "auto") -> dict:
    """Every row of a Kaggle-layout CSV (test.csv: 784 pixel columns; a labelled train.csv also works, and then
    its accuracy is reported): labels (class names, in row order), n, model, and accuracy when labelled."""
    from digitlab.data.tabular import read_csv

    path = submission_input(target, [csv_path])
    dev = pick_device(device)
    model, ckpt = load_model(target, dev)
    wanted = (f"{SUBMISSION_NEEDS}; for a folder of images use `digitlab predict {target} FOLDER --csv out.csv`")
    table = read_csv(path, n_classes=ckpt.info.num_classes, wanted=wanted)
    predicted = np.concatenate([class_probabilities(model, ckpt.info, table.images[i : i + SUBMISSION_BATCH],
                                                    dev).argmax(1)
                                for i in range(0, len(table.images), SUBMISSION_BATCH)])
    classes = ckpt.info.classes
    result = {"labels": [classes[int(p)] for p in predicted], "n": len(predicted), "model": ckpt.model_name,
              "checkpoint": str(ckpt.path), "csv": str(csv_path), "sha256": table.digest}
    if table.labels is not None:
        result["accuracy"] = round(100.0 * float((predicted == table.labels).mean()), 4)
    return result


def submission_csv(labels: list[str]) -> str:
    """Kaggle's answer file: a header, then `ImageId,Label` with 1-based ids in the test file's row order."""
    return "ImageId,Label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels, 1))


def predict_dataset(target: str | os.PathLike, dataset: str | None = None, split: str = "test", n: int = 10,
                    data_dir: str | os.PathLike | None = None, device: str = "auto") -> dict:
    """The tutorials' check: Predicted vs Actual for the first n samples of a split."""
    dev = pick_device(device)
    model, ckpt = load_model(target, dev)
    ds = load_dataset(*data_source(ckpt.info, dataset, data_dir), test_size=ckpt.info.config.data.test_size)
    images, labels = ds.split(split)
    probs = class_probabilities(model, ckpt.info, images[:n], dev)
    return {"predicted": probs.argmax(1).tolist(), "actual": labels[:n].tolist(),
            "probability": [round(float(p.max()), 6) for p in probs], "dataset": ds.name, "split": split,
            "data": ds.provenance()}
