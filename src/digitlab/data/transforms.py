"""Batched tensor transforms: conversion, rescale, normalize, resize, pad (once per split) and
augmentation (per batch, on the device). No per-sample Python anywhere.

Shapes: images are (N, H, W) uint8 on input and (N, 1, H', W') float on output (NCHW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def resize_pad(images: torch.Tensor, size: int = 0, pad: int = 0) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, S, S) uint8: resize and pad once, staying in whole 0..255 levels.

    Resize is bilinear with half-pixel centres (as OpenCV / MindSpore's Resize) on the 0..255 values, rounded
    back to uint8 as MindSpore's pipeline does when it resizes the uint8 image before rescaling. Padding is 0,
    the background, so a padded border looks like paper, not ink.
    """
    x = images.unsqueeze(1)
    if size and size != x.shape[-1]:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
        x = x.round_().clamp_(0, 255).to(torch.uint8)
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), value=0)
    return x.contiguous()


@dataclass(frozen=True)
class Normalize:
    """uint8 batch -> float: x / 255 (ToTensor), then (x - mean) / std (Normalize).

    Applied to a whole split once (training's loaders, eval, predict), or per batch by a TensorLoader that keeps
    its split uint8.
    """

    mean: float
    std: float
    normalize: bool = True
    dtype: torch.dtype = torch.float32

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # (x/255 - mean)/std folded into two in-place ops on the converted batch: (x - 255 mean) * 1/(255 std)
        x = x.to(self.dtype)
        if not self.normalize:
            return x.mul_(1.0 / 255.0)
        return x.sub_(255.0 * self.mean).mul_(1.0 / (255.0 * self.std))

    @property
    def background(self) -> float:
        """The value of an empty (0) pixel after this transform."""
        return (0.0 - self.mean) / self.std if self.normalize else 0.0


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
