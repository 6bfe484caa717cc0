"""The shapes model's components: Stable Diffusion's classes, scaled down.

64x64 images, 8x8x4 latents (the SD VAE's 8x downsampling and 4 channels), a 32-token text
encoder. Every class and block type is the one SD 1.x uses, so diffusers and the websd compiler
load the folder like any SD checkpoint; only widths and depths shrink. Training on 2 CPU cores
is compute-bound, so the widths are chosen for FLOPs: the UNet costs about 50 MFLOPs a step.
"""

from __future__ import annotations

from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from .render import IMAGE_SIZE

LATENT_SIZE = IMAGE_SIZE // 8
LATENT_CHANNELS = 4
MAX_LENGTH = 32  # every caption of the grammar fits, with its start and end tokens
TEXT_WIDTH = 64
VAE_CHANNELS = (16, 32, 32, 64)
UNET_CHANNELS = (32, 64, 64)
HEAD_WIDTH = 16


def vae(scaling_factor: float = 1.0) -> AutoencoderKL:
    """Four blocks, so three downsamplings: 64x64 pixels to 8x8 latents."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=VAE_CHANNELS,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=8,
        sample_size=IMAGE_SIZE,
        scaling_factor=scaling_factor,
    )


def text_encoder(vocab_size: int, bos_token_id: int, eos_token_id: int) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_WIDTH,
        intermediate_size=4 * TEXT_WIDTH,
        num_hidden_layers=4,
        num_attention_heads=TEXT_WIDTH // HEAD_WIDTH,
        max_position_embeddings=MAX_LENGTH,
        hidden_act="quick_gelu",
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    return CLIPTextModel(config)


def unet() -> UNet2DConditionModel:
    """Cross-attention at 8x8 and 4x4, a plain ResNet level at 2x2, attention in the middle."""
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=UNET_CHANNELS,
        layers_per_block=1,
        attention_head_dim=tuple(c // HEAD_WIDTH for c in UNET_CHANNELS),  # diffusers: head counts
        cross_attention_dim=TEXT_WIDTH,
        norm_num_groups=16,
    )


def scheduler() -> DPMSolverMultistepScheduler:
    """SD 1.x's noise schedule; DPM-Solver++ is the pipeline's default sampler."""
    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        algorithm_type="dpmsolver++",
        solver_order=2,
        timestep_spacing="leading",
        steps_offset=1,
    )
