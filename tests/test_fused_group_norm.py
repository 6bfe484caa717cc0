"""WebGPU group norm: statistics kernel plus fused elementwise ops, against PyTorch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu, stored

TOLERANCE = {
    "float32": {"rtol": 1e-5, "atol": 1e-5},
    "float16": {"rtol": FLOAT16_RTOL, "atol": 1e-3},
}


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]
    groups: int
    silu: bool = False

    def inputs(self, dtype: str = "float32") -> list[np.ndarray]:
        rng = np.random.default_rng(len(self.name))
        channels = self.shape[1]
        # An offset mean, as activations have: a one-pass variance would lose digits here.
        x = rng.standard_normal(self.shape, dtype=np.float32) * 3 + 20
        gamma, beta = (rng.standard_normal(channels, np.float32) for _ in range(2))
        return stored([x, gamma, beta], dtype)

    def reference(self, dtype: str) -> np.ndarray:
        x, gamma, beta = (torch.from_numpy(a) for a in self.inputs(dtype))
        out = torch.nn.functional.group_norm(x, self.groups, gamma, beta, eps=1e-6)
        return (torch.nn.functional.silu(out) if self.silu else out).numpy()


CASES = [
    Case("unet", (2, 32, 8, 8), 8, silu=True),  # one 256-element slab per workgroup
    Case("vae_attention", (1, 64, 100), 32),  # 3-D, slabs of 200: threads left idle
    Case("ragged", (1, 24, 37, 41), 4),  # slabs of 9102: a partial last sweep
    # Slabs of 133120, past one workgroup's share: 4 chunks, the last one partly empty.
    Case("chunked", (1, 4, 256, 260), 2, silu=True),
]


def _cast(builder, value, dtype: str):
    from tvm import relax

    return value if value.ty.dtype == dtype else builder.emit(relax.op.astype(value, dtype))


def _module(cases: list[Case], dtype: str = "float32"):
    """One function per case; in float16, as float16 builds normalize: in fp32, between casts."""
    from tvm import relax

    builder = relax.BlockBuilder()
    for case in cases:
        x = relax.Var("x", relax.TensorType(case.shape, dtype))
        gamma = relax.Var("gamma", relax.TensorType((case.shape[1],), dtype))
        beta = relax.Var("beta", relax.TensorType((case.shape[1],), dtype))
        with builder.function(case.name, [x, gamma, beta]):
            with builder.dataflow():
                wide = [_cast(builder, v, "float32") for v in (x, gamma, beta)]
                axes = list(range(2, len(case.shape)))
                out = relax.op.nn.group_norm(*wide, case.groups, 1, axes, epsilon=1e-6)
                if case.silu:
                    out = relax.op.nn.silu(builder.emit(out))
                result = builder.emit_output(_cast(builder, builder.emit(out), dtype))
            builder.emit_func_output(result)
    return builder.get()


def test_group_norm_is_statistics_plus_one_fused_elementwise_kernel() -> None:
    from tvm import relax

    from websd.kernels.group_norm import slab_chunks

    module = lowered_for_webgpu(_module(CASES))
    for case in CASES:
        calls = [
            b.value.op.name_hint
            for block in module[case.name].body.blocks
            for b in block.bindings
            if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
        ]
        *stats, normalize = calls
        slab = math.prod(case.shape[1:]) // case.groups
        chunked = ["group_norm_partial_sums"] if slab_chunks(slab) > 1 else []
        assert [name.rstrip("0123456789_") for name in stats] == [*chunked, "group_norm_stats"]
        assert "group_norm" not in normalize  # TVM's legalization is gone


def test_only_slabs_too_large_for_one_workgroup_are_chunked() -> None:
    """A slab of SD 1.5's UNet at 512 × 512 is one workgroup's (10 channels of 64 × 64), or
    two after a skip connection's concatenation (30 channels of 64 × 64); the VAE decoder's
    at full size (4 channels of 512 × 512) are spread over 16."""
    from websd.kernels.group_norm import slab_chunks

    assert slab_chunks(10 * 64 * 64) == 1
    assert slab_chunks(30 * 64 * 64) == 2
    assert slab_chunks(4 * 512 * 512) == 16


@pytest.fixture(scope="module", params=["float32", "float16"])
def webgpu_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every case in one library, in `request.param`, run as webgpu_kernels says."""
    dtype = request.param
    inputs = {case.name: case.inputs(dtype) for case in CASES}
    folder = tmp_path_factory.mktemp(f"group_norm_{dtype}")
    return {"dtype": dtype, **run_on_webgpu(_module(CASES, dtype), inputs, folder)}


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_on_webgpu(webgpu_results: dict, case: Case) -> None:
    assert webgpu_results["errors"] == []
    ours = webgpu_results["outputs"][case.name]
    dtype = webgpu_results["dtype"]
    np.testing.assert_allclose(ours, case.reference(dtype), **TOLERANCE[dtype])
