"""float16 builds drop exact cast round trips, such as the one after every attention."""

from __future__ import annotations

import pytest

SHAPE = (2, 64, 8, 40)


def _head_merge(dtype: str, wide: str):
    """attention's output, heads merged and cast to `wide` and back (diffusers' `.to(dtype)`
    after ToMixedPrecision), into an output projection."""
    from tvm import relax

    builder = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, dtype))
    w = relax.Var("w", relax.TensorType((320, 320), dtype))
    with builder.function("main", [x, w]):
        with builder.dataflow():
            merged = builder.emit(relax.op.reshape(x, (2, 64, 320)))
            there = builder.emit(relax.op.astype(merged, wide))
            back = builder.emit(relax.op.astype(there, dtype))
            out = builder.emit_output(relax.op.matmul(back, w))
        builder.emit_func_output(out)
    return builder.get()


def _casts(module) -> int:
    return module["main"].script().count("R.astype")


def test_exact_round_trip_is_dropped() -> None:
    from websd.passes.drop_cast_round_trips import DropCastRoundTrips

    assert _casts(_head_merge("float16", "float32")) == 2
    assert _casts(DropCastRoundTrips()(_head_merge("float16", "float32"))) == 0


@pytest.mark.parametrize(("dtype", "narrow"), [("float32", "float16"), ("float16", "int8")])
def test_lossy_round_trip_is_kept(dtype: str, narrow: str) -> None:
    """fp32 → fp16 → fp32 rounds; fp16 → int8 → fp16 truncates."""
    from websd.passes.drop_cast_round_trips import DropCastRoundTrips

    assert _casts(DropCastRoundTrips()(_head_merge(dtype, narrow))) == 2


def test_head_merge_after_attention_launches_no_kernel_on_webgpu() -> None:
    """Without the casts, the merge of attention's heads lowers to a reshape of the buffer
    (no kernel): only the projection's GEMM is left."""
    from tvm import relax
    from webgpu_kernels import lowered_for_webgpu

    from websd.passes.drop_cast_round_trips import DropCastRoundTrips

    lowered = lowered_for_webgpu(DropCastRoundTrips()(_head_merge("float16", "float32")))
    launches = [
        binding.value.op.name_hint
        for block in lowered["main"].body.blocks
        for binding in block.bindings
        if isinstance(getattr(binding.value, "op", None), relax.GlobalVar)
    ]
    assert launches == ["matmul"]
