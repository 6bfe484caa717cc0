"""Stage 2: text encoder and UNet, trained together from scratch on precomputed VAE latents.

Tiny diffusion models learn fastest with: min-SNR loss weighting (no timestep dominates the
gradient), an EMA of the weights (what gets saved), a large learning rate with warm-up and
cosine decay, and 10% empty captions so that classifier-free guidance has an unconditional model.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel

from .latents import LatentPool
from .train_vae import cosine_lr, ema_decay, ema_update

MIN_SNR_GAMMA = 5.0
EMPTY_CAPTION_RATE = 0.1


def _min_snr_weights(scheduler: DDPMScheduler, timesteps: torch.Tensor) -> torch.Tensor:
    alphas = scheduler.alphas_cumprod[timesteps]
    snr = alphas / (1 - alphas)
    return snr.clamp(max=MIN_SNR_GAMMA) / snr


class TextToImage(torch.nn.Module):
    """Text encoder and UNet as one module, so one optimizer and one EMA cover both."""

    def __init__(self, text_encoder: CLIPTextModel, unet: UNet2DConditionModel) -> None:
        super().__init__()
        self.text_encoder, self.unet = text_encoder, unet

    def forward(self, latents: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.unet(latents, t, self.text_encoder(ids).last_hidden_state).sample


def train_diffusion(
    model: TextToImage,
    pool: LatentPool,
    scaling_factor: float,
    empty_ids: torch.Tensor,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    lr: float,
    log: Callable[[str], None],
) -> TextToImage:
    """Return the EMA of the model after `steps` steps of epsilon-prediction training."""
    noise = DDPMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    device = pool.mean.device
    noise.alphas_cumprod = noise.alphas_cumprod.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_lr(s, steps, warmup=min(200, steps // 10 + 1))
    )
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    ema_params, params = list(ema.parameters()), list(model.parameters())
    model.train()
    start, running = time.time(), 0.0
    for step in range(steps):
        pick = torch.randint(len(pool.input_ids), (batch_size,), generator=generator).to(device)
        eps = torch.randn(pool.mean[pick].shape, generator=generator).to(device)
        latents = (pool.mean[pick] + pool.std[pick] * eps) * scaling_factor
        ids = pool.input_ids[pick].clone()
        empty = (torch.rand(batch_size, generator=generator) < EMPTY_CAPTION_RATE).to(device)
        ids[empty] = empty_ids.to(device)
        t = torch.randint(noise.config.num_train_timesteps, (batch_size,), generator=generator)
        t = t.to(device)
        target = torch.randn(latents.shape, generator=generator).to(device)
        predicted = model(noise.add_noise(latents, target, t), t, ids)
        per_sample = (predicted - target).square().mean(dim=(1, 2, 3))
        loss = (per_sample * _min_snr_weights(noise, t)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        ema_update(ema_params, params, ema_decay(step, steps))
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            rate = (time.time() - start) / (step + 1)
            log(f"diffusion step {step + 1}/{steps}  loss {running:.4f}  {rate:.2f} s/step")
    return ema
