"""The GPU benchmark's tensor-core stage: float16 GEMMs on subgroup matrices (Dawn's
experimental `chromium-experimental-subgroup-matrix`), timed by benchmarks/gpu/matrix_gemm.mjs,
beside PyTorch's GEMMs of the same shapes on the same device. It says what docs/performance.md's
item 23 could win before any schedule uses them.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from text_table import table

MATRIX_JS = Path(__file__).parent / "gpu" / "matrix_gemm.mjs"
# SD 1.5 UNet GEMMs at 512 × 512, batch 2: the first feed-forward projection at 64 × 64 latents,
# a 3 × 3 convolution of 640 channels at 32 × 32 as an implicit GEMM; and a square one.
SHAPES = ("8192x2560x320", "2048x640x5760", "4096x4096x4096")


def _dims(shape: str) -> tuple[int, int, int]:
    m, n, k = (int(d) for d in shape.split("x"))
    return m, n, k


def matrix_command(
    node: str, webgpu: Path, shapes: tuple[str, ...], iterations: int, out: Path
) -> list[str]:
    """The node command that times `shapes` and writes its result to `out`."""
    return [
        node,
        str(MATRIX_JS),
        f"--webgpu={webgpu}",
        f"--out={out}",
        f"--shapes={','.join(shapes)}",
        f"--iterations={iterations}",
    ]


def torch_gemm_ms(
    shapes: tuple[str, ...], device: str, iterations: int, warmup: int
) -> dict[str, list[float]]:
    """Milliseconds per float16 torch.matmul of each shape on `device`."""
    import torch

    def synchronize() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    times = {}
    with torch.inference_mode():
        for shape in shapes:
            m, n, k = _dims(shape)
            a = torch.randn(m, k, dtype=torch.float16, device=device)
            b = torch.randn(k, n, dtype=torch.float16, device=device)
            for _ in range(warmup):
                torch.matmul(a, b)
            synchronize()
            samples = []
            for _ in range(iterations):
                begin = time.perf_counter()
                torch.matmul(a, b)
                synchronize()
                samples.append((time.perf_counter() - begin) * 1000)
            times[shape] = samples
    return times


def _tflops(shape: str, ms: float) -> float:
    m, n, k = _dims(shape)
    return 2 * m * n * k / (ms * 1e9)


def matrix_lines(result: dict[str, Any] | None, torch_ms: dict[str, list[float]]) -> list[str]:
    """The stage's section of the report."""
    title = "Subgroup-matrix GEMM (tensor cores, Dawn's chromium-experimental-subgroup-matrix)"
    if result is None:
        return [f"{title}: not run (out of time)"]
    if "skipped" in result:
        return [f"{title}: skipped on {result.get('adapter', '?')}: {result['skipped']}"]
    tile = "×".join(str(d) for d in result.get("tile", []))
    lines = [
        f"{title} on {result.get('adapter', '?')}: {result.get('config', '?')} fragments, "
        f"subgroups of {result['subgroup_sizes'][0]}, {tile} tiles per workgroup"
    ]
    for note in ("cut", "failed"):
        if note in result:
            lines.append(f"  {note.upper()}: {result[note]}")
    if result.get("errors"):
        lines.append(f"  GPU errors: {'; '.join(result['errors'][:3])}")
    rows = [["M×N×K", "median ms", "TFLOP/s", "PyTorch ms", "PyTorch TFLOP/s", "ratio", "error"]]
    for measured in result["shapes"]:
        shape = f"{measured['m']}x{measured['n']}x{measured['k']}"
        ms = statistics.median(measured["ms"])
        theirs = statistics.median(torch_ms[shape]) if shape in torch_ms else None
        rows.append(
            [
                shape.replace("x", "×"),
                f"{ms:.3f}",
                f"{_tflops(shape, ms):.3g}",
                *(
                    [f"{theirs:.3f}", f"{_tflops(shape, theirs):.3g}", f"{ms / theirs:.2f}×"]
                    if theirs is not None
                    else ["-", "-", "-"]
                ),
                f"{measured['relative_error']:.1g}",
            ]
        )
    if len(rows) > 1:
        lines += [
            *table(rows),
            "  (float16 operands, summed in the fragments' result type; ms: median wall time "
            "per GEMM of submits of repeated dispatches; ratio: ms over PyTorch's float16 "
            "torch.matmul on the same device; error: the largest of sampled products' "
            "|error| / max(1, |sum|))",
        ]
    return lines


def matrix_summary(result: dict[str, Any] | None, torch_ms: dict[str, list[float]]) -> str | None:
    """One line for the report's summary: each shape's TFLOP/s, and its time over PyTorch's."""
    if not result or not result.get("shapes"):
        return None
    cells = []
    for measured in result["shapes"]:
        shape = f"{measured['m']}x{measured['n']}x{measured['k']}"
        ms = statistics.median(measured["ms"])
        cell = f"{shape.replace('x', '×')} {_tflops(shape, ms):.3g} TFLOP/s"
        if shape in torch_ms:
            cell += f" ({ms / statistics.median(torch_ms[shape]):.2f}× PyTorch's ms)"
        cells.append(cell)
    return f"  subgroup-matrix GEMM ({result['config']}): {'; '.join(cells)}"
