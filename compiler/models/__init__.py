"""Models that ship with websd."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelSourceError


def default_model() -> Path:
    """The default model (`shapes`): its pipeline folder, or a clear error while a checkout
    holds its code but not yet its trained weights."""
    from .shapes import pipeline_path

    folder = pipeline_path()
    if not (folder / "model_index.json").is_file():
        raise ModelSourceError(
            f"the default model's weights are not in {folder}. Train them with "
            "`python -m websd.models.shapes.train` (under 45 minutes on 2 cores), or name a "
            "model: a diffusers folder or a hub id."
        )
    return folder
