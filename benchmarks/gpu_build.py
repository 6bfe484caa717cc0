"""Build the WebGPU model libraries that benchmarks/gpu.py runs, weights left out.

    python benchmarks/gpu_build.py sd15 --dtype float32 float16 --out .device/models

Each (config, dtype) becomes a folder `<config>-<dtype>/` holding `model.wasm.xz` (the tvmjs
system library, WGSL inside, xz-compressed to travel to the GPU machine) and `model.json`:
the shapes and dtypes of every function's inputs, output and weights, the WebGPU features the
kernels need, the UNet's diffusers config, and each kernel's work per launch (flops and bytes
its loads read from global memory, benchmarks/kernel_work.py), from which the benchmark turns
its GPU times into rates. A float16 folder also holds GEMM kernels written for subgroup
matrices (`--matrix`, by default NVIDIA's: `matrix-16x16x16-s32.json`, websd.matrix_kernels),
which the benchmark runs in place of the library's where the adapter offers them. The benchmark
draws random weights from those shapes on the GPU, so gigabytes of weights never travel.
Configs are the published ones of websd.testing.configs (random weights: the kernels and
shapes are those of the real model).
"""

from __future__ import annotations

import argparse
import json
import lzma
import tempfile
from pathlib import Path
from typing import Any

import tvm
from kernel_work import kernel_work
from tvm import relax

from websd.assemble import FUNCTIONS, AssembledModel, assemble, tensor_signature
from websd.link import link_wasm
from websd.matrix_kernels import build_matrix_kernels
from websd.passes.mixed_precision import to_float16
from websd.passes.pipeline import lowering, prepare
from websd.progress import Reporter
from websd.spec import NVIDIA_MATRICES, BuildOptions, MatrixConfig, read_spec
from websd.targets import WEBGPU, target
from websd.testing.configs import CONFIGS, PipelineConfig
from websd.testing.pipelines import save_random_pipeline

WASM_XZ = "model.wasm.xz"
MODEL_JSON = "model.json"


def describe(
    name: str,
    dtype: str,
    built_from: str,
    config: PipelineConfig,
    model: AssembledModel,
    module: tvm.IRModule,
    lowered: tvm.IRModule,
) -> dict[str, Any]:
    """What the benchmark needs to call each function (by kind, with its compiled `symbol`):
    input, output and weight shapes; and the work of each kernel that `lowered` schedules."""
    compiled = {kind: name for name, kind in model.kinds.items()}  # one size: the model's own
    functions = {
        kind: {
            "symbol": compiled[kind],
            "params": model.groups[compiled[kind]],
            "inputs": tensor_signature(module[compiled[kind]], info.input_names),
            "output_shape": [int(d) for d in module[compiled[kind]].ret_ty.shape],
        }
        for kind, info in FUNCTIONS.items()
    }
    params = {
        group: [
            {"shape": list(model.weights[p].shape), "dtype": str(model.weights[p].dtype)}
            for p in names
        ]
        for group, names in model.param_names.items()
    }
    return {
        "name": name,
        "dtype": dtype,
        "built_from": built_from,
        "features": ["shader-f16"] if dtype == "float16" else [],
        "vocab_size": config.text_encoder["vocab_size"],
        "unet_config": config.unet,
        "functions": functions,
        "params": params,
        "kernels": {
            gv.name_hint: {"flops": work.flops, "global_bytes": work.global_bytes}
            for gv, function in lowered.functions.items()
            if isinstance(function, tvm.tirx.PrimFunc)
            for work in [kernel_work(function)]
        },
    }


def build(
    name: str,
    dtypes: list[str],
    out: Path,
    report: Reporter,
    built_from: str = "a working tree",
    matrices: tuple[MatrixConfig, ...] = (NVIDIA_MATRICES,),
) -> list[Path]:
    """Import config `name` once, then compile and link it for WebGPU in each dtype into
    `out/<name>-<dtype>/`, with GEMM kernels for each of `matrices` beside a float16 library.
    `built_from` says which websd compiled it, for the report."""
    config = CONFIGS[name]
    folders = []
    with tempfile.TemporaryDirectory() as scratch:
        source = save_random_pipeline(config, Path(scratch) / name, seed=0)
        with report.stage(f"{name} import"):
            imported = assemble(read_spec(source, BuildOptions()), progress=report)
        for dtype in dtypes:
            model = imported
            if dtype == "float16":
                with report.stage(f"{name} float16"):
                    model = to_float16(imported)
            module = prepare(model.module)
            webgpu = target(WEBGPU)
            with report.stage(f"{name} {dtype} build webgpu"), webgpu:
                lowered = lowering(webgpu)(module)
                executable = relax.build(
                    lowered, target=webgpu, relax_pipeline=None, system_lib=True
                )
            wasm = link_wasm(executable, Path(scratch) / "model.wasm", progress=report)
            folder = out / f"{name}-{dtype}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / WASM_XZ).write_bytes(lzma.compress(wasm.read_bytes(), preset=9))
            with report.stage(f"{name} {dtype} kernel work"):
                description = describe(name, dtype, built_from, config, model, module, lowered)
            description["matrix_kernels"] = []
            for matrix in matrices if dtype == "float16" else ():
                with report.stage(f"{name} {dtype} kernels for subgroup matrices {matrix.name}"):
                    kernels = build_matrix_kernels(module, matrix)
                matrix_file = folder / f"matrix-{matrix.name}.json"
                matrix_file.write_text(json.dumps(kernels))
                description["matrix_kernels"].append(matrix_file.name)
            (folder / MODEL_JSON).write_text(json.dumps(description, indent=1) + "\n")
            size = (folder / WASM_XZ).stat().st_size / 2**20
            report(f"{folder}: {WASM_XZ} {size:.1f} MiB")
            folders.append(folder)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", nargs="+", choices=CONFIGS)
    parser.add_argument("--dtype", nargs="+", default=["float32"], choices=("float32", "float16"))
    parser.add_argument("--out", type=Path, default=Path(".device/models"))
    parser.add_argument("--built-from", default="a working tree", help="websd's version, shown")
    parser.add_argument(
        "--matrix",
        nargs="*",
        type=MatrixConfig.parse,
        default=[NVIDIA_MATRICES],
        help="subgroup matrices to write float16 GEMM kernels for (default: NVIDIA's)",
    )
    args = parser.parse_args()
    report = Reporter()
    for name in args.configs:
        build(name, args.dtype, args.out, report, args.built_from, tuple(args.matrix))


if __name__ == "__main__":
    main()
