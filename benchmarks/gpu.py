"""GPU benchmark: websd's WebGPU model libraries, and PyTorch's UNet on the same GPU.

    python benchmarks/gpu.py .device/models/sd15-float32 .device/models/sd15-float16 \\
        --node node --webgpu .device/webgpu --tvmjs .device/tvmjs/index.js --out report/

Each model folder is one that benchmarks/gpu_build.py wrote. For each, node runs
benchmarks/gpu/bench.mjs on whatever WebGPU adapter Dawn finds (a real GPU, or SwiftShader on
a CPU): milliseconds per call of the text encoder, the guided UNet (batch 2) and the VAE
decoder, the median of `--iterations` calls after `--warmup`, then one call timed pass by pass
with timestamp queries, each pass named by its TVM kernel and summed by kind of operation,
and each kernel's work (counted when the library was built) divided by its time.
Where CUDA is there, diffusers' UNet2DConditionModel from the same config (random weights)
runs batch 2 in float16 and float32, and the report gives WebGPU's time over PyTorch's.
Between PyTorch and the libraries, float16 GEMMs on the subgroup matrices (tensor cores) that
Dawn may offer, beside PyTorch's of the same shapes (benchmarks/gpu_matrix.py). A float16
library runs twice: with its own kernels, then with its GEMMs on subgroup matrices, from the
set of kernels gpu_build.py wrote for them (where the adapter offers them).

The report (benchmarks/gpu_report.py: gpu-report.txt, gpu-report.json in `--out`) is rewritten
after each stage, so a run cut short by `--deadline-s` still reports what it measured.
"""

from __future__ import annotations

import argparse
import json
import lzma
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_matrix import SHAPES, matrix_command, torch_gemm_ms
from gpu_report import FUNCTIONS, output_differences, report_text, summarize, write_report

BENCH_JS = Path(__file__).parent / "gpu" / "bench.mjs"
STDERR_TAIL_LINES = 20
MIN_STAGE_S = 30
# The subgroup-matrix GEMMs run before the libraries, in a few seconds on a GPU: capped, so that
# a hung one leaves the libraries their time.
MATRIX_STAGE_S = 180


@dataclass(frozen=True)
class Settings:
    node: str
    webgpu: Path
    tvmjs: Path
    iterations: int
    warmup: int
    budget_s: float
    functions: tuple[str, ...]
    steps: int
    matrix_shapes: tuple[str, ...]
    deadline: float
    """time.monotonic() at which every stage must be done."""


