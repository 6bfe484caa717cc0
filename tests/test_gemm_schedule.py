"""WebGPU GEMM schedule: tile chosen per call, convolutions and matmuls against PyTorch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from benchmark_scripts import load
from webgpu_kernels import lowered_for_webgpu, needs_webgpu, run_on_webgpu

TOLERANCE = 1e-4


@dataclass(frozen=True)
class Case:
    name: str
    x: tuple[int, ...]  # conv: (N, C, H, W); matmul: (B, M, K)
    w: tuple[int, ...]  # conv: (O, C, kh, kw); matmul: (K, N)
    tile: int  # side of the output tile the call fills the GPU with: 128, 64 or 32
    stride: int = 1

    @property
    def conv(self) -> bool:
        return len(self.x) == 4

    def inputs(self) -> list[np.ndarray]:
        rng = np.random.default_rng(len(self.name))
        return [rng.standard_normal(shape, dtype=np.float32) for shape in (self.x, self.w)]

    def reference(self) -> np.ndarray:
        x, w = (torch.from_numpy(a) for a in self.inputs())
        if self.conv:
            padding = self.w[2] // 2
            return torch.nn.functional.conv2d(x, w, stride=self.stride, padding=padding).numpy()
        return (x @ w).numpy()


CASES = [
    # 2·60·60 = 7200 rows × 320 channels: 57 × 3 tiles of 128 × 128, the last ones ragged,
    # and K = 12·9 = 108.
    Case("conv3x3_128", (2, 12, 60, 60), (320, 12, 3, 3), tile=128),
    Case("matmul_128", (2, 2048, 72), (72, 1024), tile=128),
    # 2·32·32 rows × 256 channels: 32 × 4 tiles of 64 × 64; K = 16·9, not a multiple of 16.
    Case("conv3x3", (2, 16, 32, 32), (256, 16, 3, 3), tile=64),
    # Ragged: 2·30·30 = 1800 rows and K = 12·9 = 108 pad up to whole tiles.
    Case("conv3x3_ragged", (2, 12, 30, 30), (320, 12, 3, 3), tile=64),
    Case("conv1x1", (2, 40, 32, 32), (320, 40, 1, 1), tile=64),
    Case("conv3x3_stride2", (1, 8, 16, 16), (32, 8, 3, 3), tile=32, stride=2),
    Case("matmul", (2, 1024, 72), (72, 512), tile=64),
    Case("matmul_small", (1, 77, 64), (64, 96), tile=32),
    # Padded tiles must not write past the output: 16 rows, 37 columns, 16 channels of a
    # 4 × 4 image (the tiny UNet's innermost blocks and CLIP's MLP).
    Case("matmul_few_rows", (1, 16, 64), (64, 64), tile=32),
    Case("matmul_ragged_columns", (1, 64, 32), (32, 37), tile=32),
    Case("conv3x3_few_positions", (1, 32, 4, 4), (64, 32, 3, 3), tile=32),
    Case("conv3x3_few_channels", (1, 16, 32, 64), (16, 16, 3, 3), tile=32),
]


def _module(cases: list[Case], dtype: str = "float32"):
    from tvm import relax

    builder = relax.BlockBuilder()
    for case in cases:
        x = relax.Var("x", relax.TensorType(case.x, dtype))
        w = relax.Var("w", relax.TensorType(case.w, dtype))
        with builder.function(case.name, [x, w]):
            with builder.dataflow():
                if case.conv:
                    pad = case.w[2] // 2
                    out = relax.op.nn.conv2d(x, w, strides=case.stride, padding=pad)
                else:
                    out = relax.op.matmul(x, w)
                result = builder.emit_output(out)
            builder.emit_func_output(result)
    return builder.get()


def _kernel(module, case: Case):
    from tvm import relax

    (call,) = [
        b.value.op
        for block in module[case.name].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
    ]
    return module[call]


def _micro(case: Case) -> int:
    """Outputs per invocation along rows and columns."""
    return 8 if case.tile == 128 else 4


def test_tile_is_the_largest_that_still_fills_the_gpu() -> None:
    from websd.schedules.gemm import MIN_WORKGROUPS, launch_extent

    module = lowered_for_webgpu(_module(CASES))
    for case in CASES:
        kernel = _kernel(module, case)
        threads = launch_extent(kernel, "threadIdx")
        assert threads == (case.tile // _micro(case)) ** 2, case.name
        if case.tile > 32:
            assert launch_extent(kernel, "blockIdx") >= MIN_WORKGROUPS, case.name


def test_warps_coalesce_global_accesses_and_avoid_bank_conflicts() -> None:
    """Counted per warp of 32 lanes in the lowered kernels (benchmarks/memory_access.py):
    dlight's tiling used a third of each 32-byte sector it touched and read its tiles with
    6- to 9-way bank conflicts. Strided and ragged convolutions cannot use every sector."""
    memory_access = load("memory_access").memory_access
    module = lowered_for_webgpu(_module(CASES))
    for case in CASES:
        access = memory_access(_kernel(module, case))
        assert access.conflict_ways < 1.1, case.name
        assert access.sector_efficiency > 0.7, case.name


def test_each_step_of_k_reads_workgroup_memory_once_per_operand_value() -> None:
    """Per step of k a warp's invocations run m × m multiply-adds each on m values of A and
    m of B: 2m workgroup-memory loads from registers' point of view, plus a share of the
    staging stores. For m = 4 that is about 120 flops per warp instruction, for m = 8 about
    240. Reading A and B again for each multiply-add, as the tile did before it kept them in
    registers, gives 32."""
    kernel_work = load("kernel_work").kernel_work
    memory_access = load("memory_access").memory_access
    module = lowered_for_webgpu(_module(CASES))
    for case in CASES:
        kernel = _kernel(module, case)
        flops_per_access = kernel_work(kernel).flops / memory_access(kernel).shared_requests
        assert flops_per_access > 25 * _micro(case), case.name


def _buffer_sizes(stmt, scope: str) -> list[tuple[int, int]]:
    """(elements, bytes) of each buffer of `scope` a lowered kernel allocates: "local" is
    per invocation (registers), "shared" per workgroup."""
    if type(stmt).__name__ == "AllocBuffer":
        buffer = stmt.buffer
        if buffer.scope() != scope:
            return []
        elements = math.prod(int(d) for d in buffer.shape)
        return [(elements, elements * buffer.dtype.bits // 8)]
    children = [getattr(stmt, field, None) for field in ("body", "then_case", "else_case")]
    children += list(getattr(stmt, "seq", ()))
    return [size for child in children if child is not None for size in _buffer_sizes(child, scope)]


def test_each_invocation_keeps_only_its_own_values_in_registers() -> None:
    """m × m accumulators, and m values each of A and B per step of k. A local buffer sized by
    the whole tile (what TVM's regions give an invocation's spread-out outputs) would compute
    the same numbers from memory instead of registers."""
    flattened = load("kernel_work").flattened
    module = lowered_for_webgpu(_module(CASES))
    for case in CASES:
        sizes = [
            elements
            for elements, _ in _buffer_sizes(flattened(_kernel(module, case)).body, "local")
        ]
        micro = _micro(case)
        assert sorted(sizes) == [micro, micro, micro * micro], case.name


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_workgroup_memory_fits_every_adapter(dtype: str) -> None:
    """WebGPU guarantees 16 KiB of workgroup memory; a kernel that uses more fails to create
    its pipeline on an adapter without more (or on any device that does not ask for more)."""
    flattened = load("kernel_work").flattened
    module = lowered_for_webgpu(_module(CASES, dtype))
    for case in CASES:
        shared = _buffer_sizes(flattened(_kernel(module, case)).body, "shared")
        assert 0 < sum(size for _, size in shared) <= 16384, case.name


@pytest.fixture(scope="module")
def webgpu_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    inputs = {case.name: case.inputs() for case in CASES}
    return run_on_webgpu(_module(CASES), inputs, tmp_path_factory.mktemp("gemm"))


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_on_webgpu(webgpu_results: dict, case: Case) -> None:
    assert webgpu_results["errors"] == []
    ours = webgpu_results["outputs"][case.name]
    np.testing.assert_allclose(ours, case.reference(), atol=TOLERANCE, rtol=TOLERANCE)
