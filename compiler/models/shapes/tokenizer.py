"""A small CLIP-format BPE vocabulary, trained with HF `tokenizers` on the caption grammar.

The files are what OpenAI's CLIP ships: vocab.json (the 256 byte symbols, the same with the
`</w>` end-of-word suffix, then one token per merge, then the two specials) and merges.txt, so
`CLIPTokenizer.from_pretrained` loads the folder and any CLIP converter can export tokenizer.json.
Every byte has a token, so no text is ever unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer
from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
SUFFIX = "</w>"
# CLIP's own pre-tokenization, so that training splits words exactly as CLIPTokenizer will.
_CLIP_SPLIT = (
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
    r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
)


def _clip_like_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(BPE(continuing_subword_prefix="", end_of_word_suffix=SUFFIX))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return tokenizer


def train_merges(texts: Iterable[str], vocab_size: int = 1024) -> list[tuple[str, str]]:
    """BPE merges learnt from texts; `vocab_size` counts the 512 byte symbols and the merges."""
    tokenizer = _clip_like_tokenizer()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix=SUFFIX,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return [tuple(m) for m in json.loads(tokenizer.to_str())["model"]["merges"]]


def write_clip_files(merges: list[tuple[str, str]], folder: Path, max_length: int) -> None:
    """vocab.json, merges.txt and the tokenizer config, in CLIP's layout and id order."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + [c + SUFFIX for c in alphabet]
    tokens += [a + b for a, b in merges if a + b not in tokens]
    tokens += [BOS, EOS]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, indent=1))
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n")
    tokenizer = CLIPTokenizer(
        vocab=str(folder / "vocab.json"),
        merges=str(folder / "merges.txt"),
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(folder)


def train_tokenizer(texts: Iterable[str], folder: Path, max_length: int) -> CLIPTokenizer:
    """Train, write and reload the tokenizer, so callers get exactly what the pipeline loads."""
    write_clip_files(train_merges(texts), folder, max_length)
    return CLIPTokenizer.from_pretrained(folder)
