"""Export the pipeline's CLIP tokenizer as one `tokenizer.json` for HF tokenizers (Rust/wasm).

Padding and truncation are left to the caller (runtime and native runner alike), who reads
max length and the special ids from the manifest, so the browser can tell the user when a
prompt was cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOKENIZER_NAME = "tokenizer.json"


def export_tokenizer(pipeline_folder: Path, out_dir: Path, max_length: int) -> dict[str, Any]:
    """Write tokenizer.json; return the manifest's `text` entry (lengths and special ids)."""
    from transformers import CLIPTokenizerFast

    tokenizer = CLIPTokenizerFast.from_pretrained(pipeline_folder / "tokenizer")
    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.no_truncation()
    backend.save(str(out_dir / TOKENIZER_NAME))
    return {
        "max_length": max_length,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def encode_prompt(tokenizer: Any, text: dict[str, Any], prompt: str) -> tuple[list[int], bool]:
    """Token ids padded to max length, as StableDiffusionPipeline makes them; and whether the
    prompt was truncated. `tokenizer` is a `tokenizers.Tokenizer` loaded from tokenizer.json.
    The TypeScript runtime implements the same rule."""
    ids = tokenizer.encode(prompt).ids
    max_length = text["max_length"]
    truncated = len(ids) > max_length
    if truncated:
        ids = [*ids[: max_length - 1], text["eos_token_id"]]
    return ids + [text["pad_token_id"]] * (max_length - len(ids)), truncated
