"""Print how often the shapes model draws what the prompt says (see websd.models.shapes.quality).

python benchmarks/shapes_quality.py [--pipeline DIR] [--prompts 200] [--held-out 50] [--native]

With --native it also compiles the model and compares the checker's verdicts on websd's native
runner with those on diffusers' images.
"""

from __future__ import annotations

import argparse
import time

import torch

from websd.models.shapes import pipeline_path, quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default=str(pipeline_path()))
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--held-out", type=int, default=50)
    parser.add_argument("--steps", type=int, default=quality.STEPS)
    parser.add_argument("--guidance", type=float, default=quality.GUIDANCE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--native", action="store_true", help="compare with the native runner")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    pipeline = quality.load(args.pipeline)
    prompts = quality.prompts(args.prompts, args.held_out)
    report = quality.evaluate(pipeline, prompts, steps=args.steps, guidance=args.guidance)
    print(f"shapes model {args.pipeline}")
    print("\n".join(report.lines()))
    if args.native:
        agree, largest = quality.native_agreement(
            pipeline,
            args.pipeline,
            [p.text for p in prompts],
            steps=args.steps,
            guidance=args.guidance,
        )
        print(f"native runner    {agree:6.1%} same verdicts, largest pixel difference {largest}")
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