def _run_node(command: list[str], out: Path, timeout_s: float) -> dict[str, Any]:
    """Run `command`, echoing its stderr; kill it after `timeout_s`. Returns what it wrote to
    `out` (JSON), marked `cut` if it was killed or `failed` (with its last lines of stderr) if
    it exited with an error."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    assert process.stderr is not None
    for line in process.stderr:
        sys.stderr.write(line)
        tail.append(line.rstrip())
    code = process.wait()
    killed = not timer.is_alive()
    timer.cancel()
    result = json.loads(out.read_text()) if out.is_file() else {}
    if killed:
        result["cut"] = f"stopped at the deadline ({timeout_s:.0f} s)"
    elif code != 0:
        result["failed"] = f"node exited with {code}: " + "\n".join(tail)
    return result


def run_library(folder: Path, settings: Settings, matrix: str | None = None) -> dict[str, Any]:
    """Time and profile one model library with node, its GEMM kernels swapped for the set of
    subgroup-matrix kernels in file `matrix` if given; whatever it measured, even if cut
    short."""
    model = json.loads((folder / "model.json").read_text())
    result: dict[str, Any] = {
        "model": model["name"],
        "dtype": model["dtype"],
        "built_from": model["built_from"],
        "image": model["functions"]["decode_image"]["output_shape"],
        "kernel_work": model.get("kernels", {}),
    }
    remaining = settings.deadline - time.monotonic()
    if remaining < MIN_STAGE_S:
        return result | {"skipped": "out of time"}
    with tempfile.TemporaryDirectory() as scratch:
        wasm = Path(scratch) / "model.wasm"
        wasm.write_bytes(lzma.decompress((folder / "model.wasm.xz").read_bytes()))
        out = Path(scratch) / "result.json"
        command = [
            settings.node,
            str(BENCH_JS),
            f"--webgpu={settings.webgpu}",
            f"--tvmjs={settings.tvmjs}",
            f"--wasm={wasm}",
            f"--model={folder / 'model.json'}",
            f"--out={out}",
            f"--iterations={settings.iterations}",
            f"--warmup={settings.warmup}",
            f"--budget-s={settings.budget_s}",
            f"--functions={','.join(settings.functions)}",
            *([f"--matrix={folder / matrix}"] if matrix is not None else []),
        ]
        result.update(_run_node(command, out, remaining))
        result["wasm_bytes"] = wasm.stat().st_size
    return result


def run_matrix_gemm(settings: Settings) -> dict[str, Any] | None:
    """The subgroup-matrix GEMMs' result, whatever they measured in at most MATRIX_STAGE_S;
    None when out of time."""
    remaining = min(settings.deadline - time.monotonic(), MATRIX_STAGE_S)
    if remaining < MIN_STAGE_S:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "matrix.json"
        shapes, iterations = settings.matrix_shapes, settings.iterations
        command = matrix_command(settings.node, settings.webgpu, shapes, iterations, out)
        return {"shapes": [], "errors": []} | _run_node(command, out, remaining)


def torch_unet(model: dict[str, Any], device: str, iterations: int, warmup: int) -> dict[str, Any]:
    """diffusers' UNet (random weights) as the WebGPU `denoise` runs it: batch 2 with the same
    latent and text shapes; milliseconds per call in float16, then float32."""
    import diffusers
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.utils import logging

    logging.set_verbosity_error()  # not the advice to keep modules in float32: none need to be

    inputs = {i["name"]: i["shape"] for i in model["functions"]["denoise"]["inputs"]}
    _, channels, height, width = inputs["latents"]
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**model["unet_config"]).eval()
        latents = torch.randn(2, channels, height, width)
        timestep = torch.full((2,), 500.0)
        text = torch.randn(inputs["text_embeds"])

    def synchronize() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    times: dict[str, list[float]] = {}
    with torch.inference_mode():
        for dtype in (torch.float16, torch.float32):
            unet.to(dtype)
            args = (latents.to(dtype), timestep.to(dtype), text.to(dtype))
            for _ in range(warmup):
                unet(*args, return_dict=False)
            synchronize()
            samples = []
            for _ in range(iterations):
                begin = time.perf_counter()
                unet(*args, return_dict=False)
                synchronize()
                samples.append((time.perf_counter() - begin) * 1000)
            times[str(dtype).removeprefix("torch.")] = samples
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    backends = torch.backends
    flags = {"matmul": backends.cuda.matmul.allow_tf32, "conv": backends.cudnn.allow_tf32}
    tf32 = [op for op, allowed in flags.items() if allowed] if device == "cuda" else []
    return {
        "device": f"{name} ({device})",
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "latents": [2, channels, height, width],
        "tf32": tf32,
        "ms": times,
    }


def _torch_device(choice: str) -> str | None:
    if choice != "auto":
        return None if choice == "none" else choice
    import torch

    return "cuda" if torch.cuda.is_available() else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", type=Path, help="folders from gpu_build.py")
    parser.add_argument("--node", default="node", help="node binary (default: node on PATH)")
    parser.add_argument("--webgpu", type=Path, required=True, help="npm webgpu's folder")
    parser.add_argument("--tvmjs", type=Path, required=True, help="tvmjs lib/index.js")
    parser.add_argument("--out", type=Path, required=True, help="folder for the report")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=60, help="most seconds of timed calls")
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--steps", type=int, default=20, help="steps of the whole-image estimate")
    parser.add_argument("--torch", choices=("auto", "cuda", "cpu", "none"), default="auto")
    parser.add_argument(
        "--matrix-shapes",
        default=",".join(SHAPES),
        help="MxNxK,... of the subgroup-matrix GEMMs (multiples of 128, 128, 32)",
    )
    parser.add_argument("--deadline-s", type=float, default=3600, help="seconds for every stage")
    args = parser.parse_intermixed_args()  # more folders may follow the options
    settings = Settings(
        node=args.node,
        webgpu=args.webgpu.resolve(),
        tvmjs=args.tvmjs.resolve(),
        iterations=args.iterations,
        warmup=args.warmup,
        budget_s=args.budget_s,
        functions=tuple(args.functions.split(",")),
        steps=args.steps,
        matrix_shapes=tuple(args.matrix_shapes.split(",")),
        deadline=time.monotonic() + args.deadline_s,
    )
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "settings": {
            "iterations": args.iterations,
            "warmup": args.warmup,
            "budget_s": args.budget_s,
            "steps": args.steps,
        },
        "torch": None,
        "torch_note": "",
        "webgpu": [],
    }
    device = _torch_device(args.torch)
    if device is None:
        report["torch_note"] = "no CUDA device" if args.torch == "auto" else "--torch none"
    else:
        first = json.loads((args.models[0] / "model.json").read_text())
        print(f"[gpu] PyTorch UNet on {device}", file=sys.stderr, flush=True)
        try:
            report["torch"] = torch_unet(first, device, args.iterations, args.warmup)
            report["torch"]["gemm_ms"] = torch_gemm_ms(
                settings.matrix_shapes, device, args.iterations, args.warmup
            )
        except Exception as error:  # the WebGPU stages still run and report
            report["torch"] = {"failed": f"{type(error).__name__}: {error}"}
    write_report(report, args.out)
    print("[gpu] subgroup-matrix GEMMs", file=sys.stderr, flush=True)
    report["matrix_gemm"] = run_matrix_gemm(settings)
    write_report(report, args.out)
    torch_result = report["torch"] if report["torch"] and "ms" in report["torch"] else None
    for folder in args.models:
        matrices = json.loads((folder / "model.json").read_text()).get("matrix_kernels", [])
        for matrix in [None, *matrices]:
            print(f"[gpu] WebGPU {folder} {matrix or ''}", file=sys.stderr, flush=True)
            library = run_library(folder, settings, matrix)
            summarize(library, torch_result, args.steps)
            if matrix is None:
                plain = library
            else:
                library["outputs_vs_library"] = output_differences(library, plain)
            report["webgpu"].append(library)
            write_report(report, args.out)
    print(report_text(report))


if __name__ == "__main__":
    main()
