"""WebGPU GEMM schedule: tile chosen per call, convolutions and matmuls against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from benchmark_scripts import load
from gemm_cases import CASES, Case, called_kernel, gemm_module
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu

TOLERANCE = {
    "float32": {"rtol": 1e-4, "atol": 1e-4},
    "float16": {"rtol": FLOAT16_RTOL, "atol": 1e-3},
}


def _vectors(case: Case, dtype: str) -> tuple[int, int]:
    """Values per workgroup-memory access of A and of B (websd.schedules.gemm.Tile.vectors),
    for tiles 32 bytes deep."""
    from websd.schedules.gemm import Side as Along
    from websd.schedules.gemm import Tile

    tile = Tile(*(Along(side.threads, side.micro) for side in (case.rows, case.columns)))
    return tile.vectors(32 // np.dtype(dtype).itemsize)


def test_tile_does_the_most_work_per_workgroup_memory_access_that_fills_the_gpu() -> None:
    """Each call takes the tile worked out for it: its invocations, its workgroups, and, per
    invocation, its outputs along rows and columns (the register buffers of the next test)."""
    from websd.schedules.gemm import MIN_WORKGROUPS, launch_extent

    module = lowered_for_webgpu(gemm_module(CASES))
    for case in CASES:
        kernel = called_kernel(module, case)
        rows, columns = case.gemm
        workgroups = math.ceil(rows / case.rows.outputs) * math.ceil(columns / case.columns.outputs)
        threads = case.rows.threads * case.columns.threads
        assert launch_extent(kernel, "threadIdx") == threads, case.name
        assert launch_extent(kernel, "blockIdx") == workgroups, case.name
        if case.rows.micro * case.columns.micro > 16:
            assert workgroups >= MIN_WORKGROUPS, case.name


def test_warps_coalesce_global_accesses_and_avoid_bank_conflicts() -> None:
    """Counted per warp of 32 lanes in the lowered kernels (benchmarks/memory_access.py):
    dlight's tiling used a third of each 32-byte sector it touched and read its tiles with
    6- to 9-way bank conflicts. Strided and ragged convolutions cannot use every sector, and
    staging an operand in vectors, each load of a warp reads a row of invocations (16 or 8
    values side by side), not the tile's whole row."""
    memory_access = load("memory_access").memory_access
    module = lowered_for_webgpu(gemm_module(CASES))
    for case in CASES:
        access = memory_access(called_kernel(module, case))
        assert access.conflict_ways < 1.01, case.name
        assert access.sector_efficiency > 0.65, case.name


def test_each_step_of_k_reads_workgroup_memory_once_per_operand_vector() -> None:
    """Per step of k a warp's invocations run m × n multiply-adds each on m values of A and
    n of B, read in vectors of a and b values: m / a + n / b workgroup-memory loads, plus a
    share of the staging stores (one per vector of a row and column of the tile). For 4 × 4
    in vec4s that is about 450 flops per warp instruction, for 8 × 10 about 400 in fp32
    (`test_operands_are_read_in_the_widest_vectors_their_staging_divides_into`), 690 in
    float16. Values read one by one gave 120 and 270; read again for each multiply-add, as
    the tile did before it kept them in registers, 32."""
    kernel_work = load("kernel_work").kernel_work
    memory_access = load("memory_access").memory_access
    module = lowered_for_webgpu(gemm_module(CASES))
    for case in CASES:
        kernel = called_kernel(module, case)
        flops_per_access = kernel_work(kernel).flops / memory_access(kernel).shared_requests
        rows, columns = case.rows, case.columns
        a, b = _vectors(case, "float32")
        invocations = rows.threads * columns.threads
        loads = invocations * (rows.micro / a + columns.micro / b)
        instructions = loads + rows.outputs / a + columns.outputs / b
        expected = 2 * rows.outputs * columns.outputs / (instructions / 32)
        assert flops_per_access > 0.8 * expected, case.name


