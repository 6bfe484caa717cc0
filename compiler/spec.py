"""What a model is: read a diffusers pipeline folder (or hub id) and check websd can compile it.

Everything downstream — importers, manifest, runtime — reads sizes and settings from the
ModelSpec made here, never from constants.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelSourceError, OptionError, UnsupportedModelError

SCHEDULERS = ("dpm++2m", "euler", "euler-a", "ddim", "lcm")
DEFAULT_SCHEDULER = "dpm++2m"
DTYPES = ("float32", "float16")
MAX_IMAGE_SIDE = 1024
FULL_SIZE_SIDE = 512
_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_PIPELINE_CLASS = "StableDiffusionPipeline"
# What a hub download fetches: configs, tokenizer and safetensors weights, nothing else.
_HUB_FILES = [
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
]
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True, order=True)
class ImageSize:
    """An image size a library is compiled for (its UNet and VAE shapes are static)."""

    width: int
    height: int

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}"

    @classmethod
    def parse(cls, text: str) -> ImageSize:
        """`512x768` (width x height)."""
        match = _SIZE.fullmatch(text.strip())
        if match is None:
            raise OptionError(f"image size {text!r} is not WIDTHxHEIGHT, for example 512x768")
        return cls(int(match[1]), int(match[2]))


_SIZE = re.compile(r"(\d+)\s*[xX×]\s*(\d+)")


@dataclass(frozen=True)
class MatrixConfig:
    """Subgroup matrices (tensor cores) that a set of GEMM kernels is written for: one of an
    adapter's `subgroupMatrixConfigs` with float16 operands and float32 results, fragments of
    C `m × n` and `k` deep, on subgroups of `subgroup_size` invocations."""

    m: int
    n: int
    k: int
    subgroup_size: int

    @property
    def name(self) -> str:
        return f"{self.m}x{self.n}x{self.k}-s{self.subgroup_size}"

    @classmethod
    def parse(cls, text: str) -> MatrixConfig:
        """`16x16x16-s32` (M x N x K, subgroup size)."""
        match = _MATRIX.fullmatch(text.strip())
        if match is None:
            raise OptionError(
                f"subgroup matrices {text!r} are not MxNxK-sSUBGROUP, for example 16x16x16-s32"
            )
        return cls(*(int(group) for group in match.groups()))


_MATRIX = re.compile(r"(\d+)x(\d+)x(\d+)-s(\d+)")

# The tensor cores of NVIDIA's GPUs, as Vulkan's cooperative matrices offer them to Dawn.
NVIDIA_MATRICES = MatrixConfig(16, 16, 16, 32)


@dataclass(frozen=True)
class BuildOptions:
    """Choices that change the compiled artifacts (and so the cache key)."""

    dtype: str | None = None
    """None: float16 for full-size models (`ModelSpec.dtype`), float32 for small ones."""
    sizes: tuple[ImageSize, ...] = ()
    """The image sizes to compile, the first being the default; none: the model's own."""
    shard_mb: int = 24
    matrix: tuple[MatrixConfig, ...] = ()
    """Subgroup matrices to write GEMM kernels for, beside the library (float16 builds): each
    set runs where an adapter offers those matrices (websd.matrix_kernels)."""

    def __post_init__(self) -> None:
        if self.dtype is not None and self.dtype not in DTYPES:
            raise OptionError(f"unknown dtype {self.dtype!r}: use one of {', '.join(DTYPES)}")
        if len(set(self.sizes)) != len(self.sizes):
            names = ", ".join(size.name for size in self.sizes)
            raise OptionError(f"image sizes {names} repeat a size: list each once")
        if len(set(self.matrix)) != len(self.matrix):
            raise OptionError("subgroup matrices repeat: list each once")
        if not 1 <= self.shard_mb <= 1024:
            raise OptionError(f"shard size {self.shard_mb} MiB is out of range: use 1 to 1024")


@dataclass(frozen=True)
class ModelSpec:
    """The sizes and settings of one pipeline at the chosen image sizes."""

    folder: Path
    family: str
    dtype: str
    """The build's precision: as asked, or float16 for a model whose own image is at least
    FULL_SIZE_SIDE pixels (every Stable Diffusion checkpoint), float32 below (test models and
    the shapes model, where fp32 costs little and runs on every adapter)."""
    sizes: tuple[ImageSize, ...]
    """The first is the default."""
    latent_channels: int
    vae_scale: int
    max_length: int
    hidden_size: int
    prediction_type: str
    vae_scaling_factor: float
    scheduler_config: dict[str, Any]

    def latent_hw(self, size: ImageSize) -> tuple[int, int]:
        return size.height // self.vae_scale, size.width // self.vae_scale


