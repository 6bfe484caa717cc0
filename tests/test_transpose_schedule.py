"""WebGPU transpose schedule: the layout changes around each transformer block move tiles
through workgroup memory, coalesced on both sides, and move every value where PyTorch does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from benchmark_scripts import load
from webgpu_kernels import lowered_for_webgpu, needs_webgpu, run_on_webgpu, stored


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]
    to_tokens: bool  # NCHW → (N, HW, C); else (N, HW, C) → NCHW with H = W
    tile_rows_whole: bool = True  # 32 | W: each tile lies within one image row

    def input(self, dtype: str = "float32") -> np.ndarray:
        rng = np.random.default_rng(len(self.name))
        return stored([rng.standard_normal(self.shape, np.float32)], dtype)[0]

    def relax_op(self, x):
        """The layout change as Relax ops on `x`."""
        from tvm import relax

        if self.to_tokens:
            n, c, h, w = self.shape
            return relax.op.reshape(relax.op.permute_dims(x, [0, 2, 3, 1]), (n, h * w, c))
        n, hw, c = self.shape
        side = int(hw**0.5)
        return relax.op.permute_dims(relax.op.reshape(x, (n, side, side, c)), [0, 3, 1, 2])

    def reference(self, dtype: str) -> np.ndarray:
        x = torch.from_numpy(self.input(dtype))
        if self.to_tokens:
            n, c, h, w = self.shape
            return x.permute(0, 2, 3, 1).reshape(n, h * w, c).numpy()
        n, hw, c = self.shape
        side = int(hw**0.5)
        return x.reshape(n, side, side, c).permute(0, 3, 1, 2).numpy()


CASES = [
    Case("to_tokens", (2, 96, 64, 64), to_tokens=True),
    Case("to_nchw", (2, 1024, 96), to_tokens=False),
    # 16 × 16 and 8 × 8 latents: 16- and 8-wide tiles, so that no tile crosses an image row.
    Case("to_nchw_16", (2, 256, 64), to_tokens=False),
    Case("to_tokens_8", (2, 160, 8, 8), to_tokens=True, tile_rows_whole=False),
    # One tile of channels: the tile's loops have extent 1.
    Case("to_tokens_one_tile", (2, 32, 8, 8), to_tokens=True, tile_rows_whole=False),
]


def _module(dtype: str):
    from tvm import relax

    builder = relax.BlockBuilder()
    for case in CASES:
        x = relax.Var("x", relax.TensorType(case.shape, dtype))
        with builder.function(case.name, [x]):
            with builder.dataflow():
                result = builder.emit_output(case.relax_op(x))
            builder.emit_func_output(result)
    return builder.get()


def _kernel(module, case: Case):
    from tvm import relax

    (call,) = [
        b.value.op
        for block in module[case.name].body.blocks
        for b in block.bindings
        if isinstance(getattr(b.value, "op", None), relax.GlobalVar)
    ]
    return module[call]


def _workgroup_bytes(kernel) -> int:
    """Bytes of workgroup memory the lowered kernel allocates."""
    from tvm import DataType

    kernel_work = load("kernel_work")
    total = 0

    def visit(stmt) -> None:
        nonlocal total
        buffer = getattr(stmt, "buffer", None)
        if type(stmt).__name__ == "AllocBuffer" and buffer.scope() == "shared":
            elements = 1
            for extent in buffer.shape:
                elements *= int(extent)
            total += elements * DataType(buffer.dtype).bits // 8
        for child in [getattr(stmt, "body", None), *getattr(stmt, "seq", ())]:
            if child is not None:
                visit(child)

    visit(kernel_work.flattened(kernel).body)
    return total


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_workgroups_hold_one_tile(dtype: str) -> None:
    """A workgroup stages its own tile, padded: not the whole tensor, which TVM allocates
    when it cannot bound a tile's index expressions (reshapes index through div and mod)."""
    module = lowered_for_webgpu(_module(dtype))
    itemsize = 2 if dtype == "float16" else 4
    for case in CASES:
        assert _workgroup_bytes(_kernel(module, case)) <= 32 * (64 + 2) * itemsize, case.name


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_both_sides_coalesce(dtype: str) -> None:
    """TVM's fallback schedule writes in output order and uses an eighth of each sector it
    reads (fp16); here each warp reads and writes whole sectors, but where a tile row is 8
    wide (16 bytes in fp16)."""
    memory_access = load("memory_access").memory_access
    module = lowered_for_webgpu(_module(dtype))
    for case in CASES:
        access = memory_access(_kernel(module, case))
        assert access.shared_requests > 0, f"{case.name}: not staged in workgroup memory"
        floor = 0.95 if case.tile_rows_whole or dtype == "float32" else 0.6
        assert access.sector_efficiency > floor, case.name
        assert access.conflict_ways < 1.6, case.name


@pytest.fixture(scope="module", params=["float32", "float16"])
def webgpu_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every case in one library, in `request.param`, run as webgpu_kernels says."""
    dtype = request.param
    inputs = {case.name: [case.input(dtype)] for case in CASES}
    folder = tmp_path_factory.mktemp(f"transpose_{dtype}")
    return {"dtype": dtype, **run_on_webgpu(_module(dtype), inputs, folder)}


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_on_webgpu(webgpu_results: dict, case: Case) -> None:
    assert webgpu_results["errors"] == []
    reference = case.reference(webgpu_results["dtype"])
    np.testing.assert_array_equal(webgpu_results["outputs"][case.name], reference)
