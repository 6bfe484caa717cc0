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


@dataclass(frozen=True)
class PublishedModel:
    name: str
    folder: Path
    manifest: dict[str, Any]
    playground: dict[str, Any]
    """Settings a playground of this model starts with, unless its embed overrides them."""


def artifact_files(manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The files a browser fetches: (library, manifest and tokenizer; weights)."""
    weights = manifest["weights"]
    return (
        ["websd-model.json", manifest["library"]["path"], manifest["tokenizer"]],
        [weights["index"], *(shard["path"] for shard in weights["shards"])],
    )


def oversized_files(model: PublishedModel, max_bytes: int) -> list[tuple[str, int]]:
    core, weights = artifact_files(model.manifest)
    sizes = [(name, (model.folder / name).stat().st_size) for name in core + weights]
    return [(name, size) for name, size in sizes if size > max_bytes]


def copy_runtime_bundle(site_dir: Path) -> None:
    bundle = resources.files("websd.site").joinpath("assets", "websd")
    with resources.as_file(bundle) as folder:
        shutil.copytree(folder, site_dir / ASSETS, dirs_exist_ok=True)


def copy_model(
    model: PublishedModel, site_dir: Path, weights_url: str | None, weights_dir: Path
) -> None:
    """Copy one model. With `weights_url`, its weights go to `weights_dir` (to upload there),
    and the site's manifest tells the runtime where to fetch them."""
    target = site_dir / ASSETS / "models" / model.name
    target.mkdir(parents=True, exist_ok=True)
    core, weights = artifact_files(model.manifest)
    for name in core[1:]:
        shutil.copy2(model.folder / name, target / name)
    manifest = model.manifest | {"name": model.name}
    if weights_url:
        base = f"{weights_url.rstrip('/')}/{model.name}/"
        manifest = manifest | {"weights": manifest["weights"] | {"base_url": base}}
    (target / core[0]).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    weights_target = target if not weights_url else weights_dir / model.name
    weights_target.mkdir(parents=True, exist_ok=True)
    for name in weights:
        shutil.copy2(model.folder / name, weights_target / name)


def site_bytes(site_dir: Path) -> int:
    return sum(p.stat().st_size for p in site_dir.rglob("*") if p.is_file())


def is_cross_origin(url: str) -> bool:
    return bool(urlparse(url).netloc)
