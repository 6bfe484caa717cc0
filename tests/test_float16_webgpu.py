"""A float16 build drawing its image on WebGPU with shader-f16, through the browser runtime.

Chromium's SwiftShader has no shader-f16, so the browser tests run a float16 build's float32
fallback, and the kernel tests run float16 kernels rewritten to f32. Here the WGSL that a
float16 site ships runs as written: on Mesa's lavapipe (a CPU Vulkan driver with shader-f16,
fetched by scripts/fetch_lavapipe.sh) through node's Dawn (npm webgpu), with the runtime's own
pipeline (runtime_ts/test/generate.ts): tokenizer, text encoder, scheduler loop, VAE, pixels.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from browser import serve
from images import max_diff, psnr

ROOT = Path(__file__).parents[1]
LAVAPIPE = Path(__file__).parent / ".artifacts" / "lavapipe" / "lvp_icd.json"
CHROMIUM_VULKAN_LOADER = Path("/usr/lib/chromium")  # its libvulkan.so.1
REQUEST = {
    "prompt": "a photo of a red cat",
    "negativePrompt": "a dog",
    "seed": 7,
    "steps": 3,
    "guidance": 7.5,
    "scheduler": "dpm++2m",
}


@pytest.fixture(scope="module")
def lavapipe() -> Path:
    if not LAVAPIPE.is_file():
        pytest.fail(f"{LAVAPIPE} is missing: run scripts/fetch_lavapipe.sh (scripts/setup.sh does)")
    return LAVAPIPE


@pytest.mark.browser
def test_float16_build_draws_the_native_image_with_shader_f16(
    tiny_sd1_fp16, tiny_sd1_build, webgpu_package: Path, lavapipe: Path, tmp_path: Path
) -> None:
    from websd.native import NativeModel

    env = os.environ | {
        "VK_ICD_FILENAMES": str(lavapipe),
        "LD_LIBRARY_PATH": str(CHROMIUM_VULKAN_LOADER),
    }
    out = tmp_path / "image"
    with serve(tiny_sd1_fp16.folder) as server:
        command = ["node", str(ROOT / "runtime_ts/test/generate.mjs")]
        command += ["--webgpu", str(webgpu_package), "--manifest", server.url + "websd-model.json"]
        command += ["--request", json.dumps(REQUEST), "--out", str(out)]
        subprocess.run(command, env=env, check=True, timeout=1200)
        library_fetched = bool(server.fetched("/model.wasm"))

    report = json.loads(out.with_suffix(".json").read_text())
    assert "llvmpipe" in report["adapter"] and "shader-f16" in report["features"]
    assert report["errors"] == []
    assert library_fetched  # the float16 library itself, not a fallback
    ours = np.fromfile(out.with_suffix(".rgba"), np.uint8).reshape(report["height"], -1, 4)

    args = {
        "prompt": REQUEST["prompt"],
        "negative_prompt": REQUEST["negativePrompt"],
        "seed": REQUEST["seed"],
        "steps": REQUEST["steps"],
        "guidance": REQUEST["guidance"],
        "scheduler": REQUEST["scheduler"],
    }
    half = NativeModel(tiny_sd1_fp16.folder).generate(**args).rgba
    full = NativeModel(tiny_sd1_build.folder).generate(**args).rgba
    assert ours.shape == half.shape
    # The native float16 library computes what the WGSL does, as the browser tests' float32
    # one does; the float32 build bounds how far float16 may drift at all (docs/models.md).
    assert max_diff(ours, half) <= 2
    assert psnr(ours[..., :3], full[..., :3]) >= 30
    assert (ours[..., 3] == 255).all()
