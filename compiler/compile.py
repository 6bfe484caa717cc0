"""The slow part of `websd build`: import, lower and compile, link, and write every artifact.

Kept apart from `websd.build` so that a cached build never imports TVM or PyTorch: a cache hit
takes as long as hashing the model's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tvm
from tvm import relax

from . import __version__
from .assemble import FUNCTIONS, AssembledModel, assemble, function_name, tensor_signature
from .build import NATIVE_LIBRARY, WASM_NAME, WGSL_NAME
from .cache import file_sha256
from .manifest import FunctionSig, Manifest
from .matrix_kernels import build_matrix_kernels
from .memory import MemoryNeeds, memory_needs, workgroup_limits
from .passes.mixed_precision import to_float16
from .passes.pipeline import lowering, prepare
from .progress import Reporter
from .spec import DEFAULT_SCHEDULER, BuildOptions, MatrixConfig, ModelSpec
from .targets import NATIVE_CPU, WEBGPU, target
from .tokenizer import export_tokenizer
from .weights import write_weights


def wgsl_source(executable: relax.VMExecutable) -> str:
    """The WGSL of every kernel, found in the webgpu module among the executable's imports."""
    pending = [executable.mod]
    while pending:
        module = pending.pop()
        if module.kind == "webgpu":
            return module.inspect_source()
        pending.extend(module.imports)
    raise RuntimeError("the build holds no webgpu module")


def _write_matrix_kernels(kernels: dict[str, Any], out: Path) -> dict[str, Any]:
    """A set of subgroup-matrix kernels in a file beside the library; its manifest entry."""
    path = out / f"matrix-{MatrixConfig(**kernels['config']).name}.json"
    path.write_text(json.dumps(kernels))
    return {
        "config": kernels["config"],
        "path": path.name,
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "kernels": len(kernels["kernels"]),
    }


def _signatures(module: tvm.IRModule, model: AssembledModel) -> dict[str, FunctionSig]:
    signatures = {}
    for name, kind in model.kinds.items():
        info = FUNCTIONS[kind]
        function = module[name]
        output = function.ret_ty
        signatures[name] = FunctionSig(
            name=name,
            params=model.groups[name],
            inputs=tensor_signature(function, info.input_names),
            output={
                "name": info.output_name,
                "shape": [int(d) for d in output.shape],
                "dtype": str(output.dtype),
                **({"layout": "rgba8-packed"} if kind == "decode_image" else {}),
            },
        )
    return signatures


def _sizes(spec: ModelSpec) -> list[dict[str, Any]]:
    """Each compiled image size, the default first, with its latent shape and the names of its
    functions."""
    return [
        {
            "width": size.width,
            "height": size.height,
            "latent": dict(zip(("height", "width"), spec.latent_hw(size), strict=True)),
            "functions": {
                kind: function_name(kind, size) for kind, info in FUNCTIONS.items() if info.sized
            },
        }
        for size in spec.sizes
    ]


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
    if spec.dtype == "float16":
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
    wgsl = wgsl_source(executable)
    (out / WGSL_NAME).write_text(wgsl)
    matrix = []
    for config in options.matrix:
        with report.stage(f"subgroup-matrix kernels {config.name}"):
            matrix.append(build_matrix_kernels(module, config))
    matrix_wgsl = [code for kernels in matrix for code in kernels["kernels"].values()]
    limits = workgroup_limits(wgsl, *matrix_wgsl)
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
        dtype=spec.dtype,
        sizes=_sizes(spec),
        latent_channels=spec.latent_channels,
        vae_scaling_factor=spec.vae_scaling_factor,
        prediction_type=spec.prediction_type,
        text=text,
        scheduler=spec.scheduler_config,
        default_scheduler=DEFAULT_SCHEDULER,
        functions=_signatures(module, model),
        params=model.param_names,
        library={
            "path": WASM_NAME,
            "bytes": (out / WASM_NAME).stat().st_size,
            "sha256": file_sha256(out / WASM_NAME),
        },
        weights=weights,
        tokenizer="tokenizer.json",
        webgpu={
            "features": ["shader-f16"] if spec.dtype == "float16" else [],
            "limits": {**memory.limits(), **limits},
            "matrix_kernels": [_write_matrix_kernels(kernels, out) for kernels in matrix],
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
