"""VAE decoder: latents → an RGBA8 image, packed one pixel per 32-bit word."""

from __future__ import annotations

import torch

from .export import ImportedPart, import_module

# 0xFF000000 as a signed 32-bit value: opaque alpha in the top byte of a little-endian pixel.
_OPAQUE = -(1 << 24)


class ImageDecoder(torch.nn.Module):
    """Decodes and post-processes exactly as diffusers does for `output_type="pil"`.

    The output is int32 [H, W]; read as bytes on a little-endian host (every WebGPU host),
    it is RGBA8, ready for an ImageData. WGSL has no 8-bit storage type, hence the packing.
    """

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae
        self.scaling_factor = float(vae.config.scaling_factor)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        image = self.vae.decode(latents / self.scaling_factor, return_dict=False)[0]
        # Clamped after rounding, in int32, which gives the same bytes as diffusers' clamp to
        # [0, 1] first: ToMixedPrecision (TVM 0.27) fails on a clip of an fp16 tensor.
        pixels = ((image / 2 + 0.5) * 255).round().to(torch.int32).clamp(0, 255)
        # chunk, not indexing: an index becomes an int64 `take`, which WGSL cannot hold.
        red, green, blue = pixels.chunk(3, dim=1)
        return (red + green * 256 + blue * 65536 + _OPAQUE).reshape(pixels.shape[-2:])


def import_image_decoder(vae: torch.nn.Module, latent_hw: tuple[int, int]) -> ImportedPart:
    latents = torch.zeros(1, vae.config.latent_channels, *latent_hw)
    return import_module(ImageDecoder(vae), (latents,), functionalize=False)
