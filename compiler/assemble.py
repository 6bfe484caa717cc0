"""Import every part of a pipeline and assemble the one Relax IRModule the browser runs.

Functions (all take their weights as one bundled tuple after the real inputs):
- encode_text(input_ids)                                   → text embeddings
- denoise(latents, timestep, text_embeds[2], guidance)      → guided noise prediction
- denoise_cond(latents, timestep, text_embeds[1])           → noise prediction, no guidance
- decode_image(latents)                                     → packed RGBA8 image

Shapes are static, so the image-sized functions are compiled once per image size, named
`denoise_512x768` and so on; all sizes share one set of weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tvm
from tvm import relax

from .importers.export import ImportedPart
from .importers.text_encoder import import_text_encoder
from .importers.unet import import_conditional_unet, import_guided_unet
from .importers.vae import import_image_decoder
from .spec import ImageSize, ModelSpec


@dataclass(frozen=True)
class FunctionInfo:
    """Which weight group a function takes, for the manifest and the runners."""

    group: str
    input_names: tuple[str, ...]
    output_name: str
    sized: bool = True
    """Compiled once per image size."""


FUNCTIONS: dict[str, FunctionInfo] = {
    "encode_text": FunctionInfo("text_encoder", ("input_ids",), "text_embeds", sized=False),
    "denoise": FunctionInfo(
        "unet", ("latents", "timestep", "text_embeds", "guidance_scale"), "noise_pred"
    ),
    "denoise_cond": FunctionInfo("unet", ("latents", "timestep", "text_embeds"), "noise_pred"),
    "decode_image": FunctionInfo("vae", ("latents",), "image"),
}


def function_name(kind: str, size: ImageSize) -> str:
    """The compiled name of `kind` (a FUNCTIONS key) at `size`."""
    return f"{kind}_{size.name}" if FUNCTIONS[kind].sized else kind


@dataclass
class AssembledModel:
    """The IRModule plus its weights, grouped so that functions sharing weights share them."""

    module: tvm.IRModule
    param_names: dict[str, list[str]] = field(default_factory=dict)
    """Weight group → weight names, in the order the group's functions take them."""
    groups: dict[str, str] = field(default_factory=dict)
    """Function → the weight group it takes."""
    kinds: dict[str, str] = field(default_factory=dict)
    """Function → its FUNCTIONS key (`denoise_512x768` → `denoise`)."""
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def _load_torch_parts(spec: ModelSpec) -> dict[str, Any]:
    """The pipeline's parts in fp32, with diffusers' fused attention projections: one GEMM
    for a self-attention's Q, K and V (`to_qkv`), one for a cross-attention's K and V
    (`to_kv`), whose outputs the WebGPU attention kernel reads in place."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(spec.folder / "unet").float()
    vae = AutoencoderKL.from_pretrained(spec.folder / "vae").float()
    unet.fuse_qkv_projections()
    vae.fuse_qkv_projections()
    return {
        "text_encoder": CLIPTextModel.from_pretrained(spec.folder / "text_encoder").float(),
        "unet": unet,
        "vae": vae,
    }


def _importers(spec: ModelSpec, parts: dict[str, Any]) -> dict[str, Callable[[], ImportedPart]]:
    """Compiled name → its import, for every function at every size."""
    text_shape = (spec.max_length, spec.hidden_size)
    importers: dict[str, Callable[[], ImportedPart]] = {
        "encode_text": lambda: import_text_encoder(parts["text_encoder"], spec.max_length)
    }
    for size in spec.sizes:
        latent_hw = spec.latent_hw(size)
        importers |= {
            function_name("denoise", size): lambda hw=latent_hw: import_guided_unet(
                parts["unet"], hw, text_shape
            ),
            function_name("denoise_cond", size): lambda hw=latent_hw: import_conditional_unet(
                parts["unet"], hw, text_shape
            ),
            function_name("decode_image", size): lambda hw=latent_hw: import_image_decoder(
                parts["vae"], hw
            ),
        }
    return importers


def assemble(spec: ModelSpec, progress: Callable[[str], None] = print) -> AssembledModel:
    parts = _load_torch_parts(spec)
    kinds = {function_name(kind, size): kind for size in spec.sizes for kind in FUNCTIONS}
    model = AssembledModel(tvm.IRModule())
    for name, run_import in _importers(spec, parts).items():
        progress(f"import {name}")
        part = run_import()
        group = FUNCTIONS[kinds[name]].group
        names = [f"{group}.{param}" for param in part.param_names]
        if group in model.param_names and model.param_names[group] != names:
            raise RuntimeError(f"{name} takes other {group} weights than its sibling function")
        model.param_names[group] = names
        model.groups[name] = group
        model.kinds[name] = kinds[name]
        model.weights.update(zip(names, part.params, strict=True))
        model.module[name] = part.function.with_attr("global_symbol", name)
    return model


def tensor_signature(function: relax.Function, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Shapes and dtypes of a function's real inputs, as the manifest records them."""
    return [
        {"name": name, "shape": [int(d) for d in var.ty.shape], "dtype": str(var.ty.dtype)}
        for name, var in zip(names, function.params, strict=False)
    ]
