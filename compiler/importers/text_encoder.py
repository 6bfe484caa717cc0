"""CLIP text encoder: token ids → the hidden states the UNet cross-attends to."""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

from .export import ImportedPart, import_module

CAUSAL_ATTENTION = "websd_causal"


def _causal_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """CLIP's text attention as one causal scaled-dot-product attention, so that it imports as
    one `R.nn.attention(causal_mask="TopLeft")` and runs in the fused kernel, not as a float
    mask added to a materialised score matrix. The importer drops SDPA's `scale`, so only
    CLIP's own 1/√d is accepted."""
    if abs(scaling - query.shape[-1] ** -0.5) > 1e-12:
        raise NotImplementedError(f"text attention scale {scaling} is not 1/sqrt(head_dim)")
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True)
    return out.transpose(1, 2), None


AttentionInterface.register(CAUSAL_ATTENTION, _causal_attention)
# The causal mask is the kernel's, so the model builds none (its construction does not export).
AttentionMaskInterface.register(CAUSAL_ATTENTION, lambda *args, **kwargs: None)


class TextEncoder(torch.nn.Module):
    """Returns `last_hidden_state`, which is what StableDiffusionPipeline feeds the UNet."""

    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.clip(input_ids)[0]


def import_text_encoder(clip: torch.nn.Module, max_length: int) -> ImportedPart:
    clip.set_attn_implementation(CAUSAL_ATTENTION)
    input_ids = torch.zeros(1, max_length, dtype=torch.int32)
    return import_module(TextEncoder(clip), (input_ids,), functionalize=True)
