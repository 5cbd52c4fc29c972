"""Batched tensor transforms: conversion, rescale, normalize, resize, pad (once per split) and
augmentation (per batch, on the device). No per-sample Python anywhere.

Shapes: images are (N, H, W) uint8 on input and (N, 1, H', W') float on output (NCHW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def to_float_nchw(
    images: torch.Tensor,
    mean: float,
    std: float,
    normalize: bool = True,
    size: int = 0,
    pad: int = 0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, S, S) float: resize, rescale to [0, 1], normalize, pad.

    Resize (bilinear, half-pixel centres like OpenCV/MindSpore's Resize) works on the 0..255 values and is
    rounded back to whole levels, as MindSpore's pipeline does when it resizes the uint8 image before
    rescaling. Padding uses the background value (0 before normalization) so a padded border looks like
    paper, not like ink.
    """
    x = images.unsqueeze(1).to(torch.float32)
    if size and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).round_().clamp_(0, 255)
    x = x.mul_(1.0 / 255.0)
    if normalize:
        x = x.sub_(mean).div_(std)
    if pad:
        background = (0.0 - mean) / std if normalize else 0.0
        x = F.pad(x, (pad, pad, pad, pad), value=background)
    return x.to(dtype).contiguous()


@dataclass(frozen=True)
class Augment:
    """Random affine jitter applied per batch: shift in pixels, rotation in degrees, scale as a fraction."""

    shift: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    background: float = 0.0  # the value of an empty pixel after normalization

    @property
    def active(self) -> bool:
        return bool(self.shift or self.rotate or self.scale)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x: (B, C, H, W) float. Draws its randomness from `generator` (CPU), so it is reproducible."""
        if not self.active:
            return x
        b, _, h, w = x.shape
        u = torch.rand(b, 4, generator=generator) * 2 - 1  # uniform in [-1, 1], on the CPU
        angle = u[:, 0] * math.radians(self.rotate)
        scale = 1 + u[:, 1] * self.scale
        # affine_grid works in normalized coordinates: a shift of s pixels is 2*s/size.
        tx = u[:, 2] * self.shift * 2 / w
        ty = u[:, 3] * self.shift * 2 / h
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        theta = theta.to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        # grid_sample fills outside pixels with 0: shift so that 0 is the background, then shift back.
        out = F.grid_sample(x - self.background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out + self.background
