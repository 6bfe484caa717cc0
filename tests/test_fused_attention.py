"""The fused WebGPU attention kernel: what the pass rewrites, and its numbers against PyTorch's
scaled_dot_product_attention, run on real WebGPU (SwiftShader in headless Chromium)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from benchmark_scripts import load
from webgpu_kernels import FLOAT16_RTOL, lowered_for_webgpu, needs_webgpu, run_on_webgpu, stored

from websd.kernels.attention import (
    LANES,
    MAX_ACCUMULATORS,
    WORKGROUP_BYTES,
    AttentionShape,
    attention_kernel,
    choose_tiling,
)

TOLERANCE = {
    "float32": {"rtol": 1e-4, "atol": 1e-4},
    "float16": {"rtol": FLOAT16_RTOL, "atol": 1e-3},
}


@dataclass(frozen=True)
class Case:
    """q [B, Sq, H, D], k [B, Skv, H, D], v [B, Skv, H, Dv], as R.nn.attention takes them.

    `fused` takes them from fused projections instead, as diffusers' `to_qkv` and `to_kv`
    make them and torch.export writes them: "qkv" splits one [B, S, 3·H·D] input into Q, K
    and V, "kv" takes Q alone and splits K and V from one [B, Skv, 2·H·D] input; each part is
    viewed as heads and transposed to [B, H, S, D] and back.
    """

    name: str
    batch: int
    q_len: int
    kv_len: int
    heads: int
    head_dim: int
    v_head_dim: int
    scale: float | None = None
    causal: str | None = None
    fused: str | None = None

    def shapes(self) -> list[tuple[int, ...]]:
        """The shapes of Q, K and V."""
        return [
            (self.batch, self.q_len, self.heads, self.head_dim),
            (self.batch, self.kv_len, self.heads, self.head_dim),
            (self.batch, self.kv_len, self.heads, self.v_head_dim),
        ]

    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of the function's inputs."""
        channels = self.heads * self.head_dim
        if self.fused == "qkv":
            return [(self.batch, self.q_len, 3 * channels)]
        if self.fused == "kv":
            return [self.shapes()[0], (self.batch, self.kv_len, 2 * channels)]
        return self.shapes()

    def inputs(self, dtype: str = "float32") -> list[np.ndarray]:
        rng = np.random.default_rng(len(self.name))
        arrays = [rng.standard_normal(s, dtype=np.float32) for s in self.input_shapes()]
        return stored(arrays, dtype)

    def operands(self, dtype: str) -> list[np.ndarray]:
        """Q, K and V as the inputs hold them."""
        inputs = self.inputs(dtype)
        if self.fused == "kv":
            inputs = [inputs[0], *np.split(inputs[1], 2, axis=-1)]
        elif self.fused == "qkv":
            inputs = np.split(inputs[0], 3, axis=-1)
        return [x.reshape(shape) for x, shape in zip(inputs, self.shapes(), strict=True)]

    def reference(self, dtype: str) -> np.ndarray:
        q, k, v = (torch.from_numpy(x).transpose(1, 2) for x in self.operands(dtype))
        mask = None
        if self.causal is not None:
            offset = 0 if self.causal == "TopLeft" else abs(self.q_len - self.kv_len)
            rows = torch.arange(self.q_len)[:, None]
            mask = torch.arange(self.kv_len)[None, :] <= rows + offset
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=self.scale
        )
        return out.transpose(1, 2).numpy()


CASES = [
    #    name            B   Sq  Skv  H    D   Dv
    # Sq and Skv not multiples of the 32-row tiles; the SD-1.5 head size.
    Case("self_70", 2, 70, 70, 3, 40, 40),
    # Cross-attention onto 77 text tokens.
    Case("cross_64x77", 2, 64, 77, 2, 40, 40),
    Case("scaled", 1, 33, 20, 2, 8, 8, scale=0.3),
    # Peaked scores: the running maximum moves between key tiles.
    Case("sharp", 1, 40, 100, 1, 40, 40, scale=1.0),
    # CLIP-like causal self-attention, and a bottom-right mask with Sq < Skv.
    Case("causal", 1, 77, 77, 4, 8, 8, causal="TopLeft"),
    Case("bottom_right", 1, 20, 50, 2, 4, 4, causal="BottomRight"),
    # Head sizes that do not fit workgroup memory whole: Q and K, then V, walked in chunks.
    Case("chunked_80", 1, 40, 45, 2, 80, 80),
    Case("vae_512", 1, 50, 50, 1, 512, 512),
    Case("dv_ne_d", 1, 16, 40, 2, 16, 24),
    # Heads that are not a multiple of 4: tiles read in vectors of 2, and one value at a time.
    Case("head_6", 1, 20, 37, 2, 6, 6),
    Case("head_3", 1, 20, 37, 2, 3, 5),
    # Fused projections, read in place: a self-attention's Q, K and V, a cross-attention's K
    # and V.
    Case("fused_qkv", 2, 70, 70, 3, 40, 40, fused="qkv"),
    Case("fused_kv", 2, 64, 77, 2, 40, 40, fused="kv"),
]


