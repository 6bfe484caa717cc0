"""Training data made on the fly: scene i of a seed is always the same caption and image."""

from __future__ import annotations

import numpy as np
import torch

from .captions import caption, sample_scene, scene_rng
from .render import render


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 to (N, 3, H, W) float in [-1, 1], the range SD's VAE works in."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """The inverse of `to_tensor`, clamping what a decoder overshoots."""
    scaled = images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).numpy()


def examples(seed: int, start: int, count: int) -> tuple[list[str], np.ndarray]:
    """Captions and renderings of training scenes start .. start + count."""
    indices = range(start, start + count)
    batch = [sample_scene(scene_rng(seed, i, "train")) for i in indices]
    images = np.stack([render(s) for s in batch])
    return [caption(s) for s in batch], images
