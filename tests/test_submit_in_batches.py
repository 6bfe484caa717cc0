"""The lowered WebGPU functions hand their kernels to the GPU in batches (`websd.submit`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from webgpu_kernels import lowered_for_webgpu, needs_webgpu, run_on_webgpu

KERNELS = 70
SIZE = 8


def _chain():
    """`KERNELS` matrix products in a row: each one kernel (products never fuse)."""
    from tvm import relax

    builder = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((SIZE, SIZE), "float32"))
    w = relax.Var("w", relax.TensorType((SIZE, SIZE), "float32"))
    with builder.function("main", [x, w]):
        with builder.dataflow():
            value = x
            for _ in range(KERNELS):
                value = builder.emit(relax.op.matmul(value, w))
            out = builder.emit_output(value)
        builder.emit_func_output(out)
    return builder.get()


def _launches(function) -> str:
    """The function's kernel calls (K) and submits (S), in order."""
    from tvm import relax

    from websd.passes.submit_in_batches import SUBMIT

    order = []
    for block in function.body.blocks:
        for binding in block.bindings:
            callee = getattr(binding.value, "op", None)
            if isinstance(callee, relax.ExternFunc) and callee.global_symbol == SUBMIT:
                order.append("S")
            elif isinstance(callee, relax.GlobalVar):
                order.append("K")
    return "".join(order)


def test_a_submit_after_every_32_kernels_and_after_the_last() -> None:
    from websd.passes.submit_in_batches import KERNELS_PER_SUBMIT

    assert KERNELS_PER_SUBMIT == 32
    launches = _launches(lowered_for_webgpu(_chain())["main"])
    assert launches == ("K" * 32 + "S") * 2 + "K" * 6 + "S"


def test_a_function_without_kernels_never_submits() -> None:
    from tvm import relax

    builder = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((SIZE,), "float32"))
    with builder.function("main", [x]):
        builder.emit_func_output(x)
    assert _launches(lowered_for_webgpu(builder.get())["main"]) == ""


@pytest.mark.browser
@needs_webgpu
def test_batched_chain_computes_the_same_product_on_webgpu(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SIZE, SIZE)).astype(np.float32)
    # Orthogonal, so the product of 70 keeps its scale.
    w = np.linalg.qr(rng.standard_normal((SIZE, SIZE)))[0].astype(np.float32)
    result = run_on_webgpu(_chain(), {"main": [x, w]}, tmp_path)
    assert result["errors"] == []
    expected = x @ np.linalg.matrix_power(w.astype(np.float64), KERNELS)
    np.testing.assert_allclose(result["outputs"]["main"], expected, atol=1e-4)
