"""UNet denoiser, with classifier-free guidance folded into one batched call."""

from __future__ import annotations

import torch

from .export import ImportedPart, import_module


class GuidedUNet(torch.nn.Module):
    """Runs the unconditional and conditional branches as one batch of two and mixes them.

    The mix is written exactly as diffusers writes it, `uncond + g * (cond - uncond)`,
    so the rounding matches too.
    """

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        text_embeds: torch.Tensor,
        guidance_scale: torch.Tensor,
    ) -> torch.Tensor:
        batch = torch.cat([latents, latents])
        noise = self.unet(batch, timestep.expand(2), text_embeds, return_dict=False)[0]
        uncond, cond = noise.chunk(2)
        return uncond + guidance_scale * (cond - uncond)


class ConditionalUNet(torch.nn.Module):
    """One branch only: used when guidance is off (scale ≤ 1), as diffusers does."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self, latents: torch.Tensor, timestep: torch.Tensor, text_embeds: torch.Tensor
    ) -> torch.Tensor:
        return self.unet(latents, timestep, text_embeds, return_dict=False)[0]


def _examples(unet: torch.nn.Module, latent_hw: tuple[int, int], text_shape: tuple[int, int]):
    channels = unet.config.in_channels
    latents = torch.zeros(1, channels, *latent_hw)
    timestep = torch.ones(1)
    return latents, timestep, torch.zeros(1, *text_shape)


def import_guided_unet(
    unet: torch.nn.Module, latent_hw: tuple[int, int], text_shape: tuple[int, int]
) -> ImportedPart:
    latents, timestep, embeds = _examples(unet, latent_hw, text_shape)
    args = (latents, timestep, torch.cat([embeds, embeds]), torch.ones(1))
    return import_module(GuidedUNet(unet), args, functionalize=False)


def import_conditional_unet(
    unet: torch.nn.Module, latent_hw: tuple[int, int], text_shape: tuple[int, int]
) -> ImportedPart:
    return import_module(
        ConditionalUNet(unet), _examples(unet, latent_hw, text_shape), functionalize=False
    )
