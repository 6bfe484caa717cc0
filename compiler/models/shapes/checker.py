"""A classical judge of whether an image shows what a prompt of the shapes grammar says.

No learnt model: it estimates the background from the border, cuts the foreground into connected
blobs, and measures each blob's dominant colour, its coverage of each pixel, and from that its
area (size), its centroid (position) and its outline, which it matches against the renderer's
shapes by soft intersection over union. Attributes the prompt does not say are not tested, but
the number of objects always is.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .captions import BACKGROUNDS, COLOURS, SHAPES, Obj, parse
from .render import ANCHORS, SIDE, coverage

FOREGROUND_DISTANCE = 60.0  # RGB distance from the background that counts as an object
MIN_AREA = 12  # blobs with fewer pixels are noise
MIN_IOU = 0.6  # an outline this far from every shape is no shape at all
EDGE_LEVEL = 0.5  # coverage that counts as inside the object when measuring its extent
MARGIN = 3  # pixels around a blob that its blurred edge may reach
BLURS = (0.0, 0.6, 1.2)  # template blurs (px): generated edges are softer than renderings
GROWTH = (-0.5, 0.0, 0.5, 1.0, 1.5)  # template box growth (px) beyond the half-coverage box
# How much of its square box each shape fills, to turn an area into a side. A soft edge shrinks
# an object's extent (tips recede) and grows its area (notches fill): size is measured both ways,
# and an object counts as small if either measure says so, as large if either does. The sizes
# are far enough apart (18, 23, 28 px) that a medium object passes as neither.
FILL = {s: float(coverage(s, (0, 0, 100, 100), (100, 100)).mean()) for s in SHAPES}
SMALL_BELOW = (SIDE["small"] + SIDE["medium"]) / 2
LARGE_ABOVE = (SIDE["medium"] + SIDE["large"]) / 2
_ALL_COLOURS = {**COLOURS, **BACKGROUNDS}


@dataclass(frozen=True)
class Blob:
    """What the checker measured of one object."""

    colour: str
    shape: str
    iou: float
    sides: tuple[float, float]  # from the extent, from the area
    position: str


@dataclass(frozen=True)
class Verdict:
    """`reason` starts with the failing attribute ("colour: ...") or is "ok"."""

    ok: bool
    reason: str
    background: str
    blobs: tuple[Blob, ...]

    @property
    def failure(self) -> str | None:
        return None if self.ok else self.reason.split(":")[0]


def _nearest(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    table = np.array([palette[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((table - rgb) ** 2).sum(axis=1)))]


def _neighbours_max(labels: np.ndarray) -> np.ndarray:
    padded = np.pad(labels, 1)
    return np.maximum.reduce(
        [labels, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    )


def components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean mask, by propagating the largest label to a fixpoint."""
    labels = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:
        grown = np.where(mask, _neighbours_max(labels), 0)
        if np.array_equal(grown, labels):
            break
        labels = grown
    return [labels == value for value in np.unique(labels[mask])]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask plus every pixel that the border cannot reach without crossing it."""
    free = ~mask
    outside = np.zeros_like(mask)
    outside[[0, -1], :], outside[:, [0, -1]] = free[[0, -1], :], free[:, [0, -1]]
    while True:
        grown = _neighbours_max(outside.astype(np.uint8)).astype(bool) & free
        if np.array_equal(grown, outside):
            return ~outside
        outside = grown


def _background(image: np.ndarray) -> np.ndarray:
    """The median colour of a 2-pixel frame: objects never reach the border."""
    border = np.ones(image.shape[:2], dtype=bool)
    border[2:-2, 2:-2] = False
    return np.median(image[border].astype(np.float32), axis=0)


def _gaussian(size: int, sigma: float) -> np.ndarray:
    """The matrix that blurs a length-`size` signal along one axis (zero outside)."""
    if sigma == 0:
        return np.eye(size, dtype=np.float32)
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _shape(alpha: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str, float]:
    """Best-matching shape and its soft IoU with the blob's coverage.

    Each shape is drawn into the blob's bounding box, grown a little and blurred a little, as a
    generator's edges are soft and soft tips recede: a slightly blurred star still matches a
    star better than a circle.
    """
    x, y, w, h = box
    top, left = max(0, y - MARGIN), max(0, x - MARGIN)
    crop = alpha[top : y + h + MARGIN, left : x + w + MARGIN]
    blurs = [(_gaussian(crop.shape[0], s), _gaussian(crop.shape[1], s)) for s in BLURS]
    best: tuple[float, str] = (-1.0, "")
    for shape in SHAPES:
        for grow in GROWTH:
            fitted = (x - left - grow, y - top - grow, w + 2 * grow, h + 2 * grow)
            sharp = coverage(shape, fitted, crop.shape)
            for rows, cols in blurs:
                template = rows @ sharp @ cols.T
                score = np.minimum(crop, template).sum() / np.maximum(crop, template).sum()
                best = max(best, (float(score), shape))
    return best[1], best[0]


def measure(image: np.ndarray, region: np.ndarray, background: np.ndarray) -> Blob:
    """Measure one blob from its coverage: how far each pixel is from background to blob colour."""
    pixels = image.astype(np.float32) - background
    distance = np.linalg.norm(pixels, axis=-1)
    core = region & (distance >= np.percentile(distance[region], 50))
    colour = np.median(pixels[core], axis=0)
    alpha = np.clip(pixels @ colour / max(1e-6, float(colour @ colour)), 0, 1)
    near = region
    for _ in range(MARGIN):
        near = _neighbours_max(near.astype(np.uint8)).astype(bool)
    alpha = np.where(near, alpha, 0)
    parts = components(alpha >= EDGE_LEVEL)
    inside = max(parts, key=np.sum) if parts else region
    mask = fill_holes(inside)
    ys, xs = np.nonzero(mask)
    x, y = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) - x + 1, int(ys.max()) - y + 1
    shape, iou = _shape(alpha, (x, y, w, h))
    sides = (float(max(w, h)), math.sqrt(float(inside.sum()) / FILL[shape]))
    grid_y, grid_x = np.mgrid[: alpha.shape[0], : alpha.shape[1]]
    centre = np.array([(alpha * grid_x).sum(), (alpha * grid_y).sum()]) / alpha.sum() + 0.5
    anchors = {name: np.linalg.norm(centre - np.array(xy)) for name, xy in ANCHORS.items()}
    return Blob(
        colour=_nearest(colour + background, COLOURS),
        shape=shape,
        iou=iou,
        sides=sides,
        position=min(anchors, key=anchors.__getitem__),
    )


def _mismatch(obj: Obj, blob: Blob) -> str | None:
    """Why the blob is not the object, or None where it is."""
    if blob.colour != obj.colour:
        return f"colour: {blob.colour} for {obj.colour}"
    if blob.iou < MIN_IOU:
        return f"shape: none clear for {obj.shape} (best {blob.shape}, IoU {blob.iou:.2f})"
    if blob.shape != obj.shape:
        return f"shape: {blob.shape} for {obj.shape}"
    if obj.size == "small" and min(blob.sides) >= SMALL_BELOW:
        return f"size: {min(blob.sides):.1f} px for small"
    if obj.size == "large" and max(blob.sides) <= LARGE_ABOVE:
        return f"size: {max(blob.sides):.1f} px for large"
    if obj.position and blob.position != obj.position:
        return f"position: {blob.position} for {obj.position}"
    return None


def check(image: np.ndarray, prompt: str) -> Verdict:
    """Whether the (H, W, 3) uint8 image shows the prompt, with the first reason it does not."""
    scene = parse(prompt)
    image = np.asarray(image)[..., :3]
    background = _background(image)
    said_background = _nearest(background, _ALL_COLOURS)
    foreground = (
        np.linalg.norm(image.astype(np.float32) - background, axis=-1) > FOREGROUND_DISTANCE
    )
    regions = [c for c in components(foreground) if c.sum() >= MIN_AREA]
    if scene.background and said_background != scene.background:
        return Verdict(
            False, f"background: {said_background} for {scene.background}", said_background, ()
        )
    if len(regions) != len(scene.objects):
        reason = f"count: {len(regions)} objects for {len(scene.objects)}"
        return Verdict(False, reason, said_background, ())
    blobs = tuple(measure(image, r, background) for r in regions)

    def verdict(ok: bool, reason: str) -> Verdict:
        return Verdict(ok, reason, said_background, blobs)

    reasons = []
    for order in itertools.permutations(blobs):
        mismatches = [_mismatch(o, b) for o, b in zip(scene.objects, order, strict=True)]
        if not any(mismatches):
            return verdict(True, "ok")
        reasons.append("; ".join(m for m in mismatches if m))
    return verdict(False, min(reasons, key=len))
