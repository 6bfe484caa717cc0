"""The native runner's images match diffusers' StableDiffusionPipeline pixel for pixel (±1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

PROMPT = "a photo of a red cat"
NEGATIVE = "blue dog"


def _diffusers_image(
    folder, scheduler: str, seed: int, steps: int, guidance: float, size: tuple[int, int] = (64, 64)
):
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
        width=size[0],
        height=size[1],
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


def test_one_library_serves_every_size_it_lists(tiny_sd1, tiny_sd1_build, tiny_sd1_two_sizes_build):
    """Each size has its own functions over one set of weights; a non-square size generates
    diffusers' image at that size, and the default stays the first."""
    from websd.errors import OptionError
    from websd.native import NativeModel
    from websd.spec import ImageSize

    manifest = tiny_sd1_two_sizes_build.manifest
    assert [(s["width"], s["height"]) for s in manifest["sizes"]] == [(64, 64), (128, 64)]
    assert manifest["sizes"][1]["latent"] == {"height": 8, "width": 16}
    assert manifest["weights"]["bytes"] == tiny_sd1_build.manifest["weights"]["bytes"]
    wide = manifest["functions"][manifest["sizes"][1]["functions"]["decode_image"]]
    assert wide["output"]["shape"] == [64, 128]

    model = NativeModel(tiny_sd1_two_sizes_build.folder)
    assert model.generate(PROMPT, steps=1).rgba.shape == (64, 64, 4)
    ours = model.generate(PROMPT, NEGATIVE, seed=5, steps=3, size=ImageSize(128, 64))
    reference = _diffusers_image(tiny_sd1, "dpm++2m", seed=5, steps=3, guidance=7.5, size=(128, 64))
    assert ours.rgba.shape == (64, 128, 4)
    assert _max_pixel_diff(ours.rgba[..., :3], reference) <= 1
    with pytest.raises(OptionError, match="not built for 64x128, only for 64x64, 128x64"):
        model.generate(PROMPT, steps=1, size=ImageSize(64, 128))
