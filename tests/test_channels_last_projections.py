"""A 1×1 convolution next to a permute to or from channels-last reads or writes that layout
itself: no transpose kernel is left, and the numbers are the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from webgpu_kernels import lowered_for_webgpu

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


def _run_on_cpu(module, dtype: str) -> np.ndarray:
    import tvm
    from tvm import relax

    from websd.targets import NATIVE_CPU, target

    executable = relax.build(module, target=target(NATIVE_CPU))
    vm = relax.VirtualMachine(executable, tvm.cpu())
    return vm["main"](*(tvm.runtime.tensor(a) for a in _inputs(dtype))).numpy()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_no_transpose_kernel_is_left_on_webgpu(dtype: str) -> None:
    """Before: proj_in, transpose, layer norm, transpose, proj_out: 5 kernels."""
    from tvm import relax

    lowered = lowered_for_webgpu(_module(dtype))
    kernels = [
        b.value.op.name_hint
        for block in lowered["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
    ]
    assert len(kernels) == 3, kernels
    assert not any("transpose" in name for name in kernels), kernels


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_same_numbers_as_the_convolutions_and_permutes(dtype: str) -> None:
    from websd.passes.channels_last_projections import ChannelsLastProjections

    module = _module(dtype)
    ours = _run_on_cpu(ChannelsLastProjections()(module), dtype)
    np.testing.assert_array_equal(ours, _run_on_cpu(module, dtype))
    x, w_in, b_in, gamma, beta, w_out, b_out = (torch.from_numpy(a).float() for a in _inputs(dtype))
    inner = (torch.nn.functional.conv2d(x, w_in) + b_in).permute(0, 2, 3, 1)
    inner = torch.nn.functional.layer_norm(inner, (INNER,), gamma, beta).permute(0, 3, 1, 2)
    reference = torch.nn.functional.conv2d(inner, w_out) + b_out + x
    tolerance = 1e-4 if dtype == "float32" else 5e-2
    np.testing.assert_allclose(ours.astype(np.float32), reference, rtol=tolerance, atol=tolerance)
