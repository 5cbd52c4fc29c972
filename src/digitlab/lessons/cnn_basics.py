"""Lesson `cnn-basics` (seed 003, section 10 "卷积神经网络", 10.1-10.3): what a convolution's padding and
stride, and max pooling, do to the shape and the numbers of a tensor.

The course's pictures, as code: first a random (1, 5, 100, 100) batch through Conv2d(5, 10, kernel_size=3)
to see the shapes (input, output, weight); then the 5x5 input with the hand-set 3x3 kernel 1..9
(`conv_layer.weight.data = kernel.data`) with padding=1 (the output keeps 5x5) and with stride=2 (3x3 -> 2x2
positions); then MaxPool2d(kernel_size=2) on a 4x4 input (the stride defaults to the kernel size: 2x2 out).
Tensors are (batch, channels, height, width). The picture shows each input, kernel and output with its numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from digitlab.lessons.base import Board, figure

# The course's 5x5 input and its 3x3 kernel (1 .. 9, row by row)
INPUT_5x5 = [3, 4, 6, 5, 7,
             2, 4, 6, 8, 2,
             1, 6, 7, 8, 4,
             9, 7, 4, 6, 2,
             3, 7, 5, 4, 1]
KERNEL_3x3 = [1, 2, 3, 4, 5, 6, 7, 8, 9]
# The 4x4 input of the pooling picture
INPUT_4x4 = [3, 4, 6, 5,
             2, 4, 6, 8,
             1, 6, 7, 8,
             9, 7, 4, 6]


def run(board: Board) -> dict:
    p = board.print
    device = board.device
    shapes = {}

    # ---- shapes: 5 input channels, 10 output channels, a 3x3 kernel, no padding
    in_channels, out_channels = 5, 10
    width, height = 100, 100
    kernel_size = 3
    batch_size = 1
    input = torch.randn(batch_size, in_channels, width, height, device=device)  # noqa: A001  (the course's name)
    conv_layer = torch.nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size).to(device)
    output = conv_layer(input)
    p("Conv2d(5, 10, kernel_size=3) on a random batch:")
    p("input.shape  ", input.shape)
    p("output.shape ", output.shape, " (100 - 3 + 1 = 98: no padding shrinks each side by kernel_size - 1)")
    p("weight.shape ", conv_layer.weight.shape, " (out_channels, in_channels, kH, kW)")
    shapes["conv_shapes"] = {"input": list(input.shape), "output": list(output.shape),
                             "weight": list(conv_layer.weight.shape)}

    # ---- 10.1 padding: one ring of zeros keeps the 5x5 size
    input = torch.tensor(INPUT_5x5, dtype=torch.float32, device=device).view(1, 1, 5, 5)  # noqa: A001
    conv_layer = torch.nn.Conv2d(1, 1, kernel_size=3, padding=1, bias=False).to(device)
    kernel = torch.tensor(KERNEL_3x3, dtype=torch.float32, device=device).view(1, 1, 3, 3)
    conv_layer.weight.data = kernel.data  # 自己定义卷积核权重: a hand-set kernel instead of a learned one
    padded = conv_layer(input)
    p("")
    p("10.1 padding=1:")
    p("input", input.shape)
    p(input)
    p("kernel", kernel.shape)
    p(kernel)
    p("output", padded.shape)
    p(padded.data)
    shapes["padding"] = list(padded.shape)

    # ---- 10.2 stride=2: the kernel jumps two pixels, so (5 - 3) / 2 + 1 = 2 positions per side
    conv_layer = torch.nn.Conv2d(1, 1, kernel_size=3, stride=2, bias=False).to(device)
    conv_layer.weight.data = kernel.data
    strided = conv_layer(input)
    p("")
    p("10.2 stride=2:")
    p("output", strided.shape)
    p(strided.data)
    shapes["stride"] = list(strided.shape)

    # ---- 10.3 max pooling: each 2x2 block keeps its largest number
    pool_input = torch.tensor(INPUT_4x4, dtype=torch.float32, device=device).view(1, 1, 4, 4)
    maxpooling_layer = torch.nn.MaxPool2d(kernel_size=2)
    pooled = maxpooling_layer(pool_input)
    p("")
    p("10.3 MaxPool2d(kernel_size=2):")
    p("input", pool_input.shape)
    p(pool_input)
    p("output", pooled.shape)
    p(pooled)
    shapes["pooling"] = list(pooled.shape)

    _draw(board, input, kernel, padded, strided, pool_input, pooled)
    return {"shapes": shapes, "padding_output": padded.squeeze().tolist(), "stride_output": strided.squeeze().tolist(),
            "pooling_output": pooled.squeeze().tolist()}


def _grid(ax, values: torch.Tensor, title: str, cmap: str = "Blues") -> None:
    """A matrix drawn as coloured cells with its numbers written in them."""
    a = values.detach().squeeze().cpu().numpy()
    ax.imshow(a, cmap=cmap)
    for (i, j), v in np.ndenumerate(a):
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8,
                color="white" if v > a.min() + 0.6 * (a.max() - a.min()) else "black")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(a.shape[1]))
    ax.set_yticks(range(a.shape[0]))
    ax.set_xlabel("column (pixels)", fontsize=8)
    ax.set_ylabel("row (pixels)", fontsize=8)


def _draw(board: Board, input, kernel, padded, strided, pool_input, pooled) -> None:
    fig = figure(figsize=(15, 6.5))
    panels = [(input, "input 5x5", "Blues"), (kernel, "kernel 3x3 (weight.data = 1..9)", "Oranges"),
              (padded, "padding=1: output 5x5", "Greens"), (strided, "stride=2: output 2x2", "Greens"),
              (pool_input, "pooling input 4x4", "Blues"), (pooled, "MaxPool2d(2): output 2x2", "Purples")]
    for k, (values, title, cmap) in enumerate(panels):
        _grid(fig.add_subplot(2, 4, k + 1), values, title, cmap)
    ax = fig.add_subplot(2, 4, (7, 8))
    ax.axis("off")
    ax.text(0, 0.95, "Each output cell = sum of (input window x kernel).\n\n"
                     "padding=1 adds a ring of zeros:\n5x5 in -> 5x5 out.\n\n"
                     "stride=2 moves the window 2 pixels:\n(5 - 3) / 2 + 1 = 2 -> 2x2 out.\n\n"
                     "MaxPool2d(2) keeps the largest of\neach 2x2 block: 4x4 -> 2x2.",
            va="top", fontsize=10)
    fig.suptitle("Convolution padding and stride, and max pooling (numbers as the course's pictures)")
    fig.subplots_adjust(hspace=0.45, wspace=0.35)
    board.save(fig, "conv.png")
