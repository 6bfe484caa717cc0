"""--dtype float16: fp16 kernels and weights, close to the fp32 build."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_sd1_fp16(tiny_sd1, tmp_path_factory):
    from websd.build import build_model
    from websd.spec import BuildOptions

    out = tmp_path_factory.mktemp("fp16") / "tiny-sd1"
    return build_model(tiny_sd1, out, BuildOptions(dtype="float16"))


def test_manifest_and_kernels_ask_for_shader_f16(tiny_sd1_fp16):
    manifest = tiny_sd1_fp16.manifest
    assert manifest["dtype"] == "float16"
    assert manifest["webgpu"]["features"] == ["shader-f16"]
    assert "enable f16;" in (tiny_sd1_fp16.folder / "model.wgsl").read_text()


def test_weights_are_half_precision_where_kernels_read_half(tiny_sd1_fp16, tiny_sd1_build):
    import json

    index = json.loads((tiny_sd1_fp16.folder / "tensor-cache.json").read_text())
    dtypes = {r["dtype"] for shard in index["records"] for r in shard["records"]}
    assert "float16" in dtypes
    assert tiny_sd1_fp16.manifest["weights"]["bytes"] < tiny_sd1_build.manifest["weights"]["bytes"]


def test_guided_and_unguided_unet_share_their_weights(tiny_sd1_fp16):
    functions = tiny_sd1_fp16.manifest["functions"]
    assert functions["denoise_64x64"]["params"] == functions["denoise_cond_64x64"]["params"]


def test_image_is_close_to_float32(tiny_sd1_fp16, tiny_sd1_build):
    from websd.native import NativeModel

    args = {"prompt": "a red cat", "negative_prompt": "a dog", "seed": 5, "steps": 4}
    full = NativeModel(tiny_sd1_build.folder).generate(**args).rgba[..., :3].astype(float)
    half = NativeModel(tiny_sd1_fp16.folder).generate(**args).rgba[..., :3].astype(float)
    mse = float(((full - half) ** 2).mean())
    psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
    assert psnr >= 30, f"PSNR {psnr:.1f} dB"