def _heads(builder, part, shape: tuple[int, ...]):
    """A fused projection's part as torch.export leaves it for attention: viewed as heads,
    transposed to [B, H, S, D], and transposed back by the importer."""
    from tvm import relax

    heads = builder.emit(relax.op.reshape(part, shape))
    to_bhsd = builder.emit(relax.op.permute_dims(heads, [0, 2, 1, 3]))
    return builder.emit(relax.op.permute_dims(to_bhsd, [0, 2, 1, 3]))


def _qkv(builder, case: Case, inputs: list) -> list:
    from tvm import relax

    if case.fused is None:
        return inputs
    packed = inputs[-1]
    parts = len(case.fused)
    split = builder.emit(relax.op.split(packed, parts, axis=-1))
    fused = [_heads(builder, split[i], shape) for i, shape in enumerate(case.shapes()[-parts:])]
    return inputs[:-1] + fused


def _module(cases: list[Case], dtype: str = "float32"):
    from tvm import relax

    builder = relax.BlockBuilder()
    for case in cases:
        inputs = [
            relax.Var(f"x{i}", relax.TensorType(s, dtype))
            for i, s in enumerate(case.input_shapes())
        ]
        with builder.function(case.name, inputs):
            with builder.dataflow():
                q, k, v = _qkv(builder, case, inputs)
                attention = relax.op.nn.attention(
                    q, k, v, scale=case.scale, causal_mask=case.causal
                )
                out = builder.emit_output(attention)
            builder.emit_func_output(out)
    return builder.get()


def _lowered(cases: list[Case], dtype: str = "float32"):
    return lowered_for_webgpu(_module(cases, dtype))


def test_every_attention_becomes_the_fused_kernel() -> None:
    from tvm import tirx

    module = _lowered(CASES)
    kernels = {
        gv.name_hint: f for gv, f in module.functions_items() if isinstance(f, tirx.PrimFunc)
    }
    fused = [n for n in kernels if n.startswith("fused_attention")]
    assert len(fused) == len(CASES)
    assert all(kernels[n].attrs["tirx.is_scheduled"] for n in fused)
    for case in CASES:  # one kernel call and nothing else: no score matrix, no softmax,
        # and no copy splitting a fused projection
        calls = _kernel_calls(module, case.name)
        assert len(calls) == 1 and calls[0].startswith("fused_attention"), calls


def _kernel_calls(module, function: str) -> list[str]:
    from tvm import relax

    return [
        b.value.op.name_hint
        for block in module[function].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar)
    ]


def _fused_attention_calls(module, function: str) -> list:
    from tvm import relax

    return [
        b.value
        for block in module[function].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call)
        and isinstance(b.value.op, relax.GlobalVar)
        and b.value.op.name_hint.startswith("fused_attention")
    ]


def test_every_attention_of_a_pipeline_runs_fused(tiny_sd1) -> None:
    """CLIP's causal self-attention, the UNet's and the VAE's: no softmax and no score matrix
    anywhere in the WebGPU module, one fused kernel call per attention layer. The UNet's and
    the VAE's read K and V from their fused projection's output (diffusers' `to_qkv`,
    `to_kv`), one tensor passed for both."""
    from transformers import CLIPTextConfig

    from websd.assemble import assemble
    from websd.passes.pipeline import prepare
    from websd.spec import BuildOptions, read_spec, resolve_source

    model = assemble(read_spec(resolve_source(tiny_sd1), BuildOptions()), lambda _: None)
    module = lowered_for_webgpu(prepare(model.module))
    layers = CLIPTextConfig.from_pretrained(tiny_sd1 / "text_encoder").num_hidden_layers
    for function in model.groups:
        calls = _kernel_calls(module, function)
        assert not [c for c in calls if "softmax" in c or c.startswith("attention")], calls
        fused = [c for c in calls if c.startswith("fused_attention")]
        assert fused, function
        if function == "encode_text":
            assert len(fused) == layers
        else:
            for call in _fused_attention_calls(module, function):
                assert call.args[1].same_as(call.args[2]), (function, call.op.name_hint)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("head_dim", [4, 8, 40, 64, 80, 160, 512])
