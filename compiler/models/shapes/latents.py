"""The latent pool: training scenes encoded once, in a latent space made fit for diffusion.

An autoencoder trained with SD's tiny KL term leaves each latent channel with its own offset and
spread (here up to 4x apart), so one noise level would drown some channels long before others.
`standardize` folds a per-channel shift and scale into the VAE's quant_conv and post_quant_conv:
an exact change of coordinates, invisible to anything that runs the VAE, after which every
channel has zero mean and unit variance. scaling_factor is then computed as SD computed it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTokenizer

from .data import examples, to_tensor


@dataclass
class LatentPool:
    """Token ids and latent posteriors (mean, std) of a fixed set of training scenes."""

    input_ids: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def tokenize(tokenizer: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    padded = tokenizer(
        texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True
    )
    return torch.tensor(padded.input_ids)


@torch.no_grad()
def encode_pool(
    vae: AutoencoderKL, tokenizer: CLIPTokenizer, *, seed: int, count: int, batch_size: int = 256
) -> LatentPool:
    """Render and encode `count` training scenes once, so training never runs the encoder."""
    ids, means, stds = [], [], []
    for start in range(0, count, batch_size):
        texts, images = examples(seed, start, min(batch_size, count - start))
        posterior = vae.encode(to_tensor(images).to(vae.device)).latent_dist
        ids.append(tokenize(tokenizer, texts).to(vae.device))
        means.append(posterior.mean)
        stds.append(posterior.std)
    return LatentPool(torch.cat(ids), torch.cat(means), torch.cat(stds))


@torch.no_grad()
def standardize(vae: AutoencoderKL, pool: LatentPool) -> LatentPool:
    """Give every latent channel zero mean and unit variance, in the VAE and in the pool."""
    shift = pool.mean.mean(dim=(0, 2, 3))
    scale = pool.mean.std(dim=(0, 2, 3))
    channels = len(shift)
    # The encoder's quant_conv emits (mean, logvar) per channel: z -> (z - shift) / scale.
    weight, bias = vae.quant_conv.weight, vae.quant_conv.bias
    weight[:channels] /= scale[:, None, None, None]
    bias[:channels] = (bias[:channels] - shift) / scale
    bias[channels:] -= 2 * scale.log()
    # The decoder's 1x1 post_quant_conv takes z: make it take (z - shift) / scale instead.
    weight, bias = vae.post_quant_conv.weight, vae.post_quant_conv.bias
    bias += weight[:, :, 0, 0] @ shift
    weight *= scale[None, :, None, None]
    view = scale.view(1, -1, 1, 1)
    return LatentPool(pool.input_ids, (pool.mean - shift.view(1, -1, 1, 1)) / view, pool.std / view)


def latent_scale(pool: LatentPool) -> float:
    """SD's scaling_factor: 1 / std of sampled latents, so diffusion sees unit variance."""
    return 1.0 / float((pool.mean + pool.std * torch.randn_like(pool.std)).std())
