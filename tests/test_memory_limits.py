"""WebGPU memory needs, read from the lowered module: what the manifest asks of the adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from websd.memory import DEFAULT_BINDING, DEFAULT_BUFFER, memory_needs, workgroup_limits

MIB = 1 << 20


def _attention_module(batch: int, tokens: int, heads: int, head_dim: int):
    from tvm import relax

    shape = (batch, tokens, heads, head_dim)
    q = relax.Var("q", relax.TensorType(shape, "float32"))
    builder = relax.BlockBuilder()
    with builder.function("main", [q]):
        with builder.dataflow():
            out = builder.emit_output(relax.op.nn.attention(q, q, q))
        builder.emit_func_output(out)
    return builder.get()


def _lower(module, pipeline: str):
    from tvm import relax

    from websd.passes.pipeline import lowering
    from websd.targets import WEBGPU, target

    webgpu = target(WEBGPU)
    with webgpu:
        if pipeline == "tvm":
            return relax.get_default_pipeline(webgpu)(module)
        return lowering(webgpu)(module)


def test_kernel_workspaces_are_counted() -> None:
    """TVM's attention keeps its [B·H, S, S] scores in a buffer of its own, unseen by Relax:
    2 × 8 heads × 4096² fp32 is SD-1.5's 1 GiB."""
    needs = memory_needs(_lower(_attention_module(2, 4096, 8, 40), "tvm"), weight_bytes=0)
    scores = 2 * 8 * 4096 * 4096 * 4
    assert needs.largest_binding_bytes == needs.largest_buffer_bytes == scores
    assert needs.activation_bytes >= scores
    assert needs.limits()["maxStorageBufferBindingSize"] == scores


def test_fused_attention_binds_only_its_inputs_and_output() -> None:
    needs = memory_needs(_lower(_attention_module(2, 4096, 8, 40), "websd"), weight_bytes=7)
    tensor = 2 * 4096 * 8 * 40 * 4
    assert needs.largest_binding_bytes == needs.largest_tensor_bytes == tensor
    assert needs.activation_bytes == tensor  # the output: q is the caller's
    assert needs.peak_bytes == tensor + 7
    assert needs.limits() == {
        "maxStorageBufferBindingSize": DEFAULT_BINDING,
        "maxBufferSize": DEFAULT_BUFFER,
    }


def _linear_layer_wgsl(dtype: str) -> str:
    """A transformer's feed-forward GEMM at SD 1.5's 64 × 64, batch 2, summed in fp32."""
    from tvm import relax

    from websd.compile import wgsl_source
    from websd.targets import WEBGPU, target

    x = relax.Var("x", relax.TensorType((2, 4096, 320), dtype))
    w = relax.Var("w", relax.TensorType((320, 1280), dtype))
    builder = relax.BlockBuilder()
    with builder.function("main", [x, w]):
        with builder.dataflow():
            out = builder.emit(relax.op.matmul(x, w, out_dtype="float32"))
            out = builder.emit_output(relax.op.astype(out, dtype))
        builder.emit_func_output(out)
    lowered = _lower(builder.get(), "websd")
    return wgsl_source(relax.build(lowered, target=target(WEBGPU), relax_pipeline=None))


def test_float16_tiles_ask_for_more_workgroup_memory() -> None:
    """float16 GEMMs stage their tiles in fp32 (websd.schedules.gemm), in arrays of vec4s and
    vec2s: 128 × 160 outputs take 16 steps of k of (128 + 4) + (160 + 2) values (rows and
    padding) of 4 bytes, over WebGPU's default 16 KiB. float32 tiles, half as deep in k, fit
    it."""
    assert workgroup_limits(_linear_layer_wgsl("float16")) == {
        "maxComputeWorkgroupStorageSize": 16 * (128 + 4 + 160 + 2) * 4
    }
    assert workgroup_limits(_linear_layer_wgsl("float32")) == {}


def test_manifest_records_the_needs(tiny_sd1_build) -> None:
    webgpu = tiny_sd1_build.manifest["webgpu"]
    assert 0 < webgpu["largest_tensor_bytes"] <= webgpu["largest_binding_bytes"]
    assert webgpu["largest_binding_bytes"] <= webgpu["largest_buffer_bytes"]
    assert webgpu["peak_bytes"] > webgpu["weight_bytes"] > 0
    assert webgpu["limits"] == {
        "maxStorageBufferBindingSize": DEFAULT_BINDING,
        "maxBufferSize": DEFAULT_BUFFER,
    }


@pytest.mark.slow
def test_sd15_float16_at_512_fits_webgpu_default_limits(sd15: Path) -> None:
    """Import, float16 and WebGPU lowering of the full-size model (random weights): no link,
    no native build. Every binding within 128 MiB and every buffer within 256 MiB."""
    import tvm

    from websd.assemble import assemble
    from websd.memory import tensor_bytes
    from websd.passes.mixed_precision import float16_module
    from websd.passes.pipeline import prepare
    from websd.spec import BuildOptions, read_spec, resolve_source

    model = assemble(read_spec(resolve_source(sd15), BuildOptions(dtype="float16")), print)
    model.weights.clear()  # sizes are all in the module: no weight is converted or kept
    module = float16_module(model)
    casts = {group: module[f"{f}_transform_params"] for f, group in model.groups.items()}
    weights = sum(tensor_bytes(t) for cast in casts.values() for t in cast.ret_ty.fields)
    functions = tvm.IRModule({f: module[f] for f in model.groups})
    needs = memory_needs(_lower(prepare(functions), "websd"), weights)
    print(needs)
    assert needs.largest_binding_bytes <= DEFAULT_BINDING, needs
    assert needs.largest_buffer_bytes <= DEFAULT_BUFFER, needs
    assert needs.peak_bytes <= 2_500_000_000, needs
