"""A float16 build drawing its image on WebGPU with shader-f16, through the browser runtime.

Chromium's SwiftShader has no shader-f16, so the browser tests run a float16 build's float32
fallback. Here the WGSL that a float16 site ships runs as written: on Mesa's lavapipe (a CPU
Vulkan driver with shader-f16) through node's Dawn (tests/node_webgpu.py), with the runtime's
own pipeline (runtime_ts/test/generate.ts): tokenizer, text encoder, scheduler loop, VAE,
pixels. The kernel tests run each float16 kernel the same way (tests/webgpu_kernels.py).
"""

from __future__ import annotations

import json
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


@pytest.mark.browser
def test_float16_build_draws_the_native_image_with_shader_f16(
    tiny_sd1_fp16, tiny_sd1_build, tmp_path: Path
) -> None:
    from websd.native import NativeModel

    out = tmp_path / "image"
    with serve(tiny_sd1_fp16.folder) as server:
        args = ["--manifest", server.url + "websd-model.json", "--request", json.dumps(REQUEST)]
        run_on_lavapipe("generate", [*args, "--out", str(out)], timeout=1200)
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
