"""The native runner: the same compiled model on the CPU, through the Relax VM.

It reads only the artifact folder (manifest, tokenizer.json, tensor cache, native library),
as the browser does, and uses diffusers' own scheduler classes for the loop, so it serves
as the numerical reference for the browser runtime and as a benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.contrib import tvmjs

from .build import NATIVE_LIBRARY
from .errors import OptionError
from .manifest import read_manifest, size_names
from .schedulers import diffusers_scheduler
from .spec import ImageSize
from .tokenizer import encode_prompt
from .weights import verify_shards


@dataclass
class Generation:
    """One image and how long each part took."""

    rgba: np.ndarray
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    truncated: bool = False


class NativeModel:
    def __init__(self, folder: Path) -> None:
        import tokenizers

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        verify_shards(self.folder, self.manifest["weights"])
        self.device = tvm.cpu()
        library = tvm.runtime.load_module(str(self.folder / NATIVE_LIBRARY))
        self.vm = relax.VirtualMachine(library, self.device)
        tensors, _ = tvmjs.load_tensor_cache(str(self.folder), self.device)
        self.params = {
            group: [tensors[name] for name in names]
            for group, names in self.manifest["params"].items()
        }
        self.tokenizer = tokenizers.Tokenizer.from_file(
            str(self.folder / self.manifest["tokenizer"])
        )

    def _call(self, function: str, *inputs: np.ndarray) -> np.ndarray:
        group = self.manifest["functions"][function]["params"]
        args = [tvm.runtime.tensor(x, self.device) for x in inputs]
        return self.vm[function](*args, self.params[group]).numpy()

    def size(self, size: ImageSize | None) -> dict[str, Any]:
        """The manifest's entry for `size`; None: the default (first) size."""
        sizes = dict(zip(size_names(self.manifest), self.manifest["sizes"], strict=True))
        if size is None:
            return self.manifest["sizes"][0]
        if size.name not in sizes:
            built = ", ".join(sizes)
            raise OptionError(f"{self.folder} is not built for {size.name}, only for {built}")
        return sizes[size.name]

    def encode_text(self, prompt: str) -> tuple[np.ndarray, bool]:
        ids, truncated = encode_prompt(self.tokenizer, self.manifest["text"], prompt)
        return self._call("encode_text", np.array([ids], dtype="int32")), truncated

    def generate(
        self,
        prompt: str,
        negative_prompt: str = "",
        seed: int = 0,
        steps: int = 20,
        guidance: float = 7.5,
        scheduler: str | None = None,
        size: ImageSize | None = None,
        on_step: Callable[[int, int, float], None] | None = None,
    ) -> Generation:
        """Text → scheduler loop → image, step for step as StableDiffusionPipeline does it, at
        `size` (one the library was compiled for; default: its first)."""
        import torch

        compiled = self.size(size)
        functions = compiled["functions"]
        timings: dict[str, float] = {}
        start = time.perf_counter()
        cond, truncated = self.encode_text(prompt)
        guided = guidance > 1.0
        if guided:
            uncond, _ = self.encode_text(negative_prompt)
            text = np.concatenate([uncond, cond])
        timings["text_ms"] = (time.perf_counter() - start) * 1000

        loop = diffusers_scheduler(
            scheduler or self.manifest["default_scheduler"], self.manifest["scheduler"]
        )
        loop.set_timesteps(steps)
        latent = compiled["latent"]
        generator = torch.Generator("cpu").manual_seed(seed)
        shape = (1, self.manifest["latent_channels"], latent["height"], latent["width"])
        latents = torch.randn(shape, generator=generator) * loop.init_noise_sigma
        step_ms = []
        for i, t in enumerate(loop.timesteps):
            step_start = time.perf_counter()
            model_input = loop.scale_model_input(latents, t).numpy()
            timestep = np.array([float(t)], dtype="float32")
            if guided:
                scale = np.array([guidance], dtype="float32")
                noise = self._call(functions["denoise"], model_input, timestep, text, scale)
            else:
                noise = self._call(functions["denoise_cond"], model_input, timestep, cond)
            latents = loop.step(
                torch.from_numpy(noise), t, latents, generator=generator, return_dict=False
            )[0]
            step_ms.append((time.perf_counter() - step_start) * 1000)
            if on_step:
                on_step(i + 1, len(loop.timesteps), step_ms[-1])
        timings["unet_ms_per_step"] = float(np.median(step_ms)) if step_ms else 0.0
        start = time.perf_counter()
        packed = self._call(functions["decode_image"], latents.numpy().astype("float32"))
        timings["vae_ms"] = (time.perf_counter() - start) * 1000
        rgba = np.ascontiguousarray(packed).view(np.uint8).reshape(*packed.shape, 4)
        return Generation(rgba=rgba, seed=seed, timings=timings, truncated=truncated)


def save_png(generation: Generation, path: Path, parameters: dict[str, Any]) -> None:
    """Write the image with its generation parameters in a tEXt chunk, as the playground does."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", ", ".join(f"{k}: {v}" for k, v in parameters.items()))
    Image.fromarray(generation.rgba[..., :3], "RGB").save(path, pnginfo=info)
