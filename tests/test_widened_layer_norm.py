"""The fp16 → fp32 cast in front of a layer norm runs inside the norm's kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu

SHAPE = (2, 64, 320)


def _module():
    """astype(layer_norm(astype(x16, f32), γ, β), f16): a float16 UNet's transformer norm."""
    from tvm import relax

    builder = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(SHAPE, "float16"))
    gamma = relax.Var("gamma", relax.TensorType(SHAPE[-1:], "float32"))
    beta = relax.Var("beta", relax.TensorType(SHAPE[-1:], "float32"))
    with builder.function("main", [x, gamma, beta]):
        with builder.dataflow():
            wide = builder.emit(relax.op.astype(x, "float32"))
            normed = builder.emit(relax.op.nn.layer_norm(wide, gamma, beta, [2], epsilon=1e-5))
            out = builder.emit_output(relax.op.astype(normed, "float16"))
        builder.emit_func_output(out)
    return builder.get()


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(SHAPE) * 3 + 5).astype(np.float16)
    return [
        x,
        rng.standard_normal(SHAPE[-1], np.float32),
        rng.standard_normal(SHAPE[-1], np.float32),
    ]


def _run_on_cpu(module) -> np.ndarray:
    import tvm
    from tvm import relax

    from websd.targets import NATIVE_CPU, target

    executable = relax.build(module, target=target(NATIVE_CPU))
    vm = relax.VirtualMachine(executable, tvm.cpu())
    return vm["main"](*(tvm.runtime.tensor(a) for a in _inputs())).numpy()


def test_cast_and_norm_are_one_kernel_on_webgpu() -> None:
    from tvm import relax

    lowered = lowered_for_webgpu(_module())
    kernels = [
        b.value.op.name_hint
        for block in lowered["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
    ]
    assert len(kernels) == 1 and "layer_norm_widened" in kernels[0], kernels


def test_same_numbers_as_the_cast_then_the_norm() -> None:
    from websd.passes.widened_layer_norm import WidenedLayerNorm

    module = _module()
    ours = _run_on_cpu(WidenedLayerNorm()(module))
    np.testing.assert_array_equal(ours, _run_on_cpu(module))
    x, gamma, beta = (torch.from_numpy(a) for a in _inputs())
    reference = torch.nn.functional.layer_norm(x.float(), SHAPE[-1:], gamma, beta, eps=1e-5)
    np.testing.assert_allclose(ours.astype(np.float32), reference.half().float(), atol=4e-3)


@pytest.mark.browser
@needs_webgpu
def test_matches_torch_on_webgpu(tmp_path) -> None:
    """The widened norm's kernel, with shader-f16 (webgpu_kernels), against the cast and the
    norm on the CPU: within one unit in the last place of float16."""
    result = run_on_webgpu(_module(), {"main": _inputs()}, tmp_path)
    assert result["errors"] == []
    expected = _run_on_cpu(_module()).astype(np.float32)
    np.testing.assert_allclose(
        result["outputs"]["main"], expected, rtol=FLOAT16_RTOL, atol=FLOAT16_RTOL
    )
