"""`websd build`: a pipeline folder (or hub id) → a self-contained, versioned artifact folder.

The artifact folder holds the WebGPU library, the sharded weights, tokenizer.json, the
manifest, and a native CPU library compiled from the same prepared module. Whole folders
are cached by content: a second build of the same model and options only copies.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import __version__
from .cache import atomic_folder, cache_root, digest_json, tree_digest
from .errors import OptionError
from .manifest import MANIFEST_NAME, read_manifest
from .progress import Reporter
from .runtime_bitcode.toolchain import find_emcc
from .spec import BuildOptions, ModelSpec, read_spec, resolve_source

WASM_NAME = "model.wasm"
WGSL_NAME = "model.wgsl"
NATIVE_LIBRARY = "native/model.so"
_MODEL_FILES = ("*.json", "*.txt", "*.safetensors", "*.bin")
# What a build's output depends on besides websd and the model: the packages that load,
# fuse, trace and compile it.
_BUILD_PACKAGES = ("apache-tvm", "torch", "diffusers", "transformers")


@dataclass(frozen=True)
class BuildResult:
    folder: Path
    manifest: dict[str, Any]
    cached: bool


def _compiler_digest() -> str:
    """Any change to websd's compiler code changes every cache key."""
    root = Path(__file__).parent
    sources = [p for p in root.rglob("*.py") if not {"models", "testing"} & set(p.parts)]
    return tree_digest(root, sources)


def build_key(spec: ModelSpec, options: BuildOptions, name: str) -> str:
    files = [p for pattern in _MODEL_FILES for p in spec.folder.rglob(pattern) if p.is_file()]
    return digest_json(
        {
            "name": name,
            "model": tree_digest(spec.folder, files),
            "options": dataclasses.asdict(options) | {"dtype": spec.dtype},
            "websd": __version__,
            **{package: version(package) for package in _BUILD_PACKAGES},
            "compiler": _compiler_digest(),
        }
    )[:32]


def publish(entry: Path, out_dir: Path) -> None:
    """Copy a cache entry to `out_dir`, replacing an earlier artifact folder but nothing else."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise OptionError(
            f"{out_dir} exists and is not a websd artifact folder: give a new or empty folder"
        )
    with atomic_folder(out_dir) as tmp:
        shutil.copytree(entry, tmp, dirs_exist_ok=True, copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_model(
    source: str | Path,
    out_dir: Path | None = None,
    options: BuildOptions | None = None,
    report: Reporter | None = None,
    cache_dir: Path | None = None,
) -> BuildResult:
    """Build (or take from the cache) the artifacts of `source`; copy them to `out_dir`."""
    options = options or BuildOptions()
    report = report or Reporter()
    spec = read_spec(resolve_source(source), options)
    name = Path(str(source)).name  # a folder's name, or a hub id's last part
    key = build_key(spec, options, name)
    entry = (cache_dir or cache_root()) / "models" / key
    cached = (entry / MANIFEST_NAME).is_file()
    if cached:
        report(f"cached build {key} for {spec.folder}")
    else:
        from .compile import compile_model  # TVM and PyTorch load only when there is work

        find_emcc()  # before minutes of compiling, not after
        with atomic_folder(entry) as tmp:
            compile_model(spec, options, name, key, tmp, report)
    if out_dir is not None:
        publish(entry, out_dir)
    folder = out_dir if out_dir is not None else entry
    return BuildResult(folder=Path(folder), manifest=read_manifest(folder), cached=cached)