def test_tiles_fit_default_workgroup_memory(head_dim: int, dtype: str) -> None:
    shape = AttentionShape(2, 8, 4096, 4096, head_dim, head_dim, dtype)
    tiling = choose_tiling(shape)
    assert head_dim % tiling.qk_chunk == 0 and head_dim % tiling.v_chunk == 0
    assert tiling.rows * -(-head_dim // LANES) <= MAX_ACCUMULATORS
    assert tiling.workgroup_bytes(2 if dtype == "float16" else 4) <= WORKGROUP_BYTES


def test_float32_keeps_two_rows_per_invocation_at_sd15_heads() -> None:
    """The probability, Kᵀ and Vᵀ tiles' rows are rotated, not padded: with padding, float32's
    tiles for SD-1.5's heads would not fit 16 KiB at 2 rows per invocation, and each workgroup
    would read K and V for half as many query rows."""
    for head_dim in (40, 80, 160):
        tiling = choose_tiling(AttentionShape(2, 8, 4096, 4096, head_dim, head_dim, "float32"))
        assert (tiling.rows, tiling.qk_chunk, tiling.v_chunk) == (2, 40, 40)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("head_dim", [40, 64, 80, 160, 512])
def test_tiles_are_read_without_bank_conflicts(head_dim: int, dtype: str) -> None:
    """A warp reads one vector of 4 Q rows, 4 probability rows or 8 Vᵀ rows at once, or 8
    vectors of one Kᵀ row, and stages Kᵀ and Vᵀ a vector of 32 rows at a time: with unpadded Q
    rows of 40 values (10 vectors), or unrotated rows of 32 keys (8 vectors), 2 to 8 of them
    share banks (benchmarks/memory_access.py counts the passes)."""
    shape = AttentionShape(1, 2, 256, 77, head_dim, head_dim, dtype)
    access = load("memory_access").memory_access(attention_kernel(shape))
    assert access.conflict_ways < 1.1


@pytest.mark.parametrize(("dtype", "sectors"), [("float32", 0.95), ("float16", 0.65)])
def test_staging_reads_runs_of_each_row(dtype: str, sectors: float) -> None:
    """Consecutive invocations stage consecutive columns of K and V (a key's 40 values side by
    side) and of Q (a vector of Q holds columns 10 apart), so a warp's load instruction uses
    most of each 32-byte sector it touches: a float16 query row is 80 bytes, read in runs of
    20. Each invocation reading 4 adjacent values would use a quarter of 4 times the sectors."""
    shape = AttentionShape(2, 8, 4096, 4096, 40, 40, dtype)
    access = load("memory_access").memory_access(attention_kernel(shape))
    assert access.sector_efficiency > sectors


@pytest.mark.parametrize(("head_dim", "flops_per_access"), [(40, 470), (80, 480), (512, 190)])
def test_each_workgroup_memory_read_feeds_several_multiply_adds(
    head_dim: int, flops_per_access: int
) -> None:
    """An invocation multiplies each vector of query values it reads from workgroup memory by
    its 4 keys and each vector of keys by its 4 rows' query values, and each vector of
    probabilities by its values of V, and exchanges its rows' partial maxima with the row's
    other invocations a vector of 4 rows at a time: at SD-1.5's head sizes about 500 flops per
    warp-wide workgroup-memory instruction (435 and 461 exchanging one row's maximum at a
    time, 160 reading one value at a time, 60 when each invocation owned one row). The VAE's
    512-wide head keeps one row per invocation, for its accumulators."""
    shape = AttentionShape(2, 8, 4096, 4096, head_dim, head_dim, "float16")
    kernel = attention_kernel(shape)
    flops = load("kernel_work").kernel_work(kernel).flops
    shared = load("memory_access").memory_access(kernel).shared_requests
    assert flops / shared > flops_per_access


def test_numerics_cases_cover_every_rows_per_invocation_and_vector_width() -> None:
    """The WebGPU cases below run the kernel with 4, 2 and 1 query rows per invocation, and
    tiles in vectors of 4, 2 and 1."""
    tilings = [
        choose_tiling(
            AttentionShape(c.batch, c.heads, c.q_len, c.kv_len, c.head_dim, c.v_head_dim, "float32")
        )
        for c in CASES
    ]
    assert {t.rows for t in tilings} == {1, 2, 4}
    assert {t.vector for t in tilings} == {1, 2, 4}


def test_float16_kernel_compiles_with_fp32_accumulation() -> None:
    from tvm import relax

    from websd.compile import wgsl_source
    from websd.targets import WEBGPU, target

    case = Case("sd15_level1", 2, 4096, 77, 8, 40, 40)
    executable = relax.build(
        _lowered([case], "float16"), target=target(WEBGPU), relax_pipeline=None
    )
    wgsl = wgsl_source(executable)
    assert "enable f16;" in wgsl
    # tiles stay in fp16, read and written in vectors of 4
    assert re.search(r"var<workgroup> \w+ : array<vec4<f16>, \d+>", wgsl)
    assert re.search(r"var o_r : array<f32, \d+>", wgsl)  # accumulators in fp32


@pytest.fixture(scope="module", params=["float32", "float16"])
def webgpu_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every case in one library, in `request.param`, run as webgpu_kernels says."""
    dtype = request.param
    inputs = {case.name: case.inputs(dtype) for case in CASES}
    folder = tmp_path_factory.mktemp(f"attention_{dtype}")
    return {"dtype": dtype, **run_on_webgpu(_module(CASES, dtype), inputs, folder)}


@pytest.mark.browser
@needs_webgpu
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_torch_sdpa_on_webgpu(webgpu_results: dict, case: Case) -> None:
    assert webgpu_results["errors"] == []
    ours = webgpu_results["outputs"][case.name]
    dtype = webgpu_results["dtype"]
    np.testing.assert_allclose(ours, case.reference(dtype), **TOLERANCE[dtype])
