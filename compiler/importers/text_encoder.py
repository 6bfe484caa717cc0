"""CLIP text encoder: token ids → the hidden states the UNet cross-attends to."""

from __future__ import annotations

import torch

from .export import ImportedPart, import_module


class TextEncoder(torch.nn.Module):
    """Returns `last_hidden_state`, which is what StableDiffusionPipeline feeds the UNet."""

    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.clip(input_ids)[0]


def import_text_encoder(clip: torch.nn.Module, max_length: int) -> ImportedPart:
    # Eager attention: the SDPA path builds a boolean causal mask that WGSL cannot hold,
    # and CLIP cannot be exported without decomposition (FINDINGS.md).
    clip.set_attn_implementation("eager")
    input_ids = torch.zeros(1, max_length, dtype=torch.int32)
    return import_module(TextEncoder(clip), (input_ids,), decompose=True)
