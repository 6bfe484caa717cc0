"""The `websd` command: `websd build` and `websd generate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import OptionError, WebsdError
from .progress import Reporter
from .spec import DEFAULT_SCHEDULER, DTYPES, SCHEDULERS, BuildOptions, ImageSize, MatrixConfig


def _default_model() -> str:
    from .models import default_model

    return str(default_model())


def _image_size(text: str) -> ImageSize:
    try:
        return ImageSize.parse(text)
    except OptionError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _matrix_config(text: str) -> MatrixConfig:
    try:
        return MatrixConfig.parse(text)
    except OptionError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="float16 (the default for full-size models) or float32 (the default for small ones)",
    )
    parser.add_argument(
        "--size",
        dest="sizes",
        action="append",
        type=_image_size,
        metavar="WxH",
        help="an image size to compile, e.g. 512x768; repeat for more, the first is the default "
        "(default: the model's own)",
    )
    parser.add_argument("--shard-mb", type=int, default=24, help="weight shard size cap, MiB")
    parser.add_argument(
        "--matrix",
        action="append",
        type=_matrix_config,
        metavar="MxNxK-sS",
        help="subgroup matrices (tensor cores) to write float16 GEMM kernels for, e.g. "
        "16x16x16-s32 (NVIDIA's); repeat for more (default: none)",
    )


def _options(args: argparse.Namespace) -> BuildOptions:
    return BuildOptions(
        dtype=args.dtype,
        sizes=tuple(args.sizes or ()),
        shard_mb=args.shard_mb,
        matrix=tuple(args.matrix or ()),
    )


def _build(args: argparse.Namespace) -> None:
    from .build import build_model
    from .manifest import size_names

    result = build_model(args.model or _default_model(), Path(args.out), _options(args))
    manifest = result.manifest
    sizes = ", ".join(size_names(manifest))
    print(
        f"{result.folder}: {sizes} "
        f"{manifest['dtype']}, library {manifest['library']['bytes']} bytes, weights "
        f"{manifest['weights']['bytes']} bytes in {len(manifest['weights']['shards'])} shards"
        + (" (from cache)" if result.cached else "")
    )


def _generate(args: argparse.Namespace) -> None:
    from .build import build_model
    from .native import NativeModel, save_png

    report = Reporter()
    result = build_model(args.model or _default_model(), None, _options(args), report)
    model = NativeModel(result.folder)
    generation = model.generate(
        args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        scheduler=args.scheduler,
        on_step=lambda i, n, ms: report(f"step {i}/{n}: {ms:.0f} ms"),
    )
    if generation.truncated:
        report("the prompt was longer than the model's token limit and was truncated")
    parameters = {
        "prompt": args.prompt,
        "negative_prompt": args.negative_prompt,
        "seed": args.seed,
        "steps": args.steps,
        "guidance": args.guidance,
        "scheduler": args.scheduler,
        "model": result.manifest["content_hash"],
    }
    save_png(generation, Path(args.out), parameters)
    print(args.out)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="websd", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="compile a pipeline into an artifact folder")
    build.add_argument("model", nargs="?", help="diffusers folder or hub id (default: shapes)")
    build.add_argument("--out", required=True, help="artifact folder to write")
    _add_build_options(build)
    build.set_defaults(run=_build)

    generate = commands.add_parser("generate", help="make an image with the native runner")
    generate.add_argument("--model", help="diffusers folder or hub id (default: shapes)")
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--negative-prompt", default="")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--steps", type=int, default=20)
    generate.add_argument("--guidance", type=float, default=7.5)
    generate.add_argument("--scheduler", default=DEFAULT_SCHEDULER, choices=SCHEDULERS)
    generate.add_argument("--out", default="image.png")
    _add_build_options(generate)
    generate.set_defaults(run=_generate)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except WebsdError as error:
        print(f"websd: error: {error}", file=sys.stderr)
        return 2
    return 0
