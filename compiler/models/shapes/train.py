"""Train the shapes model: `python -m websd.models.shapes.train [--out DIR]`.

Stages, each printed with its time: (0) a BPE vocabulary on the captions; (1) the VAE on
rendered images; (2) encode a pool of training scenes to latents and set the VAE's
scaling_factor; (3) text encoder and UNet together on that pool; (4) save a diffusers
StableDiffusionPipeline folder. Everything follows from --seed; on an unshared 2-core CPU the
default recipe takes under 45 minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TypeVar

import diffusers
import torch
import transformers
from diffusers import AutoencoderKL, StableDiffusionPipeline

from . import PIPELINE_DIR, architecture
from .captions import caption, scenes
from .latents import LatentPool, encode_pool, latent_scale, standardize, tokenize
from .tokenizer import train_tokenizer
from .train_diffusion import TextToImage, train_diffusion
from .train_vae import reconstruction_rate, train_vae

T = TypeVar("T")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the weights. `images` > 0 trains on that many scenes only."""

    seed: int = 0
    images: int = 0
    tokenizer_captions: int = 20_000
    vae_steps: int = 4000
    vae_batch: int = 16
    vae_lr: float = 2e-3
    pool: int = 20_000
    diffusion_steps: int = 4000
    diffusion_batch: int = 128
    diffusion_lr: float = 1e-3


class Stages:
    """Runs and times the stages, printing progress as it goes.

    With a `checkpoints` folder, each stage's result is saved there together with the random
    state after it, under a key made of the recipe settings it and the stages before it used.
    A later run resumes every stage whose key it finds, with the same result: the default recipe
    runs for most of an hour, and a change to, say, the UNet's settings keeps the trained VAE.
    """

    def __init__(
        self, recipe: Recipe, log: Callable[[str], None], checkpoints: Path | None
    ) -> None:
        self.recipe, self.log, self.checkpoints = recipe, log, checkpoints
        self.seconds: dict[str, float] = {}
        self.key = ""

    def run(self, name: str, settings: tuple[str, ...], work: Callable[[], T]) -> T:
        """Run `work`, a stage that depends on the recipe fields `settings` and earlier stages."""
        used = [(field, getattr(self.recipe, field)) for field in settings]
        self.key = hashlib.sha256(f"{self.key}|{name}|{used}".encode()).hexdigest()[:16]
        saved = None
        if self.checkpoints:
            saved = self.checkpoints / f"{name.replace(' ', '_')}-{self.key}.pt"
        if saved and saved.exists():
            result, rng, self.seconds[name] = torch.load(saved, weights_only=False)
            torch.set_rng_state(rng)
            self.log(f"== {name}: resumed from {saved}")
            return result
        self.log(f"== {name}")
        start = time.time()
        result = work()
        self.seconds[name] = round(time.time() - start, 1)
        self.log(f"== {name}: {self.seconds[name]:.0f} s")
        if saved:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save((result, torch.get_rng_state(), self.seconds[name]), saved)
        return result


def train(
    recipe: Recipe,
    out: Path,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    checkpoints: Path | None = None,
) -> Path:
    """Train every component and save the pipeline folder to `out`."""
    torch.manual_seed(recipe.seed)
    few = recipe.images or None
    stages = Stages(recipe, log, checkpoints)
    texts = [caption(s) for s in scenes(recipe.seed, recipe.tokenizer_captions)]
    tokenizer = stages.run(
        "tokenizer",
        ("seed", "tokenizer_captions"),
        lambda: train_tokenizer(texts, out / "tokenizer", architecture.MAX_LENGTH),
    )
    vae = stages.run(
        "vae",
        ("images", "vae_steps", "vae_batch", "vae_lr"),
        lambda: train_vae(
            architecture.vae().to(device),
            seed=recipe.seed,
            steps=recipe.vae_steps,
            batch_size=recipe.vae_batch,
            lr=recipe.vae_lr,
            log=log,
            pool=few,
        ),
    )
    log(f"vae reconstructions the checker accepts: {reconstruction_rate(vae):.1%}")

    def latents() -> tuple[AutoencoderKL, LatentPool]:
        """Encode the pool; standardizing changes the VAE too, so the stage returns both."""
        pool = encode_pool(vae, tokenizer, seed=recipe.seed, count=few or recipe.pool)
        return vae, standardize(vae, pool)

    vae, pool = stages.run("latents", ("pool",), latents)
    scale = latent_scale(pool)
    vae.register_to_config(scaling_factor=scale)
    log(f"latent scaling_factor {scale:.4f}")
    text_encoder = architecture.text_encoder(
        len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id
    )
    model = TextToImage(text_encoder, architecture.unet()).to(device)
    ema = stages.run(
        "text encoder + unet",
        ("diffusion_steps", "diffusion_batch", "diffusion_lr"),
        lambda: train_diffusion(
            model,
            pool,
            scale,
            tokenize(tokenizer, [""])[0],
            seed=recipe.seed,
            steps=recipe.diffusion_steps,
            batch_size=recipe.diffusion_batch,
            lr=recipe.diffusion_lr,
            log=log,
        ),
    )
    pipeline = StableDiffusionPipeline(
        vae=vae.cpu(),
        text_encoder=ema.text_encoder.cpu(),
        tokenizer=tokenizer,
        unet=ema.unet.cpu(),
        scheduler=architecture.scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(out)
    record = {
        "recipe": asdict(recipe),
        "seconds": stages.seconds,
        "threads": torch.get_num_threads(),
        "device": device,
        "versions": {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"saved {out}")
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PIPELINE_DIR, help="pipeline folder to write")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--checkpoints", type=Path, help="save each stage here, and resume from what is there"
    )
    for field in fields(Recipe):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default)
    return parser


def main(argv: Sequence[str] | None = None) -> Path:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = Recipe(**{f.name: getattr(args, f.name) for f in fields(Recipe)})
    log = lambda line: print(line, flush=True)  # noqa: E731
    return train(recipe, args.out, args.device, log, args.checkpoints)


if __name__ == "__main__":
    main()
