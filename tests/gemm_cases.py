"""GEMM calls for the WebGPU GEMM schedules' tests: convolutions and matmuls of the shapes that
pick each tile, with their PyTorch references."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from webgpu_kernels import stored


@dataclass(frozen=True)
class Side:
    """Outputs of a workgroup along one axis of C, and how many of them each invocation sums."""

    outputs: int
    micro: int

    @property
    def threads(self) -> int:
        return self.outputs // self.micro


@dataclass(frozen=True)
class Case:
    name: str
    x: tuple[int, ...]  # conv: (N, C, H, W); matmul: (B, M, K)
    w: tuple[int, ...]  # conv: (O, C, kh, kw); matmul: (K, N)
    # The tile the call should take, along C's rows (positions, or B·M) and its columns
    # (channels, or N); worked out by hand from the rule in websd.schedules.gemm.
    rows: Side
    columns: Side
    stride: int = 1

    @property
    def conv(self) -> bool:
        return len(self.x) == 4

    @property
    def gemm(self) -> tuple[int, int]:
        """(rows, columns) of C: the weights are shared, so a batch adds rows."""
        if self.conv:
            n, _, h, w = self.x
            return n * -(-h // self.stride) * -(-w // self.stride), self.w[0]
        return self.x[0] * self.x[1], self.w[1]

    def inputs(self, dtype: str = "float32") -> list[np.ndarray]:
        rng = np.random.default_rng(len(self.name))
        arrays = [rng.standard_normal(shape, dtype=np.float32) for shape in (self.x, self.w)]
        return stored(arrays, dtype)

    def reference(self, dtype: str) -> np.ndarray:
        x, w = (torch.from_numpy(a) for a in self.inputs(dtype))
        if self.conv:
            padding = self.w[2] // 2
            return torch.nn.functional.conv2d(x, w, stride=self.stride, padding=padding).numpy()
        return (x @ w).numpy()


CASES = [
    # SD 1.5's 320 channels at 64 × 64 (batch 2): 64 × 2 tiles of 128 × 160, none padded,
    # where square tiles of 128 padded 320 to 384.
    Case("conv3x3_320", (2, 8, 64, 64), (320, 8, 3, 3), Side(128, 8), Side(160, 10)),
    # 640 channels at 32 × 32: 128 × 160 would launch 64 workgroups, 64 × 160 launches 128.
    Case("conv3x3_640", (2, 8, 32, 32), (640, 8, 3, 3), Side(64, 4), Side(160, 10)),
    # 2·60·60 = 7200 rows × 320 channels: 45 × 3 tiles of 160 × 128, the last ones ragged,
    # and K = 12·9 = 108.
    Case("conv3x3_ragged_160", (2, 12, 60, 60), (320, 12, 3, 3), Side(160, 10), Side(128, 8)),
    Case("matmul_160", (2, 2048, 72), (72, 1024), Side(160, 10), Side(128, 8)),
    # 2·32·32 rows × 256 channels: 16 × 8 tiles of 128 × 32; K = 16·9, not a multiple of 16.
    Case("conv3x3", (2, 16, 32, 32), (256, 16, 3, 3), Side(128, 8), Side(32, 4)),
    # Ragged: 2·30·30 = 1800 rows and K = 12·9 = 108 pad up to whole tiles.
    Case("conv3x3_ragged", (2, 12, 30, 30), (320, 12, 3, 3), Side(128, 8), Side(32, 4)),
    Case("conv1x1", (2, 40, 32, 32), (320, 40, 1, 1), Side(32, 4), Side(160, 10)),
    Case("conv3x3_stride2", (1, 8, 16, 16), (32, 8, 3, 3), Side(32, 4), Side(32, 4), stride=2),
    Case("matmul", (2, 1024, 72), (72, 512), Side(160, 10), Side(32, 4)),
    Case("matmul_small", (1, 77, 64), (64, 96), Side(32, 4), Side(32, 4)),
    # Padded tiles must not write past the output: 16 rows, 37 columns, 16 channels of a
    # 4 × 4 image (the tiny UNet's innermost blocks and CLIP's MLP).
    Case("matmul_few_rows", (1, 16, 64), (64, 64), Side(32, 4), Side(32, 4)),
    Case("matmul_ragged_columns", (1, 64, 32), (32, 37), Side(32, 4), Side(32, 4)),
    Case("conv3x3_few_positions", (1, 32, 4, 4), (64, 32, 3, 3), Side(32, 4), Side(32, 4)),
    Case("conv3x3_few_channels", (1, 16, 32, 64), (16, 16, 3, 3), Side(32, 4), Side(32, 4)),
]


def gemm_module(cases: list[Case], dtype: str = "float32"):
    """One function per case; in float16, summed in fp32 and rounded, as float16 builds do."""
    from tvm import relax

    builder = relax.BlockBuilder()
    for case in cases:
        x = relax.Var("x", relax.TensorType(case.x, dtype))
        w = relax.Var("w", relax.TensorType(case.w, dtype))
        with builder.function(case.name, [x, w]):
            with builder.dataflow():
                if case.conv:
                    pad = case.w[2] // 2
                    out = relax.op.nn.conv2d(
                        x, w, strides=case.stride, padding=pad, out_dtype="float32"
                    )
                else:
                    out = relax.op.matmul(x, w, out_dtype="float32")
                if dtype != "float32":
                    out = relax.op.astype(out, dtype)
                result = builder.emit_output(out)
            builder.emit_func_output(result)
    return builder.get()


def called_name(module, case: Case) -> str:
    """The name of the kernel that `case`'s function calls."""
    from tvm import relax

    (call,) = [
        b.value.op
        for block in module[case.name].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
    ]
    return call.name_hint


def called_kernel(module, case: Case):
    """The kernel that `case`'s function calls."""
    return module[called_name(module, case)]