def resolve_source(source: str | Path) -> Path:
    """A local diffusers folder as is; a hub id downloaded (only on a machine with a network)."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelSourceError(f"{path} is a file: give the pipeline's folder")
        return path.resolve()
    if not _HUB_ID.match(str(source)) or str(source).startswith("."):
        raise ModelSourceError(
            f"{source}: no such folder. Give a diffusers pipeline folder (the one holding "
            "model_index.json) or a hub id such as 'stabilityai/sd-turbo'."
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(source), allow_patterns=_HUB_FILES)).resolve()
    except Exception as error:
        raise ModelSourceError(
            f"{source} is not a local folder, and downloading it as a hub id failed "
            f"({type(error).__name__}: {error}). Check the path, or the id and your network."
        ) from error


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelSourceError(f"{path} is missing: the pipeline folder is incomplete") from None
    except json.JSONDecodeError as error:
        raise ModelSourceError(f"{path} is not valid JSON: {error}") from None


def _check_supported(index: dict[str, Any], unet: dict[str, Any], folder: Path) -> None:
    name = index.get("_class_name", "?")
    if "text_encoder_2" in index or "XL" in name:
        raise UnsupportedModelError(
            f"{folder} is an SDXL pipeline ({name}): two text encoders (text_encoder_2) are "
            "not supported yet. Supported: SD 1.x, SD 2.x and SD-Turbo."
        )
    if name != _PIPELINE_CLASS:
        raise UnsupportedModelError(
            f"{folder} holds a {name}: websd compiles {_PIPELINE_CLASS} checkpoints "
            "(SD 1.x, SD 2.x and SD-Turbo)"
        )
    missing = [part for part in _PARTS if part not in index]
    if missing:
        raise ModelSourceError(
            f"{folder} is not a Stable Diffusion pipeline: model_index.json has no "
            f"{', '.join(missing)}"
        )
    if unet.get("in_channels", 4) != 4:
        raise UnsupportedModelError(
            f"{folder}: the UNet takes {unet['in_channels']} input channels (an inpainting or "
            "depth model); only text-to-image UNets with 4 latent channels are supported"
        )
    for key, feature in (
        ("addition_embed_type", "added conditioning (addition_embed_type)"),
        ("class_embed_type", "class conditioning (class_embed_type)"),
        ("time_cond_proj_dim", "guidance embedding (time_cond_proj_dim)"),
    ):
        if unet.get(key) is not None:
            raise UnsupportedModelError(f"{folder}: the UNet uses {feature}, not supported yet")


def _image_sizes(
    requested: tuple[ImageSize, ...], default: int, multiple: int
) -> tuple[ImageSize, ...]:
    """The requested sizes, or the model's own square; each side a multiple of what the UNet's
    downsampling needs."""
    sizes = requested or (ImageSize(default, default),)
    for size in sizes:
        for axis, side in (("width", size.width), ("height", size.height)):
            if side % multiple or not multiple <= side <= MAX_IMAGE_SIDE:
                raise OptionError(
                    f"image size {size.name}: {axis} {side} is out of range: use a multiple of "
                    f"{multiple} from {multiple} to {MAX_IMAGE_SIDE} "
                    f"(this model's default is {default}x{default})"
                )
    return sizes


def read_spec(folder: Path, options: BuildOptions) -> ModelSpec:
    """Read the pipeline's configs and check every assumption websd's importers make."""
    if not (folder / "model_index.json").is_file():
        raise ModelSourceError(
            f"{folder} is not a diffusers pipeline folder: it has no model_index.json. "
            "Give the folder that `save_pretrained` wrote (or a hub id)."
        )
    index = _read_json(folder / "model_index.json")
    unet = _read_json(folder / "unet" / "config.json")
    _check_supported(index, unet, folder)
    vae = _read_json(folder / "vae" / "config.json")
    text = _read_json(folder / "text_encoder" / "config.json")
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    tokenizer = _read_json(folder / "tokenizer" / "tokenizer_config.json")

    vae_scale = 2 ** (len(vae["block_out_channels"]) - 1)
    multiple = vae_scale * 2 ** (len(unet["down_block_types"]) - 1)
    default_side = unet["sample_size"] * vae_scale
    max_length = int(tokenizer.get("model_max_length", text["max_position_embeddings"]))
    max_length = min(max_length, int(text["max_position_embeddings"]))
    dtype = options.dtype or ("float16" if default_side >= FULL_SIZE_SIDE else "float32")
    if options.matrix and dtype != "float16":
        raise OptionError(
            f"subgroup-matrix kernels multiply float16, and this build is {dtype}: "
            "set dtype float16 (--dtype float16), or list no subgroup matrices"
        )
    return ModelSpec(
        folder=folder,
        family="sd2" if unet.get("use_linear_projection") else "sd1",
        dtype=dtype,
        sizes=_image_sizes(options.sizes, default_side, multiple),
        latent_channels=int(unet["in_channels"]),
        vae_scale=vae_scale,
        max_length=max_length,
        hidden_size=int(text["hidden_size"]),
        prediction_type=scheduler.get("prediction_type", "epsilon"),
        vae_scaling_factor=float(vae.get("scaling_factor", 0.18215)),
        scheduler_config=_json_safe(scheduler),
    )


def _json_safe(config: dict[str, Any]) -> dict[str, Any]:
    """Non-finite numbers (DPM's `lambda_min_clipped: -inf`) as null: JSON.parse rejects them.
    Where a pipeline has them they mean "no bound", as a missing key does, and the runtimes
    read null as missing."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in config.items()
    }
