"""A float16 build drawing its image on WebGPU with shader-f16, through the browser runtime.

Chromium's SwiftShader has no shader-f16, so the browser tests run a float16 build's float32
fallback. Here the WGSL that a float16 site ships runs as written: on Mesa's lavapipe (a CPU
Vulkan driver with shader-f16) through node's Dawn (tests/node_webgpu.py), with the runtime's
own pipeline (runtime_ts/test/generate.ts): tokenizer, text encoder, scheduler loop, VAE,
pixels. The kernel tests run each float16 kernel the same way (tests/webgpu_kernels.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser import serve
from images import max_diff, psnr
from node_webgpu import run_on_lavapipe

REQUEST = {
    "prompt": "a photo of a red cat",
    "negativePrompt": "a dog",
    "seed": 7,
    "steps": 3,
    "guidance": 7.5,
    "scheduler": "dpm++2m",
}


def _native_args() -> dict:
    return {
        "prompt": REQUEST["prompt"],
        "negative_prompt": REQUEST["negativePrompt"],
        "seed": REQUEST["seed"],
        "steps": REQUEST["steps"],
        "guidance": REQUEST["guidance"],
        "scheduler": REQUEST["scheduler"],
    }


def _generate(folder: Path, out: Path, unsafe: bool) -> tuple[dict, np.ndarray, set[str]]:
    """One generation on lavapipe: its report, its pixels, and the files it fetched of those
    the runtime may load."""
    with serve(folder) as server:
        args = ["--manifest", server.url + "websd-model.json", "--request", json.dumps(REQUEST)]
        args += ["--out", str(out), *(["--unsafe"] if unsafe else [])]
        run_on_lavapipe("generate", args, timeout=1200)
        files = {"/model.wasm", "/matrix-8x8x8-s8.json"}
        fetched = {path for path in files if server.fetched(path)}
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["errors"] == []
    image = np.fromfile(out.with_suffix(".rgba"), np.uint8).reshape(report["height"], -1, 4)
    return report, image, fetched


@pytest.mark.browser
def test_float16_build_draws_the_native_image_with_shader_f16(
    tiny_sd1_fp16, tiny_sd1_build, tmp_path: Path
) -> None:
    """Dawn offers lavapipe's subgroup matrices only with its unsafe APIs allowed (Chrome:
    --enable-unsafe-webgpu); without, the runtime runs the library's own kernels."""
    from websd.native import NativeModel

    report, ours, fetched = _generate(tiny_sd1_fp16.folder, tmp_path / "image", unsafe=False)
    assert "llvmpipe" in report["adapter"] and "shader-f16" in report["features"]
    assert "chromium-experimental-subgroup-matrix" not in report["features"]
    assert report["matrixKernels"] is None and report["matrixPipelines"] == 0
    assert fetched == {"/model.wasm"}  # the float16 library itself, not a fallback

    half = NativeModel(tiny_sd1_fp16.folder).generate(**_native_args()).rgba
    full = NativeModel(tiny_sd1_build.folder).generate(**_native_args()).rgba
    assert ours.shape == half.shape
    # The native float16 library computes what the WGSL does, as the browser tests' float32
    # one does; the float32 build bounds how far float16 may drift at all (docs/models.md).
    assert max_diff(ours, half) <= 2
    assert psnr(ours[..., :3], full[..., :3]) >= 30
    assert (ours[..., 3] == 255).all()


@pytest.mark.browser
def test_gemms_on_subgroup_matrices_draw_the_same_image(tiny_sd1_fp16, tmp_path: Path) -> None:
    """Where the adapter offers the matrices a build's kernels are written for, every GEMM the
    build has a stand-in for multiplies on them, and the image is the native float16 one: the
    same products, summed in fp32 in another order."""
    from websd.native import NativeModel

    (matrices,) = tiny_sd1_fp16.manifest["webgpu"]["matrix_kernels"]
    report, ours, fetched = _generate(tiny_sd1_fp16.folder, tmp_path / "image", unsafe=True)
    assert "chromium-experimental-subgroup-matrix" in report["features"]
    assert report["matrixKernels"] == matrices["path"] == "matrix-8x8x8-s8.json"
    assert report["subgroupMatrices"] is True
    assert report["matrixPipelines"] == matrices["kernels"] > 0
    assert fetched == {"/model.wasm", "/matrix-8x8x8-s8.json"}
    half = NativeModel(tiny_sd1_fp16.folder).generate(**_native_args()).rgba
    assert max_diff(ours, half) <= 2


@pytest.mark.browser
def test_subgroup_matrix_kernels_the_device_rejects_leave_the_librarys(
    tiny_sd1_fp16, tmp_path: Path
) -> None:
    """The feature is experimental: a browser may come to reject WGSL that a site's kernels
    were written in (here, a majorness it does not know). The runtime then runs the library's
    kernels, and draws the same image."""
    from websd.cache import file_sha256
    from websd.native import NativeModel

    folder = tmp_path / "model"
    shutil.copytree(tiny_sd1_fp16.folder, folder)
    kernels = folder / "matrix-8x8x8-s8.json"
    kernels.write_text(kernels.read_text().replace("col_major>", "column_major>"))
    manifest = json.loads((folder / "websd-model.json").read_text())
    (entry,) = manifest["webgpu"]["matrix_kernels"]
    entry |= {"bytes": kernels.stat().st_size, "sha256": file_sha256(kernels)}
    (folder / "websd-model.json").write_text(json.dumps(manifest))

    report, ours, fetched = _generate(folder, tmp_path / "image", unsafe=True)
    assert report["matrixKernels"] == "matrix-8x8x8-s8.json" and fetched == {
        "/model.wasm",
        "/matrix-8x8x8-s8.json",
    }
    assert report["subgroupMatrices"] is False and report["matrixPipelines"] == 0
    half = NativeModel(tiny_sd1_fp16.folder).generate(**_native_args()).rgba
    assert max_diff(ours, half) <= 2
