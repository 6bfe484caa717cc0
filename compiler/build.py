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
from pathlib import Path
from typing import Any

import tvm
from tvm import relax

from . import __version__
from .assemble import FUNCTIONS, assemble, tensor_signature
from .cache import atomic_folder, cache_root, digest_json, file_sha256, tree_digest
from .errors import OptionError
from .manifest import MANIFEST_NAME, FunctionSig, Manifest, read_manifest
from .memory import MemoryNeeds, memory_needs
from .passes.mixed_precision import to_float16
from .passes.pipeline import lowering, prepare
from .progress import Reporter
from .runtime_bitcode.toolchain import find_emcc
from .spec import DEFAULT_SCHEDULER, BuildOptions, ModelSpec, read_spec, resolve_source
from .targets import NATIVE_CPU, WEBGPU, target
from .tokenizer import export_tokenizer
from .weights import write_weights

WASM_NAME = "model.wasm"
WGSL_NAME = "model.wgsl"
NATIVE_LIBRARY = "native/model.so"
_MODEL_FILES = ("*.json", "*.txt", "*.safetensors", "*.bin")


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
            "options": dataclasses.asdict(options),
            "websd": __version__,
            "tvm": tvm.__version__,
            "compiler": _compiler_digest(),
        }
    )[:32]


def wgsl_source(executable: relax.VMExecutable) -> str:
    """The WGSL of every kernel, found in the webgpu module among the executable's imports."""
    pending = [executable.mod]
    while pending:
        module = pending.pop()
        if module.kind == "webgpu":
            return module.inspect_source()
        pending.extend(module.imports)
    raise RuntimeError("the build holds no webgpu module")


def _signatures(module: tvm.IRModule, groups: dict[str, str]) -> dict[str, FunctionSig]:
    signatures = {}
    for name, info in FUNCTIONS.items():
        function = module[name]
        output = function.ret_ty
        signatures[name] = FunctionSig(
            name=name,
            params=groups[name],
            inputs=tensor_signature(function, info.input_names),
            output={
                "name": info.output_name,
                "shape": [int(d) for d in output.shape],
                "dtype": str(output.dtype),
                **({"layout": "rgba8-packed"} if name == "decode_image" else {}),
            },
        )
    return signatures


def _describe(memory: MemoryNeeds) -> str:
    def mib(size: int) -> str:
        return f"{size / 2**20:.1f} MiB"

    return (
        f"webgpu memory: largest binding {mib(memory.largest_binding_bytes)}, "
        f"largest buffer {mib(memory.largest_buffer_bytes)}, "
        f"weights {mib(memory.weight_bytes)}, activations {mib(memory.activation_bytes)}, "
        f"peak {mib(memory.peak_bytes)}"
    )


def compile_model(
    spec: ModelSpec, options: BuildOptions, name: str, key: str, out: Path, report: Reporter
) -> Manifest:
    """Every slow step of a build, writing into the (temporary) folder `out`."""
    from .link import link_wasm

    with report.stage("import"):
        model = assemble(spec, progress=report)
    if options.dtype == "float16":
        with report.stage("float16"):
            model = to_float16(model)
    module = prepare(model.module)
    webgpu = target(WEBGPU)
    with report.stage("build webgpu"):
        with webgpu:
            lowered = lowering(webgpu)(module)
        executable = relax.build(lowered, target=webgpu, relax_pipeline=None, system_lib=True)
    memory = memory_needs(lowered, sum(array.nbytes for array in model.weights.values()))
    report(_describe(memory))
    (out / WGSL_NAME).write_text(wgsl_source(executable))
    with report.stage("link wasm"):
        link_wasm(executable, out / WASM_NAME, progress=report)
    cpu = target(NATIVE_CPU)
    with report.stage("build native"):
        native = relax.build(module, target=cpu, relax_pipeline=lowering(cpu))
        (out / NATIVE_LIBRARY).parent.mkdir()
        native.export_library(str(out / NATIVE_LIBRARY))
    with report.stage("write weights"):
        weights = write_weights(model.weights, out, options.shard_mb)
    text = export_tokenizer(spec.folder, out, spec.max_length)
    text["hidden_size"] = spec.hidden_size
    manifest = Manifest(
        name=name,
        family=spec.family,
        dtype=options.dtype,
        image={"width": spec.width, "height": spec.height},
        latent={
            "channels": spec.latent_channels,
            "height": spec.latent_hw[0],
            "width": spec.latent_hw[1],
        },
        vae_scaling_factor=spec.vae_scaling_factor,
        prediction_type=spec.prediction_type,
        text=text,
        scheduler=spec.scheduler_config,
        default_scheduler=DEFAULT_SCHEDULER,
        functions=_signatures(module, model.groups),
        params=model.param_names,
        library={
            "path": WASM_NAME,
            "bytes": (out / WASM_NAME).stat().st_size,
            "sha256": file_sha256(out / WASM_NAME),
        },
        weights=weights,
        tokenizer="tokenizer.json",
        webgpu={
            "features": ["shader-f16"] if options.dtype == "float16" else [],
            "limits": memory.limits(),
            "largest_binding_bytes": memory.largest_binding_bytes,
            "largest_buffer_bytes": memory.largest_buffer_bytes,
            "largest_tensor_bytes": memory.largest_tensor_bytes,
            "weight_bytes": memory.weight_bytes,
            "peak_bytes": memory.peak_bytes,
        },
        versions={"websd": __version__, "tvm": tvm.__version__},
        content_hash=key,
    )
    manifest.write(out)
    return manifest


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
        find_emcc()  # before minutes of compiling, not after
        with atomic_folder(entry) as tmp:
            compile_model(spec, options, name, key, tmp, report)
    if out_dir is not None:
        publish(entry, out_dir)
    folder = out_dir if out_dir is not None else entry
    return BuildResult(folder=Path(folder), manifest=read_manifest(folder), cached=cached)
