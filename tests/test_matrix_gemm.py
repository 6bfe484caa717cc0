"""Subgroup-matrix GEMM kernels (tensor cores): they stand in for the library's kernels with
the same parameters and workgroup grid, and compute what PyTorch does, on lavapipe, whose
Vulkan cooperative matrices Dawn offers as 8 × 8 × 8 fragments on subgroups of 8."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from benchmark_scripts import load
from gemm_cases import CASES, Case, Side, called_kernel, called_name, gemm_module
from node_webgpu import LAVAPIPE_MATRICES as LAVAPIPE
from node_webgpu import run_on_lavapipe
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu

from websd.matrix_kernels import build_matrix_kernels, matrix_gemms
from websd.spec import NVIDIA_MATRICES as NVIDIA
from websd.spec import MatrixConfig

# And a GEMM per batch (each with its own B), whose staged tiles are of one batch's operands.
MATRIX_CASES = [*CASES, Case("batched_matmul", (2, 64, 32), (2, 32, 48), Side(32, 4), Side(32, 4))]


@pytest.mark.parametrize("config", [LAVAPIPE, NVIDIA], ids=lambda c: c.name)
def test_each_float16_gemm_keeps_its_library_kernels_parameters_and_grid(
    config: MatrixConfig,
) -> None:
    """tvmjs dispatches a kernel by its library's launch arguments (workgroups along x and y)
    and binds its buffers by its parameters: a stand-in must take the same, or it would cover
    part of C, or bind the wrong buffers. Its workgroup is its own (the shader sets it)."""
    from websd.schedules.gemm import launch_extents

    library = lowered_for_webgpu(gemm_module(MATRIX_CASES, "float16"))
    matrix = matrix_gemms(gemm_module(MATRIX_CASES, "float16"), config)
    for case in MATRIX_CASES:
        theirs = called_kernel(library, case)
        ours = matrix[called_name(library, case)]
        assert launch_extents(ours, "blockIdx") == launch_extents(theirs, "blockIdx"), case.name
        assert [str(p.ty) for p in ours.params] == [str(p.ty) for p in theirs.params], case.name
        assert launch_extents(ours, "threadIdx") == {"threadIdx.x": 128}, case.name


def test_float32_gemms_keep_their_library_kernels() -> None:
    """Subgroup matrices take float16 operands here: a float32 GEMM has no stand-in."""
    assert not matrix_gemms(gemm_module(MATRIX_CASES, "float32"), LAVAPIPE).functions


def test_subgroups_share_a_tile_in_blocks_of_fragments() -> None:
    """NVIDIA's 16 × 16 fragments of a 128 × 160 tile (SD 1.5's 320 channels at 64 × 64) are
    8 × 10: four subgroups of 32 take 4 × 5 each, and sum them in as many accumulators, each
    step of k (16 deep, one fragment) loading 4 fragments of A and 5 of B.

    Each tile lies in workgroup memory as its source does in global memory: the input's
    positions side by side (A column-major: a step of k every 128 + 8 values), the weights'
    k (B, 16 + 8 values a channel); and the accumulators reach the NCHW output along its
    positions (column-major)."""
    (case,) = [case for case in MATRIX_CASES if case.name == "conv3x3_320"]
    (code,) = build_matrix_kernels(gemm_module([case], "float16"), NVIDIA)["kernels"].values()
    assert code.count("= subgroup_matrix_result<f32, 16, 16>();") == 20
    # Multiplies twice: in the software pipeline's loop, and in its epilogue (the last step).
    assert code.count("subgroupMatrixMultiplyAccumulate(") == 2 * 20
    left = "subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, col_major>"
    right = "subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>"
    assert len(re.findall(rf"{left}\(&\w+, [^;]*, 136u\);", code)) == 2 * 4
    assert len(re.findall(rf"{right}\(&\w+, [^;]*, 24u\);", code)) == 2 * 5
    assert code.count("subgroupMatrixStore<col_major>") == 20
    assert "@builtin(subgroup_id) websd_subgroup : u32" in code


def test_warps_coalesce_and_avoid_bank_conflicts_around_the_multiply() -> None:
    """Counted per warp of 32 lanes (benchmarks/memory_access.py) in what TVM schedules
    around the multiply, NVIDIA's shape: staging stores side by side, epilogue writes along
    the output's contiguous axis. Before, every tile lay along k in workgroup memory: the
    lanes staging a convolution's input along its positions stored a row (16 values) apart,
    2 to 6 passes per pass their words need; and the epilogue wrote an NCHW output a channel
    per lane (an eighth of each sector it wrote). The subgroup-matrix loads are opaque to
    the count: their strides, an odd number of 16-byte units, are what keeps them apart."""
    memory_access = load("memory_access").memory_access
    matrix = matrix_gemms(gemm_module(MATRIX_CASES, "float16"), NVIDIA)
    library = lowered_for_webgpu(gemm_module(MATRIX_CASES, "float16"))
    for case in MATRIX_CASES:
        access = memory_access(matrix[called_name(library, case)])
        assert access.conflict_ways < 1.01, case.name
        assert access.sector_efficiency > 0.6, case.name
    strides = re.findall(r"subgroupMatrixLoad<[^(]*\(&\w+, [^;]*, (\d+)u\);", all_kernels(NVIDIA))
    assert strides and all(int(stride) * 2 // 16 % 2 == 1 for stride in strides)


def all_kernels(config: MatrixConfig) -> str:
    built = build_matrix_kernels(gemm_module(MATRIX_CASES, "float16"), config)["kernels"]
    return "".join(built.values())


@pytest.mark.browser
@needs_webgpu
def test_kernels_for_other_adapters_matrices_are_valid_wgsl(tmp_path) -> None:
    """NVIDIA's square fragments, and fragments of 8 × 16 × 16 (m ≠ n, as on Intel's GPUs),
    whose left, right and result types each order their sides their own way: Dawn checks
    their WGSL on lavapipe, and refuses only the shape, which lavapipe lacks, when the
    pipeline is made."""
    (case,) = [case for case in MATRIX_CASES if case.name == "conv3x3_ragged_160"]
    kernels = {}
    for config in (NVIDIA, MatrixConfig(m=8, n=16, k=16, subgroup_size=16)):
        built = build_matrix_kernels(gemm_module([case], "float16"), config)["kernels"]
        kernels |= {f"{name}_{config.name}": code for name, code in built.items()}
    (tmp_path / "kernels.json").write_text(json.dumps(kernels))
    args = ["--kernels", str(tmp_path / "kernels.json"), "--out", str(tmp_path / "report.json")]
    run_on_lavapipe("wgsl_check", args, timeout=600)
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report) == 2
    for checked in report.values():
        assert checked["module"] is None
        assert "Subgroup matrix usage found which is not supported" in checked["pipeline"]


@pytest.fixture(scope="module")
def lavapipe_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every case in one float16 library, its GEMMs run as subgroup-matrix kernels."""
    inputs = {case.name: case.inputs("float16") for case in MATRIX_CASES}
    folder = tmp_path_factory.mktemp("matrix_gemm")
    return run_on_webgpu(gemm_module(MATRIX_CASES, "float16"), inputs, folder, LAVAPIPE)


