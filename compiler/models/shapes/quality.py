"""How often the model draws what the prompt says, judged by the classical checker.

The prompt set mixes scenes from the training distribution with scenes that contain a
colour-shape pair never seen in training; the empty-prompt baseline shows the rate that chance
(an unconditional model) reaches on the same prompts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

from . import GUIDANCE
from .captions import caption, sample_scene, scene_rng
from .checker import check

BENCHMARK_SEED = 1234  # not a training seed: benchmark prompts are drawn apart from training
STEPS = 20


@dataclass(frozen=True)
class Prompt:
    text: str
    held_out: bool


@dataclass
class Report:
    """Rates over a prompt set, with the most common reasons for failure."""

    overall: float
    held_out: float
    in_distribution: float
    unconditional: float | None
    count: int
    held_out_count: int
    steps: int
    guidance: float
    failures: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [
            f"prompts {self.count} ({self.held_out_count} with a held-out colour-shape pair), "
            f"DPM-Solver++ {self.steps} steps, guidance {self.guidance}",
            f"overall          {self.overall:6.1%}",
            f"held-out         {self.held_out:6.1%}",
            f"in-distribution  {self.in_distribution:6.1%}",
        ]
        if self.unconditional is not None:
            out.append(f"empty prompt     {self.unconditional:6.1%}  (unconditional baseline)")
        out += [f"  {n:3d} x {reason}" for reason, n in self.failures.most_common(8)]
        return out


def prompts(count: int, held_out: int, seed: int = BENCHMARK_SEED) -> list[Prompt]:
    """`held_out` prompts with an unseen colour-shape pair, the rest from the training grammar."""
    unseen = [
        caption(sample_scene(scene_rng(seed, i, "held_out"), "held_out")) for i in range(held_out)
    ]
    seen = [caption(sample_scene(scene_rng(seed, i, "train"))) for i in range(count - held_out)]
    return [Prompt(t, True) for t in unseen] + [Prompt(t, False) for t in seen]


def load(folder: str) -> StableDiffusionPipeline:
    """The pipeline with DPM-Solver++ (multistep, order 2), as the benchmark specifies."""
    pipeline = StableDiffusionPipeline.from_pretrained(folder)
    pipeline.scheduler = DPMSolverMultistepScheduler.from_config(
        pipeline.scheduler.config, algorithm_type="dpmsolver++", solver_order=2
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@torch.no_grad()
def generate(
    pipeline: StableDiffusionPipeline,
    texts: list[str],
    *,
    steps: int = STEPS,
    guidance: float = GUIDANCE,
    seed: int = 0,
    batch_size: int = 50,
) -> np.ndarray:
    """(N, 64, 64, 3) uint8 images; image i uses generator seed `seed + i`."""
    images = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        generators = [torch.Generator().manual_seed(seed + start + i) for i in range(len(chunk))]
        out = pipeline(
            chunk, num_inference_steps=steps, guidance_scale=guidance, generator=generators,
            output_type="np",
        )  # fmt: skip
        images.append((out.images * 255).round().astype(np.uint8))
    return np.concatenate(images)


def evaluate(
    pipeline: StableDiffusionPipeline,
    prompt_set: list[Prompt],
    *,
    steps: int = STEPS,
    guidance: float = GUIDANCE,
    unconditional: bool = True,
) -> Report:
    texts = [p.text for p in prompt_set]
    verdicts = [
        check(img, t)
        for img, t in zip(
            generate(pipeline, texts, steps=steps, guidance=guidance), texts, strict=True
        )
    ]
    right = np.array([v.ok for v in verdicts])
    unseen = np.array([p.held_out for p in prompt_set])
    baseline = None
    if unconditional:
        empty = generate(pipeline, [""] * len(texts), steps=steps, guidance=guidance)
        baseline = float(np.mean([check(img, t).ok for img, t in zip(empty, texts, strict=True)]))
    failures = Counter(v.failure for v in verdicts if v.failure)
    return Report(
        overall=float(right.mean()),
        held_out=float(right[unseen].mean()) if unseen.any() else float("nan"),
        in_distribution=float(right[~unseen].mean()) if (~unseen).any() else float("nan"),
        unconditional=baseline,
        count=len(prompt_set),
        held_out_count=int(unseen.sum()),
        steps=steps,
        guidance=guidance,
        failures=failures,
    )


def native_agreement(
    pipeline: StableDiffusionPipeline,
    folder: str,
    texts: list[str],
    *,
    steps: int = STEPS,
    guidance: float = GUIDANCE,
) -> tuple[float, int]:
    """How often the checker's verdict on websd's native runner (the compiled model, same seeds)
    equals its verdict on diffusers' image, and the largest pixel difference between them."""
    from websd.build import build_model
    from websd.native import NativeModel

    native = NativeModel(build_model(folder).folder)
    reference = generate(pipeline, texts, steps=steps, guidance=guidance)
    same, largest = 0, 0
    for i, (text, expected) in enumerate(zip(texts, reference, strict=True)):
        image = native.generate(text, seed=i, steps=steps, guidance=guidance).rgba[..., :3]
        same += check(image, text).ok == check(expected, text).ok
        largest = max(largest, int(np.abs(image.astype(int) - expected).max()))
    return same / len(texts), largest
