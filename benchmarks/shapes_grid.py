"""Draw the docs' grid of shapes-model images beside their prompts (docs/images/shapes-grid.png).

    python benchmarks/shapes_grid.py [--pipeline DIR] [--out docs/images/shapes-grid.png]

Each cell shows one generated image (upscaled without smoothing), its prompt, whether the prompt
holds a colour-shape pair never seen in training, and the checker's verdict.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from websd.models.shapes import pipeline_path, quality
from websd.models.shapes.captions import parse
from websd.models.shapes.checker import check

PROMPTS = (
    "a red circle",
    "a large blue square on the left, on a black background",
    "a small yellow star at the top, on a gray background",
    "a green ring on the right",
    "a purple triangle at the bottom, on a white background",
    "a large pink square, on a black background",
    "an orange triangle on the left and a white circle on the right, on a gray background",
    "a blue star at the top and a yellow ring at the bottom, on a black background",
    "a small black square on the left and a large red triangle on the right",
    "a red star",
    "a purple circle on the left, on a white background",
    "a blue cross at the top and an orange ring at the bottom, on a white background",
)
SCALE, COLUMNS, TEXT_HEIGHT, PAD = 3, 4, 64, 10


def _cell(image: np.ndarray, prompt: str, font: ImageFont.ImageFont) -> Image.Image:
    side = image.shape[0] * SCALE
    cell = Image.new("RGB", (side + 2 * PAD, side + TEXT_HEIGHT + 2 * PAD), "white")
    cell.paste(Image.fromarray(image).resize((side, side), Image.NEAREST), (PAD, PAD))
    verdict = "checker: right" if check(image, prompt).ok else "checker: wrong"
    held_out = "held-out pair, " if parse(prompt).held_out else ""
    lines = [*textwrap.wrap(prompt, 30), f"({held_out}{verdict})"]
    ImageDraw.Draw(cell).multiline_text((PAD, side + PAD + 4), "\n".join(lines), "black", font)
    return cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default=str(pipeline_path()))
    parser.add_argument("--out", type=Path, default=Path("docs/images/shapes-grid.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = quality.generate(quality.load(args.pipeline), list(PROMPTS), seed=args.seed)
    font = ImageFont.load_default(size=11)
    cells = [_cell(image, prompt, font) for image, prompt in zip(images, PROMPTS, strict=True)]
    width, height = cells[0].size
    rows = -(-len(cells) // COLUMNS)
    grid = Image.new("RGB", (width * COLUMNS, height * rows), "white")
    for i, cell in enumerate(cells):
        grid.paste(cell, ((i % COLUMNS) * width, (i // COLUMNS) * height))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