def test_operands_are_read_in_the_widest_vectors_their_staging_divides_into() -> None:
    """Up to a vec4 of an invocation's own values, where the workgroup stages its tile in
    whole vectors, every invocation as many: 8 × 10 per invocation of 16 × 16 reads vec4s of
    A and vec2s of B 16 deep (fp16: 1280 vec2s of its 160-row side over 256 invocations),
    but B one value at a time 8 deep (fp32: 640 vec2s do not divide over 256)."""
    by_name = {case.name: case for case in CASES}
    assert _vectors(by_name["conv3x3_320"], "float16") == (4, 2)
    assert _vectors(by_name["conv3x3_320"], "float32") == (4, 1)
    # 4 × 4 per invocation of 8 × 8: 32 rows 8 deep are 64 vec4s, one per invocation.
    assert _vectors(by_name["matmul_small"], "float32") == (4, 4)
    # 8 × 4 of 16 × 8: the 32-row side's 64 vec4s would leave half the 128 invocations out.
    assert _vectors(by_name["conv3x3"], "float32") == (4, 2)


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


def _staged(case: Case, dtype: str) -> list[int]:
    """Values of A and of B that one invocation stages per step of k (32 bytes deep): the
    next step's, held in registers while this step's are multiplied."""
    depth = 32 // np.dtype(dtype).itemsize
    invocations = case.rows.threads * case.columns.threads
    return [side.outputs * depth // invocations for side in (case.rows, case.columns)]


def test_each_invocation_keeps_only_its_own_values_in_registers() -> None:
    """m × n accumulators, m values of A and n of B per step of k, and the values of each it
    stages for the next step. A local buffer sized by the whole tile (what TVM's regions give
    an invocation's spread-out outputs) would compute the same numbers from memory instead
    of registers."""
    flattened = load("kernel_work").flattened
    module = lowered_for_webgpu(gemm_module(CASES))
    for case in CASES:
        sizes = [
            elements
            for elements, _ in _buffer_sizes(flattened(called_kernel(module, case)).body, "local")
        ]
        m, n = case.rows.micro, case.columns.micro
        assert sorted(sizes) == sorted([m, n, m * n, *_staged(case, "float32")]), case.name


def test_float32_tiles_fit_the_workgroup_memory_every_adapter_has() -> None:
    """WebGPU guarantees 16 KiB of workgroup memory; a kernel that uses more fails to create
    its pipeline on a device that did not ask for more."""
    flattened = load("kernel_work").flattened
    module = lowered_for_webgpu(gemm_module(CASES))
    for case in CASES:
        shared = _buffer_sizes(flattened(called_kernel(module, case)).body, "shared")
        assert 0 < sum(size for _, size in shared) <= 16384, case.name


def test_float16_operands_are_converted_once_as_they_are_staged() -> None:
    """In float16, the tiles in workgroup memory and the registers that feed the
    multiply-adds hold fp32: the inner loop converts nothing. Each tile is 16 steps of k
    deep, a step holding its rows and 2 or 4 words of padding (against bank conflicts): a
    tile of 128 × 160 takes 16 · (128 + 4 + 160 + 2) fp32 values, 18.4 KiB, within the 32 KiB
    that float16 models ask for (websd.memory.workgroup_limits)."""
    flattened = load("kernel_work").flattened
    module = lowered_for_webgpu(gemm_module(CASES, "float16"))
    for case in CASES:
        kernel = flattened(called_kernel(module, case))
        shared = _buffer_sizes(kernel.body, "shared")
        m, n = case.rows.micro, case.columns.micro
        a, b = _vectors(case, "float16")
        assert sum(elements for elements, _ in shared) * 4 == sum(size for _, size in shared)
        padded = case.rows.outputs + max(a, 2) + case.columns.outputs + max(b, 2)
        assert sum(size for _, size in shared) == 4 * 16 * padded, case.name
        local = sorted(_buffer_sizes(kernel.body, "local"))
        registers = [m, n, m * n, *_staged(case, "float16")]
        assert local == sorted((size, 4 * size) for size in registers), case.name


@pytest.fixture(scope="module", params=["float32", "float16"])
def webgpu_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every case in one library, in `request.param`, run as webgpu_kernels says."""
    dtype = request.param
    inputs = {case.name: case.inputs(dtype) for case in CASES}
    folder = tmp_path_factory.mktemp(f"gemm_{dtype}")
    return {"dtype": dtype, **run_on_webgpu(gemm_module(CASES, dtype), inputs, folder)}


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_on_webgpu(webgpu_results: dict, case: Case) -> None:
    assert webgpu_results["errors"] == []
    ours = webgpu_results["outputs"][case.name]
    dtype = webgpu_results["dtype"]
    np.testing.assert_allclose(ours, case.reference(dtype), **TOLERANCE[dtype])
