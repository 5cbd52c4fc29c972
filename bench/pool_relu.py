"""conv -> ReLU -> max-pool against conv -> max-pool -> ReLU (the same numbers: tests/models/test_pool_relu.py), one
training step of that block (forward + backward), milliseconds, median of 60 after 5 warm-up steps.

    python bench/pool_relu.py

Blocks (conv k5, then 2x2 max-pool): cnn-fast's first (batch 128, 1 -> 16 channels, 28x28), LeNet-5's second
(batch 32, 6 -> 16 channels, 14x14), cnn-wide's second (batch 128, 16 -> 64 channels, 12x12); channels_last,
float32 and bf16 autocast.
Run by hand, never in the test suite.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F


def step_ms(shape: tuple[int, int, int, int], out: int, bf16: bool, relu_first: bool, n: int = 60) -> float:
    torch.manual_seed(0)
    x = torch.randn(*shape).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(shape[1], out, 5).to(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(x)
            z = F.max_pool2d(F.relu(y), 2) if relu_first else F.relu(F.max_pool2d(y, 2))
        z.float().sum().backward()

    for _ in range(5):
        step()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ms per forward+backward of one block")
    for shape, out in [((128, 1, 28, 28), 16), ((32, 6, 14, 14), 16), ((128, 16, 12, 12), 64)]:
        for bf16 in (False, True):
            before, after = step_ms(shape, out, bf16, True), step_ms(shape, out, bf16, False)
            print(f"  {str(shape):18s} -> {out:2d} ch {'bf16' if bf16 else 'float32':8s} relu->pool {before:6.3f}   "
                  f"pool->relu {after:6.3f}   {before / after:4.2f}x")


if __name__ == "__main__":
    main()
