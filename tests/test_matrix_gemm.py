"""Subgroup-matrix GEMM kernels (tensor cores): they stand in for the library's kernels with
the same parameters and workgroup grid, and compute what PyTorch does, on lavapipe, whose
Vulkan cooperative matrices Dawn offers as 8 × 8 × 8 fragments on subgroups of 8."""

from __future__ import annotations

import numpy as np
import pytest
from gemm_cases import CASES, Case, called_kernel, gemm_module
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu

from websd.schedules.matrix_gemm import MMA, MatrixConfig

LAVAPIPE = MatrixConfig(m=8, n=8, k=8, subgroup_size=8)
# NVIDIA's tensor cores, as Vulkan's cooperative matrices offer them.
NVIDIA = MatrixConfig(m=16, n=16, k=16, subgroup_size=32)


def _lowered(module, config: MatrixConfig):
    from websd.passes.pipeline import lowering
    from websd.targets import WEBGPU, target

    webgpu = target(WEBGPU)
    with webgpu:
        return lowering(webgpu, config)(module)


def _multiplies_on_matrices(kernel) -> bool:
    return f'"{MMA}"' in kernel.script()


@pytest.mark.parametrize("config", [LAVAPIPE, NVIDIA], ids=lambda c: c.name)
def test_each_float16_gemm_keeps_its_library_kernels_parameters_and_grid(
    config: MatrixConfig,
) -> None:
    """tvmjs dispatches a kernel by its library's launch arguments (workgroups along x and y)
    and binds its buffers by its parameters: a stand-in must take the same, or it would cover
    part of C, or bind the wrong buffers. Its workgroup is its own (the shader sets it)."""
    from websd.schedules.gemm import launch_extents

    library = lowered_for_webgpu(gemm_module(CASES, "float16"))
    matrix = _lowered(gemm_module(CASES, "float16"), config)
    for case in CASES:
        ours, theirs = called_kernel(matrix, case), called_kernel(library, case)
        assert _multiplies_on_matrices(ours), case.name
        assert launch_extents(ours, "blockIdx") == launch_extents(theirs, "blockIdx"), case.name
        assert [str(p.ty) for p in ours.params] == [str(p.ty) for p in theirs.params], case.name
        assert launch_extents(ours, "threadIdx") == {"threadIdx.x": 128}, case.name


def test_float32_gemms_keep_their_library_kernels() -> None:
    """Subgroup matrices take float16 operands here: a float32 GEMM has no stand-in."""
    matrix = _lowered(gemm_module(CASES, "float32"), LAVAPIPE)
    assert not any(_multiplies_on_matrices(called_kernel(matrix, case)) for case in CASES)


def test_subgroups_share_a_tile_in_blocks_of_fragments() -> None:
    """NVIDIA's 16 × 16 fragments of a 128 × 160 tile (SD 1.5's 320 channels at 64 × 64) are
    8 × 10: four subgroups of 32 take 4 × 5 each, and sum them in as many accumulators, each
    step of k (16 deep, one fragment) loading 4 fragments of A and 5 of B."""
    from tvm import relax

    from websd.compile import wgsl_source
    from websd.matrix_kernels import matrix_kernels
    from websd.targets import WEBGPU, target

    (case,) = [case for case in CASES if case.name == "conv3x3_320"]
    module = _lowered(gemm_module([case], "float16"), NVIDIA)
    executable = relax.build(module, target=target(WEBGPU), relax_pipeline=None, system_lib=True)
    (code,) = matrix_kernels(wgsl_source(executable), NVIDIA).values()
    assert code.count("= subgroup_matrix_result<f32, 16, 16>();") == 20
    assert code.count("subgroupMatrixMultiplyAccumulate(") == 20
    assert code.count("subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>") == 4
    assert code.count("subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>") == 5
    assert code.count("subgroupMatrixStore<row_major>") == 20
    assert "@builtin(subgroup_id) websd_subgroup : u32" in code


@pytest.fixture(scope="module")
def lavapipe_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every case in one float16 library, its GEMMs run as subgroup-matrix kernels."""
    inputs = {case.name: case.inputs("float16") for case in CASES}
    folder = tmp_path_factory.mktemp("matrix_gemm")
    return run_on_webgpu(gemm_module(CASES, "float16"), inputs, folder, LAVAPIPE)


@pytest.mark.browser
@needs_webgpu
def test_every_gemm_ran_on_subgroup_matrices(lavapipe_results: dict) -> None:
    assert lavapipe_results["errors"] == []
    assert len(lavapipe_results["matrix_kernels"]) == len(CASES)


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_on_subgroup_matrices(lavapipe_results: dict, case: Case) -> None:
    ours = lavapipe_results["outputs"][case.name]
    np.testing.assert_allclose(ours, case.reference("float16"), rtol=FLOAT16_RTOL, atol=1e-3)
