"""The GPU benchmark's tensor-core stage: float16 GEMMs on subgroup matrices (Dawn's
experimental `chromium-experimental-subgroup-matrix`), timed by benchmarks/gpu/matrix_gemm.mjs,
beside PyTorch's GEMMs of the same shapes on the same device. It says what docs/performance.md's
item 23 could win before any schedule uses them. benchmarks/gpu_report.py reports it.
"""

from __future__ import annotations

import time
from pathlib import Path

MATRIX_JS = Path(__file__).parent / "gpu" / "matrix_gemm.mjs"
# SD 1.5 UNet GEMMs at 512 × 512, batch 2: the first feed-forward projection at 64 × 64 latents,
# a 3 × 3 convolution of 640 channels at 32 × 32 as an implicit GEMM; and a square one.
SHAPES = ("8192x2560x320", "2048x640x5760", "4096x4096x4096")


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
            m, n, k = (int(d) for d in shape.split("x"))
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
