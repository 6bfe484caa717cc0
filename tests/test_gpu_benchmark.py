"""benchmarks/gpu.py, the GPU benchmark, end to end on the CPU.

A tiny model's WebGPU libraries (benchmarks/gpu_build.py) run in node through Dawn (npm
webgpu), each call's passes timed with timestamp queries and named by their TVM kernels: the
float32 one on SwiftShader, with PyTorch's UNet on the CPU in place of CUDA, and the float16
one on lavapipe, which has shader-f16. The report must hold every section that the run on a
real GPU gives.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from benchmark_scripts import load
from node_webgpu import LAVAPIPE_MATRICES, lavapipe_node

from websd.spec import NVIDIA_MATRICES

ROOT = Path(__file__).parents[1]
SWIFTSHADER = Path("/usr/lib/chromium")
TVMJS = ROOT / "runtime_ts/node_modules/@mlc-ai/web-runtime/lib/index.js"
FUNCTIONS = ("encode_text", "denoise", "decode_image")
KINDS = ("attention", "conv2d", "matmul", "norm", "elementwise/other")
# One subgroup-matrix GEMM of two tiles by two, three steps of k: lavapipe compiles it in seconds.
MATRIX_SHAPE = "256x256x96"


@pytest.mark.parametrize(
    ("kernel", "kind"),
    [
        ("attention2_kernel_3", "attention"),
        ("fused_softmax_broadcast_to6_kernel", "attention"),
        ("fused_conv2d15_add24_add27_divide8_kernel", "conv2d"),
        ("fused_matmul6_add22_kernel", "matmul"),
        ("matmul26_kernel", "matmul"),
        ("fused_group_norm_silu_kernel", "norm"),
        ("layer_norm4_kernel", "norm"),
        ("group_norm_stats3_kernel", "norm"),
        ("fused_subtract10_multiply35_reshape65_multiply36_add48_silu15_kernel", "norm"),
        ("fused_cast14_subtract2_multiply5_reshape20_multiply11_add11_silu5_cast21_kernel", "norm"),
        ("fused_transpose3_transpose4_reshape7_cast2_cast3_kernel", "elementwise/other"),
        ("fused_split5_subtract15_multiply46_add55_kernel", "elementwise/other"),
        (
            "fused_reshape32_reshape34_transpose38_broadcast_to4_reshape35_kernel",
            "elementwise/other",
        ),
    ],
)
def test_kernels_are_grouped_by_the_op_in_their_name(kernel: str, kind: str) -> None:
    assert load("kernel_kinds").kernel_kind(kernel) == kind


def test_whole_image_is_two_prompts_the_steps_and_one_decode() -> None:
    medians = {"encode_text": 10.0, "denoise": 100.0, "decode_image": 500.0}
    assert load("gpu_report").whole_image_ms(medians, 20) == 2 * 10 + 20 * 100 + 500


def test_kernel_work_counts_a_tiled_matmul_by_hand() -> None:
    """x[2048, 76] @ w[76, 640] in fp32, scheduled in tiles of 64 rows × 160 columns (16 × 16
    invocations of 4 × 10), 8 deep (32 bytes of fp32): k pads to 80."""
    import tvm
    from tvm import relax

    from websd.passes.pipeline import lowering
    from websd.targets import WEBGPU, target

    builder = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2048, 76), "float32"))
    w = relax.Var("w", relax.TensorType((76, 640), "float32"))
    with builder.function("main", [x, w]):
        with builder.dataflow():
            result = builder.emit_output(relax.op.matmul(x, w))
        builder.emit_func_output(result)
    webgpu = target(WEBGPU)
    with webgpu:
        lowered = lowering(webgpu)(builder.get())
    (kernel,) = [f for f in lowered.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]

    work = load("kernel_work").kernel_work(kernel)
    tiles = (2048 // 64) * (640 // 160)
    assert work.invocations == tiles * 256
    assert work.flops == 2 * 2048 * 640 * 80  # one multiply and one add per padded step
    # Each workgroup loads its 64 rows of x and 160 columns of w once per step of k.
    assert work.global_bytes == tiles * (64 + 160) * 80 * 4


def test_kernel_work_counts_a_guarded_round_where_its_guard_holds() -> None:
    """320 values copied by 128 invocations in 3 rounds, the last one guarded: 2.5 rounds of
    loads and multiplies per workgroup, as a GPU runs them, not 3; a guard on a loaded value
    counts in full."""
    from tvm.script import tirx as T

    @T.prim_func(private=True, s_tir=True)
    def rounds(x: T.Buffer((4, 320), "float32"), y: T.Buffer((4, 320), "float32")):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(4, thread="blockIdx.x"):
            for tx in T.thread_binding(128, thread="threadIdx.x"):
                with T.sblock("copy"):
                    for it in T.serial(3):
                        idx: T.let[T.int32] = it * 128 + tx
                        if idx < 320:
                            y[bx, idx] = x[bx, idx] * T.float32(2)
                        if x[bx, 0] > T.float32(0):
                            y[bx, 0] = T.float32(1)

    work = load("kernel_work").kernel_work(rounds)
    calls = 4 * 128 * 3  # of the unguarded statement, each loading x[bx, 0]
    assert work.flops == 4 * 320
    assert work.global_bytes == 4 * 320 * 4 + calls * 4


def test_memory_access_counts_sectors_and_bank_passes_by_hand() -> None:
    """16 workgroups of 8 warps: each warp reads 32 neighbouring fp16 values (2 sectors), 16
    of them at every other lane (2 sectors for 1 sector's bytes), writes 32 values 32 bytes
    apart (32 sectors for 2 sectors' bytes), stores 32 values 128 bytes apart in workgroup
    memory (all in one bank: 32 passes) and reads 32 neighbouring ones (1 pass), and reads
    vec4s of fp32 (128 words: 4 passes, as conflict-free as 512 bytes get; 8 words apart, 8
    passes, 4 of them needed) to write vec4s of fp16 (8 sectors). Only what it counts
    matters here, not what it computes."""
    from tvm.script import tirx as T

    @T.prim_func(private=True, s_tir=True)
    def kernel(
        x: T.Buffer((4096,), "float16"),
        y: T.Buffer((4096,), "float16"),
        z: T.Buffer((2048,), "float16"),
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(16, thread="blockIdx.x"):
            for tx in T.thread_binding(256, thread="threadIdx.x"):
                with T.sblock("copy"):
                    tile = T.sblock_alloc_buffer((256 * 64,), "float16", scope="shared")
                    wide = T.sblock_alloc_buffer((256 * 8,), "float32", scope="shared")
                    tile[tx * 64] = x[bx * 256 + tx]
                    y[tx * 16 + bx] = tile[tx]
                    y[T.Ramp(tx * 4, 1, 4)] = T.Cast(
                        "float16x4", wide[T.Ramp(tx * 4, 1, 4)] + wide[T.Ramp(tx * 8, 1, 4)]
                    )
                    if tx % 2 == 0:
                        z[bx * 128 + tx // 2] = x[bx * 256 + tx]

    access = load("memory_access").memory_access(kernel)
    warps = 16 * 8
    assert access.global_requests == warps * 5
    assert access.global_sectors == warps * (2 + 32 + 2 + 1 + 8)
    assert access.global_ideal == warps * (2 + 2 + 1 + 1 + 8)
    assert access.shared_requests == warps * 4
    assert access.shared_wavefronts == warps * (32 + 1 + 4 + 8)
    assert access.shared_ideal == warps * (1 + 1 + 4 + 4)


needs_webgpu = pytest.mark.skipif(
    not (SWIFTSHADER / "vk_swiftshader_icd.json").is_file()
    or shutil.which("node") is None
    or shutil.which("npm") is None
    or shutil.which("emcc") is None
    or not TVMJS.is_file(),
    reason="needs chromium's SwiftShader, node, npm, emcc and runtime_ts' node_modules",
)


@pytest.fixture(scope="module")
def tiny_libraries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from websd.progress import Reporter

    out = tmp_path_factory.mktemp("gpu-build")
    dtypes = ["float32", "float16"]
    # GEMM kernels for lavapipe's subgroup matrices, and for NVIDIA's, which it lacks.
    matrices = (LAVAPIPE_MATRICES, NVIDIA_MATRICES)
    folders = load("gpu_build").build("tiny-sd1", dtypes, out, Reporter(), matrices=matrices)
    return dict(zip(dtypes, folders, strict=True))


def _benchmark(
    library: Path,
    webgpu_package: Path,
    out: Path,
    torch: str,
    node: str = "node",
    env: dict[str, str] | None = None,
) -> dict:
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), str(library)]
    command += ["--webgpu", str(webgpu_package), "--tvmjs", str(TVMJS), "--out", str(out)]
    command += ["--iterations", "2", "--warmup", "1", "--torch", torch, "--node", node]
    command += ["--matrix-shapes", MATRIX_SHAPE]
    subprocess.run(command, env=env, check=True, timeout=1800)
    return json.loads((out / "gpu-report.json").read_text())


def _check_timings(library: dict, tiny_sd1: Path, dtype: str) -> None:
    """Every function timed, pass by pass: the passes are the kernels that
    benchmarks/kernel_census.py counts in the compiled module, submitted as the library asks."""
    assert library["errors"] == [] and "failed" not in library and "cut" not in library
    assert library["compile_s"] > 0
    kinds = load("kernel_kinds")
    found = load("kernel_census").kernels(tiny_sd1, dtype)
    for name in FUNCTIONS:
        function = library["functions"][name]
        assert len(function["ms"]) == 2
        assert all(0 < e < t for e, t in zip(function["encode_ms"], function["ms"], strict=True))
        kernels = function["profile"]["kernels"]
        assert function["profile"]["passes"] == sum(k["calls"] for k in kernels.values()) > 0
        assert all("_kernel" in kernel for kernel in kernels), "a pass lost its kernel name"
        assert all(k["ns"] > 0 for k in kernels.values())
        assert sum(library["kinds_ms"][name].values()) == pytest.approx(
            sum(k["ns"] for k in kernels.values()) / 1e6
        )
        timed: Counter[str] = Counter()
        for kernel, timing in kernels.items():
            timed[kinds.kernel_kind(kernel)] += timing["calls"]
        compiled = found[name if name == "encode_text" else f"{name}_64x64"]
        assert timed == compiled.launches, name
        # The work the report divides by GPU time: each kernel's per launch (model.json), times
        # its launches in the profile, is the census' work of the call.
        for kind, work in library["kinds_work"][name].items():
            counted = compiled.work[kind]
            assert (work["flops"], work["global_bytes"]) == (counted.flops, counted.global_bytes)
        assert library["kinds_work"][name]["matmul"]["flops"] > 0
        # websd.submit ran as the library asks: a submit after every 32 kernels and the last.
        assert function["submits"] == math.ceil(compiled.launches.total() / 32), name
        for way in ("one_submit", "new_bind_groups"):
            ms, encode_ms = function[f"{way}_ms"], function[f"{way}_encode_ms"]
            assert len(ms) == len(function["ms"])
            assert all(0 < e < t for e, t in zip(encode_ms, ms, strict=True))
        # Made anew, a bind group per kernel; reused as pages reuse them, fewer: the pool hands
        # back the buffers earlier calls bound.
        launches = compiled.launches.total()
        assert function["new_bind_groups"] == [launches] * len(function["ms"]), name
        assert min(function["bind_groups"]) < launches, name


@pytest.mark.browser
@needs_webgpu
def test_report_on_swiftshader_has_every_section(
    tiny_libraries: dict[str, Path], webgpu_package: Path, tmp_path: Path, tiny_sd1: Path
) -> None:
    env = os.environ | {
        "LD_LIBRARY_PATH": str(SWIFTSHADER),  # chromium's libvulkan.so.1
        "VK_ICD_FILENAMES": str(SWIFTSHADER / "vk_swiftshader_icd.json"),
    }
    report = _benchmark(tiny_libraries["float32"], webgpu_package, tmp_path, "cpu", env=env)

    torch_ms = report["torch"]["ms"]
    assert set(torch_ms) == {"float32", "float16"}
    assert all(len(samples) == 2 for samples in torch_ms.values())
    (library,) = report["webgpu"]
    adapter = library["adapter"]
    assert adapter["architecture"] == "swiftshader"
    # What later schedules could use, as SwiftShader offers it: subgroups 4 wide, no tensor
    # cores, and experimental features, which Dawn lists only with allow_unsafe_apis.
    assert adapter["subgroup_sizes"] == [4, 4]
    assert adapter["subgroup_matrix_configs"] == []
    assert adapter["experimental_features"]
    assert not set(adapter["experimental_features"]) & set(adapter["features"])
    _check_timings(library, tiny_sd1, "float32")
    assert all(library["functions"][name]["submits"] > 1 for name in FUNCTIONS)
    denoise_kinds = library["kinds_ms"]["denoise"]
    assert all(denoise_kinds[kind] > 0 for kind in KINDS)
    assert library["whole_image_ms"] > 20 * library["median_ms"]["denoise"]
    assert set(library["denoise_over_torch"]) == {"float32", "float16"}
    # SwiftShader has no subgroup matrices: the tensor-core stage says so, and PyTorch's GEMM of
    # the same shape is timed all the same.
    assert "offers no chromium-experimental-subgroup-matrix" in report["matrix_gemm"]["skipped"]
    assert len(report["torch"]["gemm_ms"][MATRIX_SHAPE]) == 2

    text = (tmp_path / "gpu-report.txt").read_text()
    for section in (
        "PyTorch",
        "UNet2DConditionModel",
        "WebGPU tiny-sd1 float32",
        "pipelines compiled in",
        "subgroups of 4 to 4; experimental features: chromium-experimental-",
        "subgroup matrices: none",
        "encode ms",
        "one submit ms",
        *FUNCTIONS,
        "GPU ms by kind",
        *KINDS,
        "work by kind",
        "GFLOP,",
        "TFLOP/s",
        "top kernels of denoise",
        "whole image = 2 × encode_text + 20 × denoise + decode_image",
        " s at 64×64",
        "denoise/PyTorch float16",
        "Subgroup-matrix GEMM (tensor cores",
        "skipped on SwiftShader",
    ):
        assert section in text, section


@pytest.mark.browser
@needs_webgpu
def test_float16_library_runs_with_shader_f16_on_lavapipe(
    tiny_libraries: dict[str, Path], webgpu_package: Path, tmp_path: Path, tiny_sd1: Path
) -> None:
    """The float16 library as the GPU run takes it (its random weights in fp16, its device with
    shader-f16), on Mesa's lavapipe (tests/node_webgpu.py): SwiftShader has no shader-f16. And
    the subgroup-matrix GEMM, on lavapipe's cooperative matrices."""
    library_folder = tiny_libraries["float16"]
    node = str(lavapipe_node())
    report = _benchmark(library_folder, webgpu_package, tmp_path, "none", node=node)

    library, on_matrices, on_missing_matrices = report["webgpu"]
    assert "llvmpipe" in library["adapter"]["description"]
    assert "shader-f16" in library["adapter"]["features"]
    _check_timings(library, tiny_sd1, "float16")
    # Its text encoder launches fewer than 32 kernels: one submit.
    assert library["functions"]["denoise"]["submits"] > 1
    # Run again with its GEMMs on lavapipe's subgroup matrices: the same kernels launched.
    matrices = json.loads((library_folder / "matrix-8x8x8-s8.json").read_text())
    assert on_matrices["matrix"] == {
        "config": "8×8×8, subgroups of 8",
        "kernels": len(matrices["kernels"]),
    }
    assert on_matrices["matrix"]["kernels"] > 0
    _check_timings(on_matrices, tiny_sd1, "float16")
    # The same random weights and inputs as the run on the library's own kernels: the same
    # outputs, to float16's rounding of sums taken in another order. The guided UNet call
    # multiplies the difference of its two predictions by 7.5, and their rounding with it
    # (7% of its largest value, where its text encoder's outputs differ by 0.005%); the
    # image is bytes. Kernels that computed something else would differ by about as much as
    # the values themselves.
    differences = on_matrices["outputs_vs_library"]
    assert set(differences) == set(FUNCTIONS)
    for name, difference in differences.items():
        assert library["functions"][name]["output"]["size"] > 0
        assert difference["nonfinite"] == [0, 0], name
        assert difference["max_abs"] > 0, name
        assert difference["max_abs_difference"] <= 0.1 * difference["max_abs"], name
    assert differences["decode_image"]["max_abs_difference"] <= 4
    assert on_missing_matrices["matrix"]["skipped"] == (
        "the adapter has no float16 → float32 subgroup matrices of 16×16×16"
    )
    assert on_missing_matrices["functions"] == {}

    gemm = report["matrix_gemm"]
    assert gemm["config"] == "f16→f32 8×8×8" and gemm["subgroup_sizes"] == [8, 8]
    assert gemm["errors"] == [] and "failed" not in gemm and "cut" not in gemm
    (measured,) = gemm["shapes"]
    assert "x".join(str(measured[d]) for d in "mnk") == MATRIX_SHAPE
    assert len(measured["ms"]) == 2 and min(measured["ms"]) > 0
    # Exact: the operands are multiples of 1/8, so every sum is one that float32 holds.
    assert measured["checked"] > 0 and measured["relative_error"] == 0

    text = (tmp_path / "gpu-report.txt").read_text()
    assert "WebGPU tiny-sd1 float16" in text
    assert "WebGPU tiny-sd1 float16 on subgroup matrices 8×8×8, subgroups of 8" in text
    assert "largest difference from its own kernels' outputs: encode_text" in text
    assert "16×16×16, subgroups of 32: not run, the adapter has no" in text
    assert "f16→f32 8×8×8 fragments, subgroups of 8, 128×128×32 tiles" in text
    assert "subgroup-matrix GEMM (f16→f32 8×8×8): 256×256×96" in text
