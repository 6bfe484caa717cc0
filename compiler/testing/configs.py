"""Model configs: tiny ones for tests, and the published full-size ones as facts.

The full-size numbers are those of the public Stable Diffusion configs (SD 1.5, SD 2.1-base,
SD 2.1 at 768 with v-prediction, SD-Turbo); with random weights they reproduce each family's
shapes, kernels and memory exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SD_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
}


@dataclass(frozen=True)
class PipelineConfig:
    """The four configs a StableDiffusionPipeline folder holds, plus the tokenizer's limits."""

    unet: dict[str, Any]
    vae: dict[str, Any]
    text_encoder: dict[str, Any]
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(_SD_SCHEDULER))
    max_length: int = 77


def _unet(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "sample_size": 64,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
        "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
        "block_out_channels": [320, 640, 1280, 1280],
        "layers_per_block": 2,
        "attention_head_dim": 8,
        "cross_attention_dim": 768,
        "norm_num_groups": 32,
    }
    return config | overrides


def _vae(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [128, 256, 512, 512],
        "layers_per_block": 2,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": 512,
        "scaling_factor": 0.18215,
    }
    return config | overrides


def _clip(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "vocab_size": 49408,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 1,
    }
    return config | overrides


_OPEN_CLIP_H = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "hidden_act": "gelu",
    "projection_dim": 512,
}
_SD2_UNET = {
    "attention_head_dim": [5, 10, 20, 20],
    "cross_attention_dim": 1024,
    "use_linear_projection": True,
}

SD15 = PipelineConfig(unet=_unet(), vae=_vae(), text_encoder=_clip())
SD21_BASE = PipelineConfig(unet=_unet(**_SD2_UNET), vae=_vae(), text_encoder=_clip(**_OPEN_CLIP_H))
SD21 = PipelineConfig(
    unet=_unet(**_SD2_UNET, sample_size=96, upcast_attention=True),
    vae=_vae(sample_size=768),
    text_encoder=_clip(**_OPEN_CLIP_H),
    scheduler=_SD_SCHEDULER | {"prediction_type": "v_prediction"},
)
SD_TURBO = PipelineConfig(
    unet=_unet(**_SD2_UNET),
    vae=_vae(),
    text_encoder=_clip(**_OPEN_CLIP_H),
    scheduler={
        "_class_name": "EulerDiscreteScheduler",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "timestep_spacing": "trailing",
        "steps_offset": 1,
    },
)

_TINY_UNET = {
    "sample_size": 8,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "attention_head_dim": 8,
    "cross_attention_dim": 32,
    "norm_num_groups": 8,
}
_TINY_VAE = {"block_out_channels": [16, 16, 32, 32], "layers_per_block": 1, "norm_num_groups": 8}
_TINY_CLIP = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 32,
    "vocab_size": 1000,
}

TINY_SD1 = PipelineConfig(
    unet=_unet(**_TINY_UNET),
    vae=_vae(**_TINY_VAE, sample_size=64),
    text_encoder=_clip(**_TINY_CLIP),
)
TINY_SD2 = PipelineConfig(
    unet=_unet(**_TINY_UNET | {"attention_head_dim": [2, 4], "use_linear_projection": True}),
    vae=_vae(**_TINY_VAE, sample_size=64),
    text_encoder=_clip(**_TINY_CLIP, hidden_act="gelu"),
    scheduler=_SD_SCHEDULER | {"prediction_type": "v_prediction"},
)

CONFIGS = {
    "tiny-sd1": TINY_SD1,
    "tiny-sd2": TINY_SD2,
    "sd15": SD15,
    "sd21-base": SD21_BASE,
    "sd21": SD21,
    "sd-turbo": SD_TURBO,
}
