"""The native runner's images match diffusers' StableDiffusionPipeline pixel for pixel (±1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

PROMPT = "a photo of a red cat"
NEGATIVE = "blue dog"


def _diffusers_image(folder, scheduler: str, seed: int, steps: int, guidance: float):
    from diffusers import StableDiffusionPipeline

    from websd.schedulers import diffusers_scheduler

    pipe = StableDiffusionPipeline.from_pretrained(folder)
    pipe.scheduler = diffusers_scheduler(scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    result = pipe(
        PROMPT,
        negative_prompt=NEGATIVE if guidance > 1 else None,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="pil",
    )
    return np.asarray(result.images[0])


def _max_pixel_diff(ours: np.ndarray, reference: np.ndarray) -> int:
    return int(np.abs(ours.astype(int) - reference.astype(int)).max())


@pytest.mark.parametrize(
    ("scheduler", "guidance"),
    [("dpm++2m", 7.5), ("euler-a", 5.0), ("ddim", 1.0)],
)
def test_sd1_matches_diffusers(tiny_sd1, tiny_sd1_build, scheduler, guidance):
    from websd.native import NativeModel

    model = NativeModel(tiny_sd1_build.folder)
    ours = model.generate(
        PROMPT, NEGATIVE, seed=42, steps=4, guidance=guidance, scheduler=scheduler
    )
    reference = _diffusers_image(tiny_sd1, scheduler, seed=42, steps=4, guidance=guidance)
    assert ours.rgba.shape == (64, 64, 4)
    assert (ours.rgba[..., 3] == 255).all()
    assert _max_pixel_diff(ours.rgba[..., :3], reference) <= 1


def test_sd2_shaped_model_matches_diffusers(tiny_sd2, tiny_sd2_build):
    """use_linear_projection, per-block head counts and v-prediction."""
    from websd.native import NativeModel

    assert tiny_sd2_build.manifest["prediction_type"] == "v_prediction"
    assert tiny_sd2_build.manifest["family"] == "sd2"
    ours = NativeModel(tiny_sd2_build.folder).generate(PROMPT, NEGATIVE, seed=7, steps=4)
    reference = _diffusers_image(tiny_sd2, "dpm++2m", seed=7, steps=4, guidance=7.5)
    assert _max_pixel_diff(ours.rgba[..., :3], reference) <= 1


def test_generate_command_writes_the_same_png(tiny_sd1, tiny_sd1_build, tmp_path):
    from websd.cli import main

    out = tmp_path / "image.png"
    argv = ["generate", "--model", str(tiny_sd1), "--prompt", PROMPT]
    argv += ["--negative-prompt", NEGATIVE, "--seed", "3", "--steps", "3", "--out", str(out)]
    assert main(argv) == 0
    image = Image.open(out)
    assert "seed: 3" in image.text["parameters"]
    reference = _diffusers_image(tiny_sd1, "dpm++2m", seed=3, steps=3, guidance=7.5)
    assert _max_pixel_diff(np.asarray(image), reference) <= 1