@pytest.mark.browser
@needs_webgpu
def test_every_gemm_ran_on_subgroup_matrices(lavapipe_results: dict) -> None:
    assert lavapipe_results["errors"] == []
    assert len(lavapipe_results["matrix_kernels"]) == len(MATRIX_CASES)


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", MATRIX_CASES, ids=[c.name for c in MATRIX_CASES])
def test_matches_torch_on_subgroup_matrices(lavapipe_results: dict, case: Case) -> None:
    ours = lavapipe_results["outputs"][case.name]
    np.testing.assert_allclose(ours, case.reference("float16"), rtol=FLOAT16_RTOL, atol=1e-3)


def test_kernel_census_counts_the_stand_ins_memory_access(tiny_sd1) -> None:
    """`kernel_census.py --matrix`: the GEMMs' memory access is their stand-ins' (staging and
    write-back, no multiply: fewer workgroup-memory accesses than the library's kernels,
    which read their tiles into registers), their work the library's; other kernels as
    they are."""
    census = load("kernel_census")
    library = census.kernels(tiny_sd1, "float16")
    matrix = census.kernels(tiny_sd1, "float16", NVIDIA)
    for name, calls in library.items():
        assert matrix[name].launches == calls.launches, name
        assert matrix[name].work == calls.work, name
        for kind in ("conv2d", "matmul"):
            if calls.launches[kind]:
                ours, theirs = matrix[name].access[kind], calls.access[kind]
                assert 0 < ours.shared_requests < theirs.shared_requests, (name, kind)
        assert matrix[name].access["norm"] == calls.access["norm"], name
