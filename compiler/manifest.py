"""The manifest `websd-model.json`: the one contract between the compiler and the browser runtime.

Everything the runtime needs to run a model is written here, so that TypeScript holds no
model-specific constant. Bump FORMAT_VERSION on any incompatible change; runtime_ts/src/manifest.ts
checks it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "websd-model"
FORMAT_VERSION = 3
MANIFEST_NAME = "websd-model.json"


@dataclass(frozen=True)
class FunctionSig:
    """A compiled Relax function: its inputs in call order, and the weight group it takes."""

    name: str
    params: str
    inputs: list[dict[str, Any]]
    output: dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    name: str
    family: str
    dtype: str
    sizes: list[dict[str, Any]]
    """The image sizes the library is compiled for, the default first: width, height, the
    latent's height and width, and the names of the size's functions by kind."""
    latent_channels: int
    vae_scaling_factor: float
    prediction_type: str
    text: dict[str, Any]
    scheduler: dict[str, Any]
    default_scheduler: str
    functions: dict[str, FunctionSig]
    params: dict[str, list[str]]
    library: dict[str, Any]
    weights: dict[str, Any]
    tokenizer: str
    webgpu: dict[str, Any]
    versions: dict[str, str]
    content_hash: str
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST_NAME
        path.write_text(self.to_json())
        return path


def size_names(manifest: dict[str, Any]) -> list[str]:
    """The manifest's image sizes as `WIDTHxHEIGHT` (`ImageSize.name`), the default first."""
    return [f"{size['width']}x{size['height']}" for size in manifest["sizes"]]


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read and check a manifest; the dict form is what the native runner and plugin consume."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {folder} is not a websd artifact folder")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format {data.get('format')!r} v{data.get('format_version')} is not "
            f"{FORMAT!r} v{FORMAT_VERSION}; rebuild it with this websd version"
        )
    return data
