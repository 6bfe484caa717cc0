"""The shapes model: a tiny Stable Diffusion, trained in this repository, that draws coloured
shapes where the prompt says. It is websd's default model, because no real checkpoint can be
downloaded on a fresh machine and random weights only draw noise.
"""

from __future__ import annotations

from pathlib import Path

PIPELINE_DIR = Path(__file__).resolve().parent / "pipeline"


def pipeline_path() -> Path:
    """The committed diffusers pipeline folder: StableDiffusionPipeline.from_pretrained loads it."""
    return PIPELINE_DIR
