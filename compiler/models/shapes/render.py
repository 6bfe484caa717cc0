"""Anti-aliased renderings of scenes: the training images and the checker's ground truth.

Each shape fills a square box of side `SIDE[size]` pixels centred on its position's anchor.
Objects are not jittered: anchors sit on the latent grid (multiples of 8 pixels), so an object
always meets the VAE's 8x8 cells the same way, which is what lets a model this small, trained
this briefly, draw crisp shapes. Drawing at `SUPERSAMPLE`x and box-filtering down gives
anti-aliased edges with PIL alone.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .captions import BACKGROUNDS, COLOURS, DEFAULT_BACKGROUND, Obj, Scene

IMAGE_SIZE = 64
SUPERSAMPLE = 4
SIDE = {"small": 18.0, "medium": 23.0, "large": 28.0}
ANCHORS = {
    "center": (32.0, 32.0),
    "left": (16.0, 32.0),
    "right": (48.0, 32.0),
    "top": (32.0, 16.0),
    "bottom": (32.0, 48.0),
}


def _star() -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        radius = 1.0 if k % 2 == 0 else 0.45
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((radius * math.cos(angle), radius * math.sin(angle)))
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [
        ((x - min(xs)) / (max(xs) - min(xs)), (y - min(ys)) / (max(ys) - min(ys)))
        for x, y in points
    ]


def _cross(arm: float = 0.36) -> list[tuple[float, float]]:
    a, b = 0.5 - arm / 2, 0.5 + arm / 2
    return [
        (a, 0),
        (b, 0),
        (b, a),
        (1, a),
        (1, b),
        (b, b),
        (b, 1),
        (a, 1),
        (a, b),
        (0, b),
        (0, a),
        (a, a),
    ]


# Outlines in the unit box, x right and y down.
POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": [(0, 0), (1, 0), (1, 1), (0, 1)],
    "triangle": [(0.5, 0), (1, 1), (0, 1)],
    "cross": _cross(),
    "star": _star(),
}
RING_HOLE = 0.5  # inner diameter over outer diameter


def draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    box: tuple[float, float, float, float],
    fill: tuple[int, int, int] | int,
    background: tuple[int, int, int] | int,
) -> None:
    """Draw `shape` filling the box (left, top, width, height), all in canvas pixels."""
    left, top, width, height = box
    if shape in ("circle", "ring"):
        draw.ellipse((left, top, left + width, top + height), fill=fill)
        if shape == "ring":
            dx, dy = width * (1 - RING_HOLE) / 2, height * (1 - RING_HOLE) / 2
            draw.ellipse(
                (left + dx, top + dy, left + width - dx, top + height - dy), fill=background
            )
        return
    draw.polygon([(left + x * width, top + y * height) for x, y in POLYGONS[shape]], fill=fill)


def coverage(
    shape: str, box: tuple[float, float, float, float], canvas: tuple[int, int]
) -> np.ndarray:
    """How much of each pixel of a (height, width) canvas the shape in box covers, in [0, 1]."""
    image = Image.new("L", (canvas[1] * SUPERSAMPLE, canvas[0] * SUPERSAMPLE), 0)
    draw_shape(ImageDraw.Draw(image), shape, tuple(v * SUPERSAMPLE for v in box), 255, 0)
    return np.asarray(image.reduce(SUPERSAMPLE), dtype=np.float32) / 255


def layout(obj: Obj) -> tuple[float, float, float]:
    """Centre x, centre y and side in image pixels of one object."""
    return (*ANCHORS[obj.position or "center"], SIDE[obj.size or "medium"])


def render(scene: Scene) -> np.ndarray:
    """The scene as a (64, 64, 3) uint8 RGB array."""
    background = BACKGROUNDS[scene.background or DEFAULT_BACKGROUND]
    canvas = Image.new("RGB", (IMAGE_SIZE * SUPERSAMPLE,) * 2, background)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        cx, cy, side = (v * SUPERSAMPLE for v in layout(obj))
        box = (cx - side / 2, cy - side / 2, side, side)
        draw_shape(draw, obj.shape, box, COLOURS[obj.colour], background)
    return np.asarray(canvas.reduce(SUPERSAMPLE))
