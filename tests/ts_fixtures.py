"""Reference outputs of real torch and diffusers for runtime_ts's node tests.

`write_fixtures(out_dir)` writes JSON files that runtime_ts/test/*.test.ts compare against:
- rng.json: `torch.randn` on CPU generators, for several seeds, sizes around the 16-element
  switch between PyTorch's two normal kernels, and consecutive draws on one generator;
- schedulers.json: for each websd scheduler id, source config and prediction type, the timesteps
  for many step counts and whole sampling runs on tiny latents. The "model" of those runs is a
  fixed float64 function of its input and timestep, which the tests recompute exactly;
- tokenizer.json, as the compiler exports it for the test vocabulary, and prompts.json: the ids
  compiler/tokenizer.py `encode_prompt` gives for prompts, at two lengths (one truncates).

Float32 arrays travel as base64 of their little-endian bytes, so nothing is lost to decimal.
Run as a script to write them to a folder: `python tests/ts_fixtures.py OUT_DIR`.
"""

from __future__ import annotations

import base64
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
)
from diffusers.utils import logging as diffusers_logging

RNG_SEEDS = [0, 1, 42, 1234567890, 2**32 + 7, 2**53 - 1, 2**64 - 1, -5]
RNG_SIZES = [1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 72, 1000, 4 * 64 * 64, 1 << 20]
# Consecutive draws on one generator: the small path caches half of each Box-Muller pair.
RNG_SEQUENCES = [[3, 16384, 5, 1, 17, 1, 2], [1, 1, 1, 1], [72, 72, 72], [15, 16, 15]]

LATENT_SHAPE = (2, 4, 3, 3)
RUN_STEPS = [1, 4, 25]
TIMESTEP_COUNTS = [*range(1, 31), 40, 50, 51, 64, 100, 250, 999, 1000]

# Scheduler configs as model repos ship them: the manifest carries one verbatim.
SOURCE_CONFIGS: dict[str, dict[str, Any]] = {
    # stable-diffusion-v1-5
    "sd15": {
        "_class_name": "PNDMScheduler",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "trained_betas": None,
    },
    # stable-diffusion-2-1 (768, v-prediction): no timestep_spacing, so each class's default
    "sd21v": {
        "_class_name": "DDIMScheduler",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
    },
    # sd-turbo / sdxl-turbo
    "turbo": {
        "_class_name": "EulerDiscreteScheduler",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "interpolation_type": "linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "sample_max_value": 1.0,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "trailing",
        "trained_betas": None,
        "use_karras_sigmas": False,
    },
    # the remaining branches: cosine betas, linspace spacing, σ_min at the end, clipping
    "cosine": {
        "_class_name": "DDPMScheduler",
        "beta_schedule": "squaredcos_cap_v2",
        "clip_sample": True,
        "final_sigmas_type": "sigma_min",
        "num_train_timesteps": 1000,
        "set_alpha_to_one": True,
        "timestep_spacing": "linspace",
    },
    "linear": {
        "_class_name": "DDPMScheduler",
        "beta_end": 0.02,
        "beta_schedule": "linear",
        "beta_start": 0.0001,
        "clip_sample": False,
        "num_train_timesteps": 1000,
    },
}

PREDICTION_TYPES = ["epsilon", "v_prediction"]

