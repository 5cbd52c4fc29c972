"""The registry of digitlab models that have a MindSpore counterpart in the seeds, both ways.

Each entry names the seed's network class (`nn.Cell`) whose parameters are the model's, name for name, shape for
shape (Dense (out, in), Conv2d (out, in, kh, kw) as in torch, LeNet-5's convolutions without bias as MindSpore's
default has_bias=False), the digitlab recipe that reproduces that seed (for imports), and how the seed's
`datapipe` feeds the network: `datapipe_lines` writes those lines for a run's own preprocessing (the seeds' own
numbers for MNIST). import-mindspore reads into these models; `export --format mindspore` writes only these.
"""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.contract import Preprocessing


@dataclass(frozen=True)
class Counterpart:
    model: str  # digitlab registry name
    recipe: str  # the digitlab recipe reproducing the seed (its config and preprocessing go with imports)
    seed: str  # the seed file's number and what it is
    cell: str  # the seed's network class
    num_classes: int  # outputs of the seed's network
    normalize_with: str  # how the seed's datapipe normalizes: "Normalize" (seeds 000/001) or "Rescale" (seed 002)


COUNTERPARTS: dict[str, Counterpart] = {c.model: c for c in (
    Counterpart("mlp", "quickstart", "seed 000 (the MindSpore quick start)", "Network", 10, "Normalize"),
    Counterpart("mlp-deep", "quickstart-deep", "seed 001 (the quick start's deeper Network_new)", "Network_new", 10,
                "Normalize"),
    Counterpart("lenet5", "lenet5", "seed 002 (MindSpore's LeNet-5 sample)", "LeNet5", 10, "Rescale"),
)}


def exportable() -> str:
    """'mlp (seed 000's Network), ...' for messages."""
    return ", ".join(f"{c.model} ({c.seed.split(' (')[0]}'s {c.cell})" for c in COUNTERPARTS.values())


def datapipe_lines(counterpart: Counterpart, pre: Preprocessing) -> list[str]:
    """The image transforms of the seed's datapipe (mindspore.dataset.vision, in order) that feed the network what
    the run's model saw: MnistDataset's (28, 28, 1) uint8 images in, (1, S, S) float32 out."""
    lines = []
    if pre.resize != 28:
        lines.append(f"vision.Resize(({pre.resize}, {pre.resize}), interpolation=Inter.LINEAR)")
    if pre.pad:
        lines.append(f"vision.Pad({pre.pad})")
    if counterpart.normalize_with == "Rescale":  # seed 002: rescale, then a second Rescale that normalizes
        lines.append("vision.Rescale(1.0 / 255.0, 0.0)")
        if pre.normalize:
            lines.append(f"vision.Rescale(1 / {pre.std!r}, -1 * {pre.mean!r} / {pre.std!r})")
    else:
        lines.append("vision.Rescale(1.0 / 255.0, 0)")
        if pre.normalize:
            lines.append(f"vision.Normalize(mean=({pre.mean!r},), std=({pre.std!r},))")
    lines.append("vision.HWC2CHW()")
    return lines
