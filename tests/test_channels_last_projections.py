"""A projection next to a permute between NCHW and channels-last reads or writes that layout
itself: no transpose kernel is left, and the numbers are the same. SD 1.x projects with 1×1
convolutions at both ends of a transformer, SD 2.x with linear layers on tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu

BATCH, CHANNELS, INNER, SIDE = 2, 32, 48, 8


def _module(dtype: str):
    """A UNet transformer with convolutional projections (SD 1.x), around a stand-in for its
    blocks: proj_in, to tokens, a layer norm, back to NCHW, proj_out, plus the residual."""
    from tvm import relax

    def tensor(name: str, shape: tuple[int, ...]) -> relax.Var:
        return relax.Var(name, relax.TensorType(shape, dtype))

    x = tensor("x", (BATCH, CHANNELS, SIDE, SIDE))
    w_in, b_in = tensor("w_in", (INNER, CHANNELS, 1, 1)), tensor("b_in", (1, INNER, 1, 1))
    w_out, b_out = tensor("w_out", (CHANNELS, INNER, 1, 1)), tensor("b_out", (1, CHANNELS, 1, 1))
    builder = relax.BlockBuilder()
    gamma, beta = tensor("gamma", (INNER,)), tensor("beta", (INNER,))
    with builder.function("main", [x, w_in, b_in, gamma, beta, w_out, b_out]):
        with builder.dataflow():

            def project(value, weight, bias):
                conv = builder.emit(relax.op.nn.conv2d(value, weight, out_dtype="float32"))
                if dtype != "float32":
                    conv = builder.emit(relax.op.astype(conv, dtype))
                return builder.emit(relax.op.add(conv, bias))

            inner = project(x, w_in, b_in)
            inner = builder.emit(relax.op.permute_dims(inner, [0, 2, 3, 1]))
            tokens = builder.emit(relax.op.reshape(inner, (BATCH, SIDE * SIDE, INNER)))
            tokens = builder.emit(relax.op.nn.layer_norm(tokens, gamma, beta, [2]))
            inner = builder.emit(relax.op.reshape(tokens, (BATCH, SIDE, SIDE, INNER)))
            inner = builder.emit(relax.op.permute_dims(inner, [0, 3, 1, 2]))
            out = builder.emit_output(relax.op.add(project(inner, w_out, b_out), x))
        builder.emit_func_output(out)
    return builder.get()


def _inputs(dtype: str) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [
        (BATCH, CHANNELS, SIDE, SIDE),
        (INNER, CHANNELS, 1, 1),
        (1, INNER, 1, 1),
        (INNER,),
        (INNER,),
        (CHANNELS, INNER, 1, 1),
        (1, CHANNELS, 1, 1),
    ]
    return [(rng.standard_normal(shape) * 0.5).astype(dtype) for shape in shapes]


def _run_on_cpu(module, inputs: list[np.ndarray]) -> np.ndarray:
    import tvm
    from tvm import relax

    from websd.targets import NATIVE_CPU, target

    executable = relax.build(module, target=target(NATIVE_CPU))
    vm = relax.VirtualMachine(executable, tvm.cpu())
    return vm["main"](*(tvm.runtime.tensor(a) for a in inputs)).numpy()


def _kernels(lowered) -> list[str]:
    from tvm import relax

    return [
        b.value.op.name_hint
        for block in lowered["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
    ]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_no_transpose_kernel_is_left_on_webgpu(dtype: str) -> None:
    """Before: proj_in, transpose, layer norm, transpose, proj_out: 5 kernels."""
    kernels = _kernels(lowered_for_webgpu(_module(dtype)))
    assert len(kernels) == 3, kernels
    assert not any("transpose" in name for name in kernels), kernels


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_same_numbers_as_the_convolutions_and_permutes(dtype: str) -> None:
    from websd.passes.channels_last_projections import ChannelsLastProjections

    module, inputs = _module(dtype), _inputs(dtype)
    ours = _run_on_cpu(ChannelsLastProjections()(module), inputs)
    np.testing.assert_array_equal(ours, _run_on_cpu(module, inputs))
    x, w_in, b_in, gamma, beta, w_out, b_out = (torch.from_numpy(a).float() for a in inputs)
    inner = (torch.nn.functional.conv2d(x, w_in) + b_in).permute(0, 2, 3, 1)
    inner = torch.nn.functional.layer_norm(inner, (INNER,), gamma, beta).permute(0, 3, 1, 2)
    reference = torch.nn.functional.conv2d(inner, w_out) + b_out + x
    tolerance = 1e-4 if dtype == "float32" else 5e-2
    np.testing.assert_allclose(ours.astype(np.float32), reference, rtol=tolerance, atol=tolerance)


def _linear_module(dtype: str):
    """SD 2.x's way out of a transformer: proj_out, a linear layer on tokens, then back to
    NCHW, plus the residual."""
    from tvm import relax

    def tensor(name: str, shape: tuple[int, ...]) -> relax.Var:
        return relax.Var(name, relax.TensorType(shape, dtype))

    tokens = tensor("tokens", (BATCH, SIDE * SIDE, INNER))
    weight, bias = tensor("weight", (INNER, CHANNELS)), tensor("bias", (CHANNELS,))
    residual = tensor("residual", (BATCH, CHANNELS, SIDE, SIDE))
    builder = relax.BlockBuilder()
    with builder.function("main", [tokens, weight, bias, residual]):
        with builder.dataflow():
            out = builder.emit(relax.op.matmul(tokens, weight, out_dtype="float32"))
            if dtype != "float32":
                out = builder.emit(relax.op.astype(out, dtype))
            out = builder.emit(relax.op.add(out, bias))
            out = builder.emit(relax.op.reshape(out, (BATCH, SIDE, SIDE, CHANNELS)))
            out = builder.emit(relax.op.permute_dims(out, [0, 3, 1, 2]))
            out = builder.emit_output(relax.op.add(out, residual))
        builder.emit_func_output(out)
    return builder.get()


def _linear_inputs(dtype: str) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    shapes = [
        (BATCH, SIDE * SIDE, INNER),
        (INNER, CHANNELS),
        (CHANNELS,),
        (BATCH, CHANNELS, SIDE, SIDE),
    ]
    return [(rng.standard_normal(shape) * 0.5).astype(dtype) for shape in shapes]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_linear_projection_writes_channels_first_on_webgpu(dtype: str) -> None:
    """Before: the GEMM with its bias, then the permute with the residual add: 2 kernels. The
    GEMM now writes NCHW, and the residual add fuses into it."""
    lowered = lowered_for_webgpu(_linear_module(dtype))
    kernels = _kernels(lowered)
    assert len(kernels) == 1, kernels
    assert "pointwise" in kernels[0] and "transpose" not in kernels[0], kernels


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_linear_projection_keeps_its_numbers(dtype: str) -> None:
    from websd.passes.channels_last_projections import ChannelsLastProjections

    module, inputs = _linear_module(dtype), _linear_inputs(dtype)
    ours = _run_on_cpu(ChannelsLastProjections()(module), inputs)
    np.testing.assert_array_equal(ours, _run_on_cpu(module, inputs))
    tokens, weight, bias, residual = (torch.from_numpy(a).float() for a in inputs)
    out = (tokens @ weight + bias).reshape(BATCH, SIDE, SIDE, CHANNELS).permute(0, 3, 1, 2)
    tolerance = 1e-4 if dtype == "float32" else 5e-2
    np.testing.assert_allclose(
        ours.astype(np.float32), out + residual, rtol=tolerance, atol=tolerance
    )


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_linear_projection_matches_the_cpu_on_webgpu(dtype: str, tmp_path) -> None:
    """The GEMM that reads tokens as NHWC and writes NCHW, scheduled by websd's GEMM rule (its
    weight is (I, O), not a convolution's (O, I)), on real WebGPU, against the same module
    on the CPU: in float16, within one unit in the last place."""
    module, inputs = _linear_module(dtype), _linear_inputs(dtype)
    result = run_on_webgpu(module, {"main": inputs}, tmp_path)
    assert result["errors"] == []
    expected = _run_on_cpu(module, inputs).astype(np.float32)
    tolerance = 1e-4 if dtype == "float32" else FLOAT16_RTOL
    np.testing.assert_allclose(result["outputs"]["main"], expected, rtol=tolerance, atol=tolerance)