# websd scheduler id -> diffusers class and the settings the id pins
SCHEDULERS: dict[str, tuple[type, dict[str, Any]]] = {
    "dpm++2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "euler": (EulerDiscreteScheduler, {}),
    "euler-a": (EulerAncestralDiscreteScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "lcm": (LCMScheduler, {}),
}


def _b64(array: np.ndarray | torch.Tensor) -> str:
    if isinstance(array, torch.Tensor):
        array = array.numpy()
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode()


def _generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def rng_fixture() -> dict[str, Any]:
    sequences = [(seed, [n]) for seed in RNG_SEEDS for n in RNG_SIZES if n < 1 << 20]
    sequences += [(1234, [1 << 20])]
    sequences += [(seed, sizes) for seed in (0, 2024) for sizes in RNG_SEQUENCES]
    cases = []
    for seed, sizes in sequences:
        generator = _generator(seed)
        draws = [_b64(torch.randn(n, generator=generator, dtype=torch.float32)) for n in sizes]
        cases.append({"seed": str(seed), "sizes": sizes, "draws": draws})
    return {"cases": cases}


def _pattern() -> np.ndarray:
    size = int(np.prod(LATENT_SHAPE))
    return np.random.default_rng(7).uniform(-1, 1, size).astype(np.float32)


def fake_model(sample: torch.Tensor, timestep: torch.Tensor, pattern: np.ndarray) -> torch.Tensor:
    """The denoiser of the fixture runs; runtime_ts/test/schedulers.test.ts mirrors it."""
    x = sample.numpy().reshape(-1).astype(np.float64)
    out = x * 0.75 + pattern.astype(np.float64) * (float(timestep) / 1000.0)
    return torch.from_numpy(out.astype(np.float32).reshape(sample.shape))


def _make(scheduler_id: str, config: dict[str, Any]):
    cls, pinned = SCHEDULERS[scheduler_id]
    return cls.from_config(config, **pinned)


def _timesteps_entry(scheduler_id: str, config: dict[str, Any], n: int) -> dict[str, Any]:
    scheduler = _make(scheduler_id, config)
    try:
        scheduler.set_timesteps(n)
    except ValueError as error:
        return {"n": n, "error": str(error)}
    return {
        "n": n,
        "timesteps": [float(t) for t in scheduler.timesteps],
        "init_noise_sigma": float(scheduler.init_noise_sigma),
    }


def _run(scheduler_id: str, config: dict[str, Any], n: int, seed: int, pattern: np.ndarray):
    """A diffusers pipeline's denoising loop, with the fake model."""
    scheduler = _make(scheduler_id, config)
    scheduler.set_timesteps(n)
    generator = _generator(seed)
    latents = torch.randn(LATENT_SHAPE, generator=generator, dtype=torch.float32)
    latents = latents * scheduler.init_noise_sigma
    run = {"n": n, "seed": seed, "latents": _b64(latents), "samples": []}
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(latents, t)
        output = fake_model(model_input, t, pattern)
        latents = scheduler.step(output, t, latents, generator=generator).prev_sample
        run["samples"].append(_b64(latents))
    return run


def schedulers_fixture() -> dict[str, Any]:
    pattern = _pattern()
    cases = []
    seed = 100
    for scheduler_id in SCHEDULERS:
        for config_name, source in SOURCE_CONFIGS.items():
            for prediction_type in PREDICTION_TYPES:
                config = {**source, "prediction_type": prediction_type}
                runs = []
                for n in RUN_STEPS:
                    seed += 1
                    runs.append(_run(scheduler_id, config, n, seed, pattern))
                timesteps = [_timesteps_entry(scheduler_id, config, n) for n in TIMESTEP_COUNTS]
                cases.append(
                    {
                        "scheduler": scheduler_id,
                        "config_name": config_name,
                        "prediction_type": prediction_type,
                        "config": config,
                        "timesteps": timesteps,
                        "runs": runs,
                    }
                )
    return {"shape": list(LATENT_SHAPE), "pattern": _b64(pattern), "cases": cases}


PROMPTS = [
    "",
    "a red cat",
    "A  Photo of   the RED cat!",
    "a photo of a red cat " * 20,
    "un chat rouge ☕ 🐱, élan",
    "<|endoftext|> a cat",
]
PROMPT_LENGTHS = [77, 8]


def tokenizer_fixture(out_dir: Path) -> dict[str, Any]:
    """Export the test vocabulary's tokenizer.json into out_dir; expected ids for PROMPTS."""
    import tempfile

    import tokenizers
    from transformers import CLIPTokenizer

    from websd.testing.vocab import write_clip_vocab
    from websd.tokenizer import encode_prompt, export_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tokenizer"
        write_clip_vocab(folder)
        CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(
            folder
        )
        text = export_tokenizer(Path(tmp), out_dir, PROMPT_LENGTHS[0])
    tokenizer = tokenizers.Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    cases = []
    for max_length in PROMPT_LENGTHS:
        for prompt in PROMPTS:
            ids, truncated = encode_prompt(tokenizer, text | {"max_length": max_length}, prompt)
            cases.append(
                {"prompt": prompt, "max_length": max_length, "ids": ids, "truncated": truncated}
            )
    return {"text": text, "cases": cases}


def write_fixtures(out_dir: Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # from_config warns about other classes' keys
    try:
        with warnings.catch_warnings():
            # numpy 2 on torch tensors, once per set_timesteps: noise, not news
            warnings.simplefilter("ignore", DeprecationWarning)
            (out_dir / "rng.json").write_text(json.dumps(rng_fixture()))
            (out_dir / "schedulers.json").write_text(json.dumps(schedulers_fixture()))
        (out_dir / "prompts.json").write_text(json.dumps(tokenizer_fixture(out_dir)))
    finally:
        diffusers_logging.set_verbosity(verbosity)


if __name__ == "__main__":
    write_fixtures(Path(sys.argv[1]))
