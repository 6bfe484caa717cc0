"""WebGPU schedule for every GEMM-like kernel: linear layers, matmuls and convolutions.

dlight's Matmul rule normalizes a kernel to C[b, i, j] = Σ_k A[b, i, k] · B[b, j, k] (a
convolution becomes an implicit GEMM over (channel, kh, kw)) and tiles it in workgroup
memory; its WebGPU configuration is its generic one: 64 invocations, each summing a 4 × 4
block, 32 × 32 outputs per workgroup, depth 8. That is 16 flops per fp16 byte loaded from
global memory and a barrier pair every 8 steps of k.

This rule keeps dlight's normalization and tiling and sizes the tile to the GEMM: where a
call has enough output tiles to keep a large GPU busy, a workgroup of 256 invocations (the
most WebGPU guarantees) computes 64 × 64 outputs, 16 steps of k per workgroup-memory tile:
twice the flops per byte loaded, half the barriers. Smaller GEMMs keep dlight's 32 × 32
tile, so that they still launch enough workgroups. Either way a workgroup uses at most
8 KiB of workgroup memory in fp32, half WebGPU's default limit.

Loads stay scalar: TVM declares WGSL storage buffers as arrays of scalars, so vectorizing
the tile loads gains nothing there, and dlight's vec4 variant fails TVM 0.27's storage
rewrite (`info.factor() % me->coeff == 0`) for row-major operands.
"""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight.gpu import Matmul
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule

# At least this many workgroups per call for the large tile: two per compute unit of a
# 64-unit GPU. Below it the large tile would leave units idle that small tiles keep busy.
MIN_LARGE_WORKGROUPS = 128

LARGE = Matmul.Config(
    block_size_x=16,
    block_size_y=16,
    micro_size_x=4,
    micro_size_y=4,
    micro_size_k=16,
    unroll=256,
)
SMALL = Matmul.Config()  # dlight's generic configuration


class _Configured(Matmul):
    """dlight's Matmul with a fixed configuration, whatever the target."""

    def __init__(self, config: Matmul.Config) -> None:
        super().__init__()
        self.config = config

    def get_configs(self, target: tvm.target.Target) -> Matmul.Config:
        return self.config


def launch_extent(function: tirx.PrimFunc, axes: str) -> int:
    """The product of a scheduled kernel's loops bound to `axes` ("blockIdx": workgroups per
    call; "threadIdx": invocations per workgroup)."""
    extents: dict[str, int] = {}

    def visit(stmt: tvm.runtime.Object) -> None:
        binding = getattr(stmt, "thread_binding", None)
        if binding is not None and binding.thread_tag.startswith(axes):
            extents[binding.thread_tag] = int(stmt.extent)
        for field in ("body", "block"):
            child = getattr(stmt, field, None)
            if child is not None:
                visit(child)
        for child in getattr(stmt, "seq", ()):
            visit(child)

    visit(function.body)
    return math.prod(extents.values())


class Gemm(GPUScheduleRule):
    """dlight's GEMM tiling with a tile sized to the call: 64 × 64 when that still launches
    `MIN_LARGE_WORKGROUPS` workgroups, dlight's 32 × 32 otherwise."""

    def apply(
        self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool
    ) -> s_tir.Schedule | None:
        large = _Configured(LARGE).apply(func, target, tunable)
        if large is None or launch_extent(large.mod["main"], "blockIdx") >= MIN_LARGE_WORKGROUPS:
            return large
        return _Configured(SMALL).apply(func, target, tunable)
