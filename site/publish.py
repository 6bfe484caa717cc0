"""Place compiled models and the runtime bundle into the built site, checking hosting limits."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ASSETS = "assets/websd"
GITHUB_PAGES_LIMIT = 1 << 30
FALLBACK_DIR = "float32"
"""Where a model's float32 fallback lies, inside the model's own folder (so that clearing the
model's cached files clears the fallback's too)."""


@dataclass(frozen=True)
class Build:
    """One compiled build of a model: its artifact folder and manifest."""

    folder: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class PublishedModel:
    name: str
    build: Build
    playground: dict[str, Any]
    """Settings a playground of this model starts with, unless its embed overrides them."""
    fallback: Build | None = None
    """The float32 build that browsers without shader-f16 run instead (fallback_float32)."""

    def builds(self) -> dict[str, Build]:
        """Each build, by its folder below the model's: "" for its own build."""
        fallback = {f"{FALLBACK_DIR}/": self.fallback} if self.fallback else {}
        return {"": self.build} | fallback


def artifact_files(manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The files a browser fetches: (library, manifest and tokenizer; weights)."""
    weights = manifest["weights"]
    return (
        ["websd-model.json", manifest["library"]["path"], manifest["tokenizer"]],
        [weights["index"], *(shard["path"] for shard in weights["shards"])],
    )


def oversized_files(model: PublishedModel, max_bytes: int) -> list[tuple[str, int]]:
    """Files of every build over the host's per-file limit, named as the site places them."""
    sizes = []
    for sub, build in model.builds().items():
        core, weights = artifact_files(build.manifest)
        sizes += [(sub + name, (build.folder / name).stat().st_size) for name in core + weights]
    return [(name, size) for name, size in sizes if size > max_bytes]


def copy_runtime_bundle(site_dir: Path) -> None:
    bundle = resources.files("websd.site").joinpath("assets", "websd")
    with resources.as_file(bundle) as folder:
        shutil.copytree(folder, site_dir / ASSETS, dirs_exist_ok=True)


def copy_model(
    model: PublishedModel, site_dir: Path, weights_url: str | None, weights_dir: Path
) -> None:
    """Copy one model's builds. With `weights_url`, their weights go to `weights_dir` (to upload
    there), and the site's manifests tell the runtime where to fetch them.

    The model's own manifest lists its fallback in `extra.variants`, with the WebGPU features
    it needs, so that the runtime can choose before fetching anything else."""
    manifest = model.build.manifest | {"name": model.name}
    place = (site_dir, weights_url, weights_dir)
    if model.fallback is not None:
        fallback = model.fallback.manifest
        variant = {
            "path": f"{FALLBACK_DIR}/",
            "dtype": fallback["dtype"],
            "features": fallback["webgpu"]["features"],
        }
        manifest["extra"] = manifest["extra"] | {"variants": [variant]}
        path = f"{model.name}/{FALLBACK_DIR}/"
        _copy_build(model.fallback.folder, fallback | {"name": model.name}, path, *place)
    _copy_build(model.build.folder, manifest, f"{model.name}/", *place)


def _copy_build(
    folder: Path,
    manifest: dict[str, Any],
    path: str,
    site_dir: Path,
    weights_url: str | None,
    weights_dir: Path,
) -> None:
    target = site_dir / ASSETS / "models" / path
    target.mkdir(parents=True, exist_ok=True)
    core, weights = artifact_files(manifest)
    for name in core[1:]:
        shutil.copy2(folder / name, target / name)
    if weights_url:
        base = f"{weights_url.rstrip('/')}/{path}"
        manifest = manifest | {"weights": manifest["weights"] | {"base_url": base}}
    (target / core[0]).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    weights_target = target if not weights_url else weights_dir / path
    weights_target.mkdir(parents=True, exist_ok=True)
    for name in weights:
        shutil.copy2(folder / name, weights_target / name)


def site_bytes(site_dir: Path) -> int:
    return sum(p.stat().st_size for p in site_dir.rglob("*") if p.is_file())


def is_cross_origin(url: str) -> bool:
    return bool(urlparse(url).netloc)
