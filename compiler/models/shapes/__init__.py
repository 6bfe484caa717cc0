"""The shapes model: a tiny Stable Diffusion, trained in this repository, that draws coloured
shapes where the prompt says. It is websd's default model, because no real checkpoint can be
downloaded on a fresh machine and random weights only draw noise.
"""

from __future__ import annotations

from pathlib import Path

PIPELINE_DIR = Path(__file__).resolve().parent / "pipeline"
GUIDANCE = 5.0
"""The guidance scale it is measured and shown at: the low end of SD's usual 5 to 7.5, since a
model this small overshoots into stray smudges above it (docs/shapes-model.md)."""


def pipeline_path() -> Path:
    """The committed diffusers pipeline folder: StableDiffusionPipeline.from_pretrained loads it."""
    return PIPELINE_DIR
