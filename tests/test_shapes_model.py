"""The shapes model: caption grammar, renderer, checker, tokenizer, training, shipped weights."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import load_file
from transformers import CLIPTokenizer

from websd.models.shapes import pipeline_path, quality
from websd.models.shapes.captions import (
    COLOURS,
    HELD_OUT,
    SHAPES,
    caption,
    parse,
    scenes,
)
from websd.models.shapes.checker import check
from websd.models.shapes.render import render
from websd.models.shapes.tokenizer import train_tokenizer
from websd.models.shapes.train import main as train_main


def _truth(seed: int, count: int, split: str) -> list[tuple[str, np.ndarray]]:
    return [(caption(s), render(s)) for s in scenes(seed, count, split)]


def test_captions_are_deterministic_and_parse_back() -> None:
    assert scenes(3, 50) == scenes(3, 50)
    assert scenes(3, 50) != scenes(4, 50)
    for scene in scenes(3, 500) + scenes(3, 200, "held_out"):
        assert parse(caption(scene)) == scene


def test_held_out_pairs_never_appear_in_training_captions() -> None:
    training = scenes(0, 20_000)
    assert not any(s.held_out for s in training)
    pairs = {(o.colour, o.shape) for s in training for o in s.objects}
    assert len(pairs) == len(COLOURS) * len(SHAPES) - len(HELD_OUT)
    assert all(s.held_out for s in scenes(0, 500, "held_out"))


def test_rendering_is_anti_aliased_and_deterministic() -> None:
    scene = parse("a red circle")
    image = render(scene)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render(scene))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 2  # edge pixels blend the colours


def test_checker_accepts_ground_truth() -> None:
    truth = _truth(11, 300, "train") + _truth(11, 100, "held_out")
    right = [check(image, text).ok for text, image in truth]
    assert np.mean(right) >= 0.98


def test_checker_rejects_a_changed_attribute() -> None:
    rng = random.Random(0)
    wrong = []
    for text, image in _truth(12, 200, "train"):
        scene = parse(text)
        k = rng.randrange(len(scene.objects))
        obj = scene.objects[k]
        colours = [c for c in COLOURS if c not in (obj.colour, scene.background or "white")]
        changed = rng.choice(
            [
                dataclasses.replace(obj, colour=rng.choice(colours)),
                dataclasses.replace(obj, shape=rng.choice([s for s in SHAPES if s != obj.shape])),
                dataclasses.replace(obj, size="large" if obj.size == "small" else "small"),
            ]
        )
        objects = (*scene.objects[:k], changed, *scene.objects[k + 1 :])
        wrong.append(check(image, caption(dataclasses.replace(scene, objects=objects))).ok)
    assert np.mean(wrong) <= 0.02


def test_checker_rejects_an_empty_image() -> None:
    blank = np.full((64, 64, 3), 250, np.uint8)
    assert check(blank, "a red circle").failure == "count"


def test_tokenizer_is_clip_format(tmp_path) -> None:
    texts = [caption(s) for s in scenes(0, 300)]
    trained = train_tokenizer(texts, tmp_path, max_length=32)
    loaded = CLIPTokenizer.from_pretrained(tmp_path)
    ids = loaded("a red circle on the left").input_ids
    assert ids[0] == trained.bos_token_id and ids[-1] == trained.eos_token_id
    assert loaded.convert_ids_to_tokens(ids[1:3]) == ["a</w>", "red</w>"]
    assert loaded.pad_token == loaded.eos_token == "<|endoftext|>"
    assert max(len(loaded(t).input_ids) for t in texts) <= 32


def test_training_smoke_run_gives_a_loadable_pipeline_and_resumes(tmp_path) -> None:
    args = ["--threads", "1", "--images", "8", "--tokenizer-captions", "200",
            "--vae-steps", "2", "--vae-batch", "4", "--diffusion-steps", "2",
            "--diffusion-batch", "4", "--checkpoints", str(tmp_path / "checkpoints")]  # fmt: skip
    train_main(["--out", str(tmp_path / "first"), *args])
    pipeline = StableDiffusionPipeline.from_pretrained(tmp_path / "first")
    text = pipeline.text_encoder.config
    assert pipeline.tokenizer.model_max_length == text.max_position_embeddings
    image = pipeline("a red circle", num_inference_steps=2, output_type="np").images[0]
    assert image.shape == (64, 64, 3)

    train_main(["--out", str(tmp_path / "again"), *args])  # every stage resumes
    for name in ("unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model"):
        first = load_file(tmp_path / "first" / f"{name}.safetensors")
        again = load_file(tmp_path / "again" / f"{name}.safetensors")
        assert all(torch.equal(first[k], again[k]) for k in first)


def test_shipped_weights_fit_the_size_budget() -> None:
    weights = sum(f.stat().st_size for f in pipeline_path().rglob("*.safetensors"))
    assert weights <= 25 * 10**6


def test_shipped_weights_draw_what_the_prompt_says() -> None:
    torch.set_num_threads(2)
    report = quality.evaluate(quality.load(str(pipeline_path())), quality.prompts(40, 10))
    print("\n".join(report.lines()))
    assert report.overall >= 0.8
    assert report.held_out >= 0.6
    assert report.unconditional is not None and report.unconditional <= 0.3


def test_native_runner_gets_the_same_verdicts_as_diffusers() -> None:
    """websd's compiled model (native CPU runner, same seeds) draws what diffusers draws."""
    torch.set_num_threads(2)
    folder = str(pipeline_path())
    texts = [p.text for p in quality.prompts(12, 4)]
    agree, largest = quality.native_agreement(quality.load(folder), folder, texts)
    assert agree == 1.0
    assert largest <= 1
