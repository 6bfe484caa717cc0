"""--dtype float16: fp16 kernels and weights, close to the fp32 build."""

from __future__ import annotations

import numpy as np
import pytest
from images import psnr


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
    full = NativeModel(tiny_sd1_build.folder).generate(**args).rgba[..., :3]
    half = NativeModel(tiny_sd1_fp16.folder).generate(**args).rgba[..., :3]
    db = psnr(half, full)
    assert db >= 30, f"PSNR {db:.1f} dB"


def test_float16_keeps_the_text_encoders_causal_attention(tiny_sd1):
    """ToMixedPrecision (TVM 0.27) drops attention attributes; the text encoder's causal mask
    must survive it, or each token attends to the ones after it."""
    import re

    from websd.assemble import assemble
    from websd.passes.mixed_precision import float16_module
    from websd.spec import BuildOptions, read_spec

    model = assemble(read_spec(tiny_sd1, BuildOptions(dtype="float16")), lambda _: None)
    script = float16_module(model)["encode_text"].script()
    masks = re.findall(r"R\.nn\.attention\(.*causal_mask=([^,)]*)", script)
    assert masks and set(masks) == {'"TopLeft"'}, masks


def test_float16_sums_in_fp32_and_rounds_every_result_but_the_last(tiny_sd1):
    """Every GEMM and convolution accumulates in fp32; its result is only ever read rounded to
    fp16 (so no fp32 activation is stored), except each function's last one, which the output
    is computed from in fp32."""
    import tvm

    from websd.assemble import assemble
    from websd.passes.mixed_precision import float16_module
    from websd.spec import BuildOptions, read_spec

    model = assemble(read_spec(tiny_sd1, BuildOptions(dtype="float16")), lambda _: None)
    module = float16_module(model)
    accumulating = {tvm.ir.Op.get("relax.nn.conv2d"), tvm.ir.Op.get("relax.matmul")}
    for name in model.groups:
        bindings = [b for block in module[name].body.blocks for b in block.bindings]
        sums = [b.var for b in bindings if getattr(b.value, "op", None) in accumulating]
        assert {str(v.ty.dtype) for v in sums} == {"float32"}, name
        for var in sums[:-1]:
            readers = [b.value for b in bindings if var in getattr(b.value, "args", ())]
            assert readers and all(
                r.op.name == "relax.astype" and str(r.attrs.dtype) == "float16" for r in readers
            ), (name, var)


def test_shapes_model_in_float16_is_within_30_db_of_float32():
    """The whole pipeline (text encoder, UNet loop, VAE) of the trained default model, built
    both ways, native runner, same prompts and seeds: PSNR over all images."""
    from websd.build import build_model
    from websd.models.shapes import pipeline_path, quality
    from websd.native import NativeModel
    from websd.spec import BuildOptions

    builds = [build_model(pipeline_path(), options=BuildOptions(dtype=d)) for d in DTYPES]
    assert [b.manifest["dtype"] for b in builds] == list(DTYPES)
    full, half = (NativeModel(b.folder) for b in builds)
    halves, fulls = [], []
    for seed, prompt in enumerate(quality.prompts(6, 2)):
        args = {"prompt": prompt.text, "seed": seed, "steps": quality.STEPS}
        fulls.append(full.generate(**args).rgba[..., :3])
        halves.append(half.generate(**args).rgba[..., :3])
    db = psnr(np.stack(halves), np.stack(fulls))
    print(f"shapes model, float16 against float32: PSNR {db:.1f} dB")
    assert db >= 30, f"PSNR {db:.1f} dB"


DTYPES = ("float32", "float16")


@pytest.mark.parametrize(
    ("sample_size", "asked", "chosen"),
    [
        (8, None, "float32"),  # tiny-sd1's own 64 px
        (64, None, "float16"),  # SD 1.5's 512 px
        (64, "float32", "float32"),
    ],
)
def test_full_size_models_default_to_float16(tiny_sd1, tmp_path, sample_size, asked, chosen):
    import json
    import shutil

    from websd.spec import BuildOptions, read_spec

    folder = shutil.copytree(tiny_sd1, tmp_path / "model")
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps(config | {"sample_size": sample_size}))
    assert read_spec(folder, BuildOptions(dtype=asked)).dtype == chosen


@pytest.mark.slow
def test_sd15_unet_in_float16_is_within_1e_2_of_pytorch_float32(sd15):
    """The full-size SD 1.5 UNet (random weights), float16 as the native runner compiles it,
    against PyTorch in float32: one call at 256×256 (the smallest size a build takes), the
    relative L2 error of the noise prediction."""
    import torch
    import tvm
    from diffusers import UNet2DConditionModel
    from tvm import relax

    from websd.assemble import assemble
    from websd.passes.mixed_precision import to_float16
    from websd.passes.pipeline import lowering, prepare
    from websd.spec import BuildOptions, ImageSize, read_spec
    from websd.targets import NATIVE_CPU, target

    spec = read_spec(sd15, BuildOptions(dtype="float16", sizes=(ImageSize(256, 256),)))
    model = to_float16(assemble(spec, lambda _: None))
    name = "denoise_cond_256x256"
    cpu = target(NATIVE_CPU)
    module = prepare(tvm.IRModule({name: model.module[name]}))
    vm = relax.VirtualMachine(relax.build(module, cpu, relax_pipeline=lowering(cpu)), tvm.cpu())

    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 32, 32, generator=generator)
    timestep = torch.tensor([500.0])
    text = torch.randn(1, 77, 768, generator=generator)
    weights = [tvm.runtime.tensor(model.weights[p]) for p in model.param_names[model.groups[name]]]
    inputs = [tvm.runtime.tensor(x.numpy()) for x in (latents, timestep, text)]
    ours = vm[name](*inputs, weights).numpy()
    with torch.no_grad():
        unet = UNet2DConditionModel.from_pretrained(sd15 / "unet")
        reference = unet(latents, timestep, text).sample.numpy()
    error = np.linalg.norm(ours - reference) / np.linalg.norm(reference)
    print(f"relative error {error:.2e}")
    assert error <= 1e-2
