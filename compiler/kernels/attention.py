"""Fused attention for WebGPU, FlashAttention-style.

softmax(Q Kᵀ · scale) V for Q [B, Sq, H, D], K [B, Skv, H, D], V [B, Skv, H, Dv] (the layout of
`R.nn.attention`), without the [B·H, Sq, Skv] score matrix that TVM's legalization writes to
global memory (1 GiB for SD-1.5's 64×64-latent self-attention at batch 2).

One workgroup owns BQ query rows of one (batch, head). It walks the keys BK rows at a time:
Q and K tiles in workgroup memory give a BQ×BK score tile, an online softmax folds it into a
running row maximum and sum, and the output rows are rescaled and accumulated from the V tile,
all in fp32 whatever the input dtype. An invocation reads a query value from workgroup memory
once for its 4 keys, and a probability once for its values of V. Head dimensions too large
for workgroup memory are walked in chunks. Everything stays within WebGPU's default limits
(256 invocations, 16 KiB of workgroup memory), so no adapter needs more than the defaults to
run it.

Each tile row in workgroup memory is padded to an odd number of 4-byte bank words: a warp
reads one column of 4 Q rows, 8 K rows or 4 score rows at once, and with rows of 64 fp16
values (32 words) they would all queue on one bank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tvm import tirx
from tvm.runtime import DataType
from tvm.script import tirx as T

from ..schedules.banks import row_padding

ROWS = 32  # BQ: query rows per workgroup, one per threadIdx.y
LANES = 8  # threads sharing a query row (threadIdx.x)
KEYS = 32  # BK: key/value rows per step
THREADS = ROWS * LANES
WORKGROUP_BYTES = 16384  # WebGPU's default maxComputeWorkgroupStorageSize
_MASKED = -3.0e38  # finite: exp2(_MASKED - m) is 0 and never inf - inf = NaN


@dataclass(frozen=True)
class AttentionShape:
    """One call site's static shape; `causal_offset` keeps key j ≤ query i + offset
    (TVM's TopLeft mask is offset 0, BottomRight |Sq - Skv|), None for no mask."""

    batch: int
    heads: int
    q_len: int
    kv_len: int
    head_dim: int
    v_head_dim: int
    dtype: str
    scale: float | None = None
    causal_offset: int | None = None


def padded(columns: int, itemsize: int) -> int:
    """Row length in workgroup memory: `columns` padded against bank conflicts."""
    return columns + row_padding(columns, itemsize)


@dataclass(frozen=True)
class Tiling:
    """How the head dimensions are cut to fit workgroup memory."""

    qk_chunk: int  # columns of Q and K in workgroup memory at a time
    v_chunk: int  # columns of V in workgroup memory at a time

    def workgroup_bytes(self, itemsize: int) -> int:
        q_tile = ROWS * padded(self.qk_chunk, itemsize) * itemsize
        kv_tile = KEYS * padded(max(self.qk_chunk, self.v_chunk), itemsize) * itemsize
        score_tile = ROWS * padded(KEYS, 4) * 4  # fp32
        return q_tile + kv_tile + score_tile


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def choose_tiling(shape: AttentionShape) -> Tiling:
    """Whole head dimensions when they fit (Q then stays in workgroup memory for the whole
    walk), else the largest chunk that divides them."""
    itemsize = DataType(shape.dtype).bits // 8

    def fits(tiling: Tiling) -> bool:
        return tiling.workgroup_bytes(itemsize) <= WORKGROUP_BYTES

    qk = max(d for d in _divisors(shape.head_dim) if fits(Tiling(d, d)))
    v = max(d for d in _divisors(shape.v_head_dim) if fits(Tiling(qk, d)))
    return Tiling(qk, v)


def attention_kernel(shape: AttentionShape) -> tirx.PrimFunc:
    """The scheduled PrimFunc (q, k, v, out); `tirx.is_scheduled` keeps dlight off it."""
    B, H, SQ, SKV = shape.batch, shape.heads, shape.q_len, shape.kv_len
    D, DV, dtype = shape.head_dim, shape.v_head_dim, shape.dtype
    tiling = choose_tiling(shape)
    QC, VC = tiling.qk_chunk, tiling.v_chunk
    KVC = max(QC, VC)
    itemsize = DataType(dtype).bits // 8
    # Tiles are flat so that TVM's buffer compaction keeps the padding of their rows.
    q_row, kv_row, p_row = padded(QC, itemsize), padded(KVC, itemsize), padded(KEYS, 4)
    resident = QC == D  # Q is loaded once, not once per key tile
    scale = shape.scale if shape.scale is not None else 1.0 / math.sqrt(D)
    scale_log2 = scale * math.log2(math.e)  # exp(x·scale) = exp2(x·scale·log2 e)
    # With no mask every key is within the offset, and the tests below fold away.
    offset = SKV if shape.causal_offset is None else shape.causal_offset
    q_tiles = -(-SQ // ROWS)
    kv_tiles = -(-SKV // KEYS)
    per_lane = KEYS // LANES
    v_per_lane = -(-VC // LANES)
    v_chunks = DV // VC

    @T.macro
    def load_tile(dst, stride, src, row0, rows, limit, b, h, col0, cols, tid):
        """Rows row0.. of src[b, :, h, col0:col0+cols] into dst (rows `stride` apart), zeros
        past `limit`."""
        for it in T.serial(-(-(rows * cols) // THREADS)):
            idx: T.let[T.int32] = it * THREADS + tid
            if idx < rows * cols:
                r: T.let[T.int32] = idx // cols
                c: T.let[T.int32] = idx % cols
                dst[r * stride + c] = T.if_then_else(
                    row0 + r < limit, src[b, row0 + r, h, col0 + c], T.cast(0, dtype)
                )

    @T.prim_func(private=True, s_tir=True)
    def attention(
        q: T.Buffer((B, SQ, H, D), dtype),
        k: T.Buffer((B, SKV, H, D), dtype),
        v: T.Buffer((B, SKV, H, DV), dtype),
        out: T.Buffer((B, SQ, H, DV), dtype),
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(q_tiles, thread="blockIdx.x"):
            for by in T.thread_binding(B * H, thread="blockIdx.y"):
                for ty in T.thread_binding(ROWS, thread="threadIdx.y"):
                    for tx in T.thread_binding(LANES, thread="threadIdx.x"):
                        with T.sblock("attention"):
                            q_s = T.sblock_alloc_buffer((ROWS * q_row,), dtype, scope="shared")
                            kv_s = T.sblock_alloc_buffer((KEYS * kv_row,), dtype, scope="shared")
                            p_s = T.sblock_alloc_buffer((ROWS * p_row,), "float32", scope="shared")
                            s_r = T.sblock_alloc_buffer((per_lane,), "float32", scope="local")
                            o_r = T.sblock_alloc_buffer(
                                (v_chunks * v_per_lane,), "float32", scope="local"
                            )
                            m_r = T.sblock_alloc_buffer((2,), "float32", scope="local")
                            l_r = T.sblock_alloc_buffer((1,), "float32", scope="local")
                            b: T.let[T.int32] = by // H
                            h: T.let[T.int32] = by % H
                            q0: T.let[T.int32] = bx * ROWS
                            tid: T.let[T.int32] = ty * LANES + tx
                            m_r[0] = T.float32(_MASKED)
                            l_r[0] = T.float32(0)
                            for i in T.serial(v_chunks * v_per_lane):
                                o_r[i] = T.float32(0)
                            if resident:
                                load_tile(q_s, q_row, q, q0, ROWS, SQ, b, h, 0, D, tid)
                            for kt in T.serial(kv_tiles):
                                kv0: T.let[T.int32] = kt * KEYS
                                # Key tiles wholly above the causal diagonal are skipped;
                                # the test is uniform over the workgroup, as barriers need.
                                if kv0 <= q0 + ROWS - 1 + offset:
                                    for u in T.unroll(per_lane):
                                        s_r[u] = T.float32(0)
                                    for dc in T.serial(D // QC):
                                        if not resident:
                                            load_tile(
                                                q_s, q_row, q, q0, ROWS, SQ, b, h, dc * QC, QC, tid
                                            )
                                        load_tile(
                                            kv_s, kv_row, k, kv0, KEYS, SKV, b, h, dc * QC, QC, tid
                                        )
                                        T.tvm_storage_sync("shared")
                                        for d in T.serial(QC):
                                            q_d: T.let[T.float32] = T.cast(
                                                q_s[ty * q_row + d], "float32"
                                            )
                                            for u in T.unroll(per_lane):
                                                s_r[u] += q_d * T.cast(
                                                    kv_s[(tx + u * LANES) * kv_row + d], "float32"
                                                )
                                        T.tvm_storage_sync("shared")
                                    for u in T.unroll(per_lane):
                                        j: T.let[T.int32] = kv0 + tx + u * LANES
                                        keep: T.let[T.bool] = j < SKV and j <= q0 + ty + offset
                                        s_r[u] = T.if_then_else(
                                            keep, s_r[u] * T.float32(scale_log2), T.float32(_MASKED)
                                        )
                                        p_s[ty * p_row + tx + u * LANES] = s_r[u]
                                    T.tvm_storage_sync("shared")
                                    m_r[1] = m_r[0]
                                    for j in T.serial(KEYS):
                                        m_r[1] = T.max(m_r[1], p_s[ty * p_row + j])
                                    T.tvm_storage_sync("shared")
                                    alpha: T.let[T.float32] = T.exp2(m_r[0] - m_r[1])
                                    m_r[0] = m_r[1]
                                    for u in T.unroll(per_lane):
                                        p_s[ty * p_row + tx + u * LANES] = T.exp2(s_r[u] - m_r[0])
                                    l_r[0] = l_r[0] * alpha
                                    for i in T.serial(v_chunks * v_per_lane):
                                        o_r[i] = o_r[i] * alpha
                                    for vc in T.serial(v_chunks):
                                        load_tile(
                                            kv_s, kv_row, v, kv0, KEYS, SKV, b, h, vc * VC, VC, tid
                                        )
                                        T.tvm_storage_sync("shared")
                                        for j in T.serial(KEYS):
                                            p_j: T.let[T.float32] = p_s[ty * p_row + j]
                                            for w in T.unroll(v_per_lane):
                                                if tx + w * LANES < VC:
                                                    o_r[vc * v_per_lane + w] += p_j * T.cast(
                                                        kv_s[j * kv_row + tx + w * LANES], "float32"
                                                    )
                                        T.tvm_storage_sync("shared")
                                    for j in T.serial(KEYS):
                                        l_r[0] += p_s[ty * p_row + j]
                            if q0 + ty < SQ:
                                for vc in T.serial(v_chunks):
                                    for w in T.unroll(v_per_lane):
                                        if tx + w * LANES < VC:
                                            out[b, q0 + ty, h, vc * VC + tx + w * LANES] = T.cast(
                                                o_r[vc * v_per_lane + w] / l_r[0], dtype
                                            )

    return attention
