"""GPU benchmark: websd's WebGPU model libraries, and PyTorch's UNet on the same GPU.

    python benchmarks/gpu.py .device/models/sd15-float32 .device/models/sd15-float16 \\
        --node node --webgpu .device/webgpu --tvmjs .device/tvmjs/index.js --out report/

Each model folder is one that benchmarks/gpu_build.py wrote. For each, node runs
benchmarks/gpu/bench.mjs on whatever WebGPU adapter Dawn finds (a real GPU, or SwiftShader on
a CPU): milliseconds per call of the text encoder, the guided UNet (batch 2) and the VAE
decoder, the median of `--iterations` calls after `--warmup`, then one call timed pass by pass
with timestamp queries, each pass named by its TVM kernel and summed by kind of operation.
Where CUDA is there, diffusers' UNet2DConditionModel from the same config (random weights)
runs batch 2 in float16 and float32, and the report gives WebGPU's time over PyTorch's.
Between PyTorch and the libraries, float16 GEMMs on the subgroup matrices (tensor cores) that
Dawn may offer, beside PyTorch's of the same shapes (benchmarks/gpu_matrix.py).

The report (gpu-report.txt, gpu-report.json in `--out`) is rewritten after each stage, so a
run cut short by `--deadline-s` still reports what it measured.
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_matrix import SHAPES, matrix_command, matrix_lines, matrix_summary, torch_gemm_ms
from text_table import table

BENCH_JS = Path(__file__).parent / "gpu" / "bench.mjs"
FUNCTIONS = ("encode_text", "denoise", "decode_image")
# Kinds of operation, by the op names TVM puts in a fused kernel's name; the first match wins.
# Softmax is an attention's (CLIP runs attention as matmul, softmax, matmul). A group norm split
# into a statistics kernel (group_norm_stats) leaves its normalization, (x - mean) · rstd · γ + β,
# to a fused elementwise kernel whose name starts with those ops (after a cast from fp16).
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("attention", re.compile(r"attention|softmax")),
    ("conv2d", re.compile(r"conv2d")),
    ("matmul", re.compile(r"matmul|dense|gemm")),
    ("norm", re.compile(r"group_norm|layer_norm|rms_norm|^fused_(cast\d*_)?subtract\d*_multiply")),
)
OTHER = "elementwise/other"
TOP_KERNELS = 12
STDERR_TAIL_LINES = 20
MIN_STAGE_S = 30
# The subgroup-matrix GEMMs run before the libraries, in a few seconds on a GPU: capped, so that
# a hung one leaves the libraries their time.
MATRIX_STAGE_S = 180


def kernel_kind(name: str) -> str:
    return next((kind for kind, ops in KINDS if ops.search(name)), OTHER)


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


def _run_node(command: list[str], timeout_s: float) -> tuple[int | None, list[str]]:
    """Run `command`, echoing its stderr; kill it after `timeout_s`.
    Returns its exit code (None when killed) and the last lines of its stderr."""
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
    return (None if killed else code), list(tail)


def run_library(folder: Path, settings: Settings) -> dict[str, Any]:
    """Time and profile one model library with node; whatever it measured, even if cut short."""
    model = json.loads((folder / "model.json").read_text())
    result: dict[str, Any] = {
        "model": model["name"],
        "dtype": model["dtype"],
        "built_from": model["built_from"],
        "image": model["functions"]["decode_image"]["output_shape"],
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
        ]
        code, tail = _run_node(command, remaining)
        result["wasm_bytes"] = wasm.stat().st_size
        if out.is_file():
            result.update(json.loads(out.read_text()))
    if code is None:
        result["cut"] = f"stopped at the deadline ({remaining:.0f} s)"
    elif code != 0:
        result["failed"] = f"node exited with {code}: " + "\n".join(tail)
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
        code, tail = _run_node(command, remaining)
        result = json.loads(out.read_text()) if out.is_file() else {"shapes": [], "errors": []}
    if code is None:
        result["cut"] = f"stopped at the deadline ({remaining:.0f} s)"
    elif code != 0:
        result["failed"] = f"node exited with {code}: " + "\n".join(tail)
    return result


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


def _profile_kinds(profile: dict[str, Any]) -> dict[str, float]:
    kinds = dict.fromkeys([kind for kind, _ in KINDS] + [OTHER], 0.0)
    for name, kernel in profile["kernels"].items():
        kinds[kernel_kind(name)] += kernel["ns"] / 1e6
    return kinds


def whole_image_ms(medians: dict[str, float], steps: int) -> float | None:
    """A generation with classifier-free guidance: the prompt and the negative prompt encoded,
    `steps` guided UNet calls, one decode (scheduler arithmetic is negligible)."""
    if not all(f in medians for f in FUNCTIONS):
        return None
    return 2 * medians["encode_text"] + steps * medians["denoise"] + medians["decode_image"]


def summarize(library: dict[str, Any], torch_result: dict[str, Any] | None, steps: int) -> None:
    """Add medians, kinds, the whole-image estimate and the ratios to PyTorch to `library`."""
    functions = library.get("functions", {})
    medians = {name: statistics.median(f["ms"]) for name, f in functions.items() if f["ms"]}
    library["median_ms"] = medians
    library["kinds_ms"] = {
        name: _profile_kinds(f["profile"]) for name, f in functions.items() if "profile" in f
    }
    library["whole_image_ms"] = whole_image_ms(medians, steps)
    if torch_result is not None and "denoise" in medians:
        library["denoise_over_torch"] = {
            dtype: medians["denoise"] / statistics.median(samples)
            for dtype, samples in torch_result["ms"].items()
        }


def _torch_lines(result: dict[str, Any] | None, reason: str) -> list[str]:
    if result is None:
        return [f"PyTorch: not run ({reason})"]
    if "failed" in result:
        return [f"PyTorch: failed: {result['failed']}"]
    shape = "×".join(str(d) for d in result["latents"])
    tf32 = f"; float32 {' and '.join(result['tf32'])} in TF32" if result["tf32"] else ""
    lines = [
        f"PyTorch {result['torch']}, diffusers {result['diffusers']} on {result['device']}: "
        f"UNet2DConditionModel in eager mode, latents {shape}{tf32}"
    ]
    rows = [["dtype", "median ms", "min ms", "calls"]]
    for dtype, samples in result["ms"].items():
        rows.append(
            [dtype, f"{statistics.median(samples):.1f}", f"{min(samples):.1f}", str(len(samples))]
        )
    return lines + table(rows)


def _library_lines(library: dict[str, Any]) -> list[str]:
    title = f"WebGPU {library['model']} {library['dtype']}"
    if "skipped" in library:
        return [f"{title}: skipped ({library['skipped']})"]
    adapter = library.get("adapter", {})
    lines = [
        f"{title}: model.wasm {library['wasm_bytes'] / 2**20:.1f} MiB built from "
        f"{library['built_from']}, on {adapter.get('vendor', '?')} "
        f"{adapter.get('architecture', '')} ({adapter.get('description', '?')})"
    ]
    if "subgroup_sizes" in adapter:
        low, high = adapter["subgroup_sizes"]
        lines.append(
            f"  subgroups of {low} to {high}; experimental features: "
            f"{', '.join(adapter['experimental_features']) or 'none'}; subgroup matrices: "
            f"{', '.join(adapter['subgroup_matrix_configs']) or 'none'}"
        )
    for note in ("cut", "failed"):
        if note in library:
            lines.append(f"  {note.upper()}: {library[note]}")
    if library.get("errors"):
        lines.append(f"  GPU errors: {'; '.join(library['errors'][:5])}")
    if "compile_s" in library:
        lines.append(
            f"  pipelines compiled in {library['compile_s']:.1f} s, "
            f"random weights uploaded in {library.get('weights_s', 0):.1f} s"
        )
    functions = library.get("functions", {})
    rows = [
        [
            "function",
            "median ms",
            "min ms",
            "calls",
            "encode ms",
            "submits",
            "groups made",
            "one submit ms",
            "its encode ms",
            "new groups ms",
            "its encode ms",
            "GPU ms",
            "GPU span ms",
            "passes",
        ]
    ]
    for name, f in functions.items():
        profile = f.get("profile")
        gpu = (
            [
                f"{sum(k['ns'] for k in profile['kernels'].values()) / 1e6:.1f}",
                f"{profile['span_ns'] / 1e6:.1f}",
                str(profile["passes"]),
            ]
            if profile
            else ["-", "-", "-"]
        )
        rows.append(
            [
                name,
                f"{statistics.median(f['ms']):.1f}",
                f"{min(f['ms']):.1f}",
                str(len(f["ms"])),
                f"{statistics.median(f['encode_ms']):.1f}",
                str(f["submits"]),
                str(f["bind_groups"][-1]),
                f"{statistics.median(f['one_submit_ms']):.1f}",
                f"{statistics.median(f['one_submit_encode_ms']):.1f}",
                f"{statistics.median(f['new_bind_groups_ms']):.1f}",
                f"{statistics.median(f['new_bind_groups_encode_ms']):.1f}",
                *gpu,
            ]
        )
    if len(rows) > 1:
        lines += table(rows)
        lines.append(
            "  (ms per call: wall time from the first dispatch encoded to the GPU done, with "
            "the library's submits every few dozen kernels and its bind groups reused, as pages "
            "run it; encode ms: median CPU time recording and submitting the call's dispatches; "
            "submits: command buffers per call; groups made: bind groups that the last call "
            "had to make, finding none made before for those buffers; one submit ms: the same "
            "calls, in turn, with every dispatch submitted at the end, as tvmjs alone does, so "
            "that the GPU waits for all of the encoding, which is then the CPU's cost alone (its "
            "encode ms); new groups: those calls again with a new bind group for every "
            "dispatch, as tvmjs alone makes them; GPU ms: sum of the compute passes' timestamps "
            "in one call; span: first pass start to last end)"
        )
    kinds = library.get("kinds_ms", {})
    if kinds:
        names = list(kinds)
        rows = [["GPU ms by kind", *names]]
        for kind in next(iter(kinds.values())):
            cells = []
            for name in names:
                total = sum(kinds[name].values()) or 1.0
                cells.append(f"{kinds[name][kind]:.1f} ({100 * kinds[name][kind] / total:.0f}%)")
            rows.append([kind, *cells])
        lines += table(rows)
    for name, f in functions.items():
        if "profile" not in f:
            continue
        kernels = f["profile"]["kernels"]
        total = sum(k["ns"] for k in kernels.values()) or 1
        top = sorted(kernels.items(), key=lambda item: -item[1]["ns"])[:TOP_KERNELS]
        lines.append(
            f"  top kernels of {name} ({len(kernels)} kernels, {f['profile']['passes']} passes):"
        )
        rows = [["kernel", "kind", "calls", "GPU ms", "share", "µs/call"]]
        for kernel, k in top:
            rows.append(
                [
                    kernel,
                    kernel_kind(kernel),
                    str(k["calls"]),
                    f"{k['ns'] / 1e6:.2f}",
                    f"{100 * k['ns'] / total:.1f}%",
                    f"{k['ns'] / 1e3 / k['calls']:.0f}",
                ]
            )
        lines += table(rows, indent="    ")
    return lines


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The numbers that matter, last, so that the end of the output holds them."""
    steps = report["settings"]["steps"]
    torch_ms = (report["torch"] or {}).get("ms", {})
    rows = [["library", *FUNCTIONS, "whole image", *(f"denoise/PyTorch {d}" for d in torch_ms)]]
    for library in report["webgpu"]:
        medians = library.get("median_ms", {})
        ratios = library.get("denoise_over_torch", {})
        whole = library.get("whole_image_ms")
        image = "×".join(str(side) for side in reversed(library["image"]))
        rows.append(
            [
                f"{library['model']} {library['dtype']}",
                *(f"{medians[f]:.1f}" if f in medians else "-" for f in FUNCTIONS),
                f"{whole / 1000:.2f} s at {image}" if whole is not None else "-",
                *(f"{ratios[d]:.1f}×" if d in ratios else "-" for d in torch_ms),
            ]
        )
    lines = [
        f"Summary: median ms per call; whole image = 2 × encode_text + {steps} × denoise"
        " + decode_image (prompt and negative prompt, guided steps, one decode)"
    ]
    lines += table(rows) if len(rows) > 1 else ["  no WebGPU library ran"]
    if torch_ms:
        times = ", ".join(f"{d} {statistics.median(t):.1f} ms" for d, t in torch_ms.items())
        lines.append(f"  PyTorch UNet (batch 2) on {report['torch']['device']}: {times}")
    gemm = matrix_summary(report.get("matrix_gemm"), (report["torch"] or {}).get("gemm_ms", {}))
    if gemm is not None:
        lines.append(gemm)
    return lines


def report_text(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = [
        f"websd GPU benchmark, {report['date']}: median of up to {settings['iterations']} calls "
        f"after {settings['warmup']} warm-up (at most {settings['budget_s']:.0f} s of calls per "
        "function), then one profiled call",
        "",
        *_torch_lines(report["torch"], report["torch_note"]),
    ]
    if "matrix_gemm" in report:
        gemm_ms = (report["torch"] or {}).get("gemm_ms", {})
        lines += ["", *matrix_lines(report["matrix_gemm"], gemm_ms)]
    for library in report["webgpu"]:
        lines += ["", *_library_lines(library)]
    lines += ["", *_summary_lines(report)]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu-report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "gpu-report.txt").write_text(report_text(report))


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
        print(f"[gpu] WebGPU {folder}", file=sys.stderr, flush=True)
        library = run_library(folder, settings)
        summarize(library, torch_result, args.steps)
        report["webgpu"].append(library)
        write_report(report, args.out)
    print(report_text(report))


if __name__ == "__main__":
    main()
