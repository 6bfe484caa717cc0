"""Write a random-weight StableDiffusionPipeline folder from a PipelineConfig and a seed."""

from __future__ import annotations

from pathlib import Path

import torch

from .configs import PipelineConfig
from .vocab import write_clip_vocab


def save_random_pipeline(config: PipelineConfig, folder: Path, seed: int = 0) -> Path:
    """Save a pipeline whose weights are drawn from `seed`, the way a real checkpoint is laid out.

    Full-size vocabularies keep their size but reuse the small test merges: token ids
    beyond the written vocabulary are never produced by the tokenizer.
    """
    import diffusers
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    tokenizer_dir = folder / "tokenizer"
    write_clip_vocab(tokenizer_dir)
    tokenizer = CLIPTokenizer(
        str(tokenizer_dir / "vocab.json"),
        str(tokenizer_dir / "merges.txt"),
        model_max_length=config.max_length,
    )
    text_config = dict(config.text_encoder)
    if text_config["vocab_size"] < len(tokenizer):
        raise ValueError("the text encoder's vocabulary is smaller than the tokenizer's")
    text_config["bos_token_id"] = tokenizer.bos_token_id
    text_config["eos_token_id"] = tokenizer.eos_token_id
    text_config["vocab_size"] = max(text_config["vocab_size"], len(tokenizer))

    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config)).eval()
    unet = UNet2DConditionModel(**config.unet).eval()
    vae = AutoencoderKL(**config.vae).eval()
    scheduler_cls = getattr(diffusers, config.scheduler["_class_name"])
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler_cls.from_config(config.scheduler),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder
