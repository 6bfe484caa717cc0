"""Stage 1: the autoencoder. It must decode flat colours and crisp edges from 8x8x4 latents.

Objects cover a few percent of an image, so a plain pixel loss first learns to paint the
background alone and stays there; weighting object pixels up avoids that. L1 keeps colours exact,
MSE pulls hardest on large errors, and an L1 loss on the image gradient keeps edges and corners
sharp: without it a small star or square decodes as a round blob. The KL term is SD's tiny one,
there only to keep the latent space smooth enough to diffuse in.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import torch
from diffusers import AutoencoderKL

from .checker import check
from .data import examples, to_tensor, to_uint8

KL_WEIGHT = 1e-6
OBJECT_WEIGHT = 5.0
EDGE_WEIGHT = 1.0


def _gradients(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return images[..., 1:, :] - images[..., :-1, :], images[..., :, 1:] - images[..., :, :-1]


def reconstruction_loss(decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """L1 + MSE, with pixels that differ from the corner (always background) weighted up, plus
    L1 between the two images' gradients."""
    background = images[:, :, :1, :1]
    objects = (images - background).abs().amax(dim=1, keepdim=True) > 0.05
    weight = 1 + (OBJECT_WEIGHT - 1) * objects.float()
    error = decoded - images
    pixels = (weight * (error.abs() + error.square())).mean() / weight.mean()
    edges = sum(
        (d - i).abs().mean() for d, i in zip(_gradients(decoded), _gradients(images), strict=True)
    )
    return pixels + EDGE_WEIGHT * edges


@torch.no_grad()
def ema_update(ema: list[torch.Tensor], model: list[torch.Tensor], decay: float) -> None:
    torch._foreach_lerp_(ema, model, 1 - decay)


def ema_decay(step: int, steps: int) -> float:
    """Average over about the last tenth of the run (and over all steps early on)."""
    return min(1 - 10 / max(steps, 100), (1 + step) / (10 + step))


def cosine_lr(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero: a multiplier for the base learning rate."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train_vae(
    vae: AutoencoderKL,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float,
    log: Callable[[str], None],
    pool: int | None = None,
) -> AutoencoderKL:
    """Train on fresh scenes each step (or cycle through `pool` scenes, for smoke runs).

    Returns the exponential moving average of the weights: small batches and a high learning
    rate make each step noisy, and the average is sharper than any single iterate.
    """
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_lr(s, steps, warmup=min(100, steps // 10 + 1))
    )
    ema = copy.deepcopy(vae).eval().requires_grad_(False)
    ema_params, params = list(ema.parameters()), list(vae.parameters())
    vae.train()
    start = time.time()
    for step in range(steps):
        first = step * batch_size if pool is None else (step * batch_size) % pool
        images = to_tensor(examples(seed, first, batch_size)[1]).to(vae.device)
        posterior = vae.encode(images).latent_dist
        decoded = vae.decode(posterior.sample()).sample
        l1 = (decoded - images).abs().mean()
        loss = reconstruction_loss(decoded, images) + KL_WEIGHT * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        ema_update(ema_params, params, ema_decay(step, steps))
        if step % 100 == 0 or step == steps - 1:
            rate = (time.time() - start) / (step + 1)
            log(f"vae step {step + 1}/{steps}  l1 {l1.item():.4f}  {rate:.2f} s/step")
    return ema


@torch.no_grad()
def reconstruction_rate(vae: AutoencoderKL, count: int = 200) -> float:
    """How often the checker still accepts a scene after a trip through the VAE: a ceiling on
    what the diffusion model can reach, printed so that a weak VAE shows before stage 3."""
    texts, images = examples(seed=-1, start=0, count=count)
    latents = vae.encode(to_tensor(images).to(vae.device)).latent_dist.mean
    decoded = to_uint8(vae.decode(latents).sample.cpu())
    return sum(check(image, text).ok for image, text in zip(decoded, texts, strict=True)) / count
