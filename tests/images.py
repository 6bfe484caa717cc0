"""Image comparisons the tests share."""

from __future__ import annotations

import numpy as np


def psnr(ours: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio of 8-bit images (or stacks of them), in dB."""
    mse = float(np.mean((np.asarray(ours, float) - np.asarray(reference, float)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def max_diff(ours: bytes | np.ndarray, reference: np.ndarray) -> int:
    """The largest difference of one 8-bit value: `ours` as RGBA bytes or an array of
    `reference`'s shape."""
    pixels = np.frombuffer(bytes(ours), np.uint8).reshape(reference.shape)
    return int(np.abs(pixels.astype(int) - reference.astype(int)).max())
