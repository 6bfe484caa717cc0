"""Fused attention for WebGPU, FlashAttention-style.

softmax(Q Kᵀ · scale) V for Q [B, Sq, H, D], K [B, Skv, H, D], V [B, Skv, H, Dv] (the layout of
`R.nn.attention`), without the [B·H, Sq, Skv] score matrix that TVM's legalization writes to
global memory (1 GiB for SD-1.5's 64×64-latent self-attention at batch 2). An operand may also
be a slice of the heads of a larger tensor (`HeadSlice`): Q, K and V of a fused projection.

One workgroup owns a block of query rows of one (batch, head). It walks the keys KEYS rows at
a time: Q and K tiles in workgroup memory give a score tile, an online softmax folds it into a
running row maximum and sum, and the output rows are rescaled and accumulated from the V tile,
in fp32 whatever the input dtype. Probabilities are staged in the input dtype, as
FlashAttention stages them for its P·V product.

Each invocation owns up to 4 query rows (16 apart) and, per key tile, 4 adjacent keys: per
step along the head dimension it reads its rows' query values and its keys from workgroup
memory once for all 16 multiply-adds, and per key its rows' probabilities once for all their
values of V (8 apart). Workgroup-memory reads, not arithmetic, bound this kernel on a GPU
(one read fed one multiply-add when each invocation owned one row). A row's maximum over the
key tile is combined from its 8 invocations' partial maxima, and its sum only once, at the
end. Head dimensions too large for workgroup memory are walked in chunks; fewer rows per
invocation keep the fp32 accumulators within `MAX_ACCUMULATORS`. Everything stays within
WebGPU's default limits (128 invocations of the 256 allowed, 16 KiB of workgroup memory), so
no adapter needs more than the defaults to run it.

Tile rows in workgroup memory are padded to an odd number of 4-byte bank words: a warp reads
one column of 4 Q rows, 8 K rows or 4 probability rows at once, and with rows of 64 fp16
values (32 words) they would all queue on one bank. An invocation's keys are adjacent so that
a warp's 4 rows × 8 invocations of probabilities land in distinct banks when written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tvm import tirx
from tvm.runtime import DataType
from tvm.script import tirx as T

from ..schedules.banks import row_padding

ROW_GROUPS = 16  # threadIdx.y: an invocation's rows are ROW_GROUPS apart
LANES = 8  # threadIdx.x: invocations sharing the same rows, each with its own keys
KEYS = 32  # key/value rows per step
KEYS_PER_LANE = KEYS // LANES
THREADS = ROW_GROUPS * LANES
WORKGROUP_BYTES = 16384  # WebGPU's default maxComputeWorkgroupStorageSize
MAX_ACCUMULATORS = 64  # fp32 output values per invocation, as the largest GEMM tile's
MIN_CHUNK = 32  # columns of Q and K per chunk, unless the head has fewer
_MASKED = -3.0e38  # finite: exp2(_MASKED - m) is 0 and never inf - inf = NaN


@dataclass(frozen=True)
class HeadSlice:
    """Where an operand's H heads lie in the tensor passed for it: the `index`-th of `parts`
    equal slices of its channels, so heads index·H .. index·H + H - 1 of its parts·H. A fused
    projection (Q, K and V from one GEMM) writes one tensor that all its operands read, with
    no copy to split it."""

    parts: int = 1
    index: int = 0


WHOLE = HeadSlice()


@dataclass(frozen=True)
class AttentionShape:
    """One call site's static shape; `causal_offset` keeps key j ≤ query i + offset
    (TVM's TopLeft mask is offset 0, BottomRight |Sq - Skv|), None for no mask. `slices`
    places Q, K and V in the tensors passed for them."""

    batch: int
    heads: int
    q_len: int
    kv_len: int
    head_dim: int
    v_head_dim: int
    dtype: str
    scale: float | None = None
    causal_offset: int | None = None
    slices: tuple[HeadSlice, HeadSlice, HeadSlice] = (WHOLE, WHOLE, WHOLE)


def padded(columns: int, itemsize: int) -> int:
    """Row length in workgroup memory: `columns` padded against bank conflicts."""
    return columns + row_padding(columns, itemsize)


@dataclass(frozen=True)
class Tiling:
    """Query rows per invocation, and how the head dimensions are cut to fit workgroup
    memory."""

    rows: int  # query rows per invocation; a workgroup owns ROW_GROUPS × rows
    qk_chunk: int  # columns of Q and K in workgroup memory at a time
    v_chunk: int  # columns of V in workgroup memory at a time

    @property
    def query_rows(self) -> int:
        return ROW_GROUPS * self.rows

    def workgroup_bytes(self, itemsize: int) -> int:
        q_tile = self.query_rows * padded(self.qk_chunk, itemsize) * itemsize
        kv_tile = KEYS * padded(max(self.qk_chunk, self.v_chunk), itemsize) * itemsize
        p_tile = self.query_rows * padded(KEYS, itemsize) * itemsize
        partial_tile = self.query_rows * LANES * 4  # fp32 row maxima, then row sums
        return q_tile + kv_tile + p_tile + partial_tile


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def choose_tiling(shape: AttentionShape) -> Tiling:
    """The most rows per invocation whose accumulators fit `MAX_ACCUMULATORS` and whose tiles
    leave room for chunks of Q and K `MIN_CHUNK` columns wide (narrower, each chunk's loads
    and barriers would cost more than the extra rows save). Then whole head dimensions when
    they fit (Q then stays in workgroup memory for the whole walk), else the largest chunks
    that divide them."""
    itemsize = DataType(shape.dtype).bits // 8
    values_per_lane = -(-shape.v_head_dim // LANES)

    def fits(tiling: Tiling) -> bool:
        return tiling.workgroup_bytes(itemsize) <= WORKGROUP_BYTES

    def largest_chunks(rows: int) -> Tiling:
        qk = max(d for d in _divisors(shape.head_dim) if fits(Tiling(rows, d, d)))
        v = max(d for d in _divisors(shape.v_head_dim) if fits(Tiling(rows, qk, d)))
        return Tiling(rows, qk, v)

    candidates = [r for r in (4, 2) if r * values_per_lane <= MAX_ACCUMULATORS]
    for tiling in map(largest_chunks, candidates):
        if tiling.qk_chunk >= min(shape.head_dim, MIN_CHUNK):
            return tiling
    return largest_chunks(1)


def attention_kernel(shape: AttentionShape) -> tirx.PrimFunc:
    """The scheduled PrimFunc (q, k, v, out); `tirx.is_scheduled` keeps dlight off it."""
    B, H, SQ, SKV = shape.batch, shape.heads, shape.q_len, shape.kv_len
    D, DV, dtype = shape.head_dim, shape.v_head_dim, shape.dtype
    tiling = choose_tiling(shape)
    RA, BQ, QC, VC = tiling.rows, tiling.query_rows, tiling.qk_chunk, tiling.v_chunk
    KVC = max(QC, VC)
    itemsize = DataType(dtype).bits // 8
    # Tiles are flat so that TVM's buffer compaction keeps the padding of their rows.
    q_row, kv_row, p_row = padded(QC, itemsize), padded(KVC, itemsize), padded(KEYS, itemsize)
    resident = QC == D  # Q is loaded once, not once per key tile
    scale = shape.scale if shape.scale is not None else 1.0 / math.sqrt(D)
    scale_log2 = scale * math.log2(math.e)  # exp(x·scale) = exp2(x·scale·log2 e)
    # With no mask every key is within the offset, and the tests below fold away.
    offset = SKV if shape.causal_offset is None else shape.causal_offset
    q_tiles = -(-SQ // BQ)
    reach = BQ - 1 + offset  # a workgroup's last key, counted from its first query row
    kv_tiles = -(-SKV // KEYS)
    KU = KEYS_PER_LANE
    v_per_lane = -(-VC // LANES)
    v_chunks = DV // VC
    VR = v_chunks * v_per_lane  # accumulators per row

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

    q_slice, k_slice, v_slice = shape.slices

    @T.prim_func(private=True, s_tir=True)
    def attention(
        q: T.Buffer((B, SQ, q_slice.parts * H, D), dtype),
        k: T.Buffer((B, SKV, k_slice.parts * H, D), dtype),
        v: T.Buffer((B, SKV, v_slice.parts * H, DV), dtype),
        out: T.Buffer((B, SQ, H, DV), dtype),
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(q_tiles, thread="blockIdx.x"):
            for by in T.thread_binding(B * H, thread="blockIdx.y"):
                for ty in T.thread_binding(ROW_GROUPS, thread="threadIdx.y"):
                    for tx in T.thread_binding(LANES, thread="threadIdx.x"):
                        with T.sblock("attention"):
                            q_s = T.sblock_alloc_buffer((BQ * q_row,), dtype, scope="shared")
                            kv_s = T.sblock_alloc_buffer((KEYS * kv_row,), dtype, scope="shared")
                            p_s = T.sblock_alloc_buffer((BQ * p_row,), dtype, scope="shared")
                            part_s = T.sblock_alloc_buffer((BQ * LANES,), "float32", scope="shared")
                            # This invocation's rows at one step: query values, then probabilities.
                            rows_r = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            k_r = T.sblock_alloc_buffer((KU,), "float32", scope="local")
                            s_r = T.sblock_alloc_buffer((RA * KU,), "float32", scope="local")
                            o_r = T.sblock_alloc_buffer((RA * VR,), "float32", scope="local")
                            m_r = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            m_new = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            l_r = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            b: T.let[T.int32] = by // H
                            h: T.let[T.int32] = by % H
                            q_head: T.let[T.int32] = q_slice.index * H + h
                            k_head: T.let[T.int32] = k_slice.index * H + h
                            v_head: T.let[T.int32] = v_slice.index * H + h
                            q0: T.let[T.int32] = bx * BQ
                            tid: T.let[T.int32] = ty * LANES + tx
                            for a in T.unroll(RA):
                                m_r[a] = T.float32(_MASKED)
                                l_r[a] = T.float32(0)
                            for i in T.serial(RA * VR):
                                o_r[i] = T.float32(0)
                            if resident:
                                load_tile(q_s, q_row, q, q0, BQ, SQ, b, q_head, 0, D, tid)
                            for kt in T.serial(kv_tiles):
                                kv0: T.let[T.int32] = kt * KEYS
                                # Key tiles wholly above the causal diagonal are skipped;
                                # the test is uniform over the workgroup, as barriers need.
                                if kv0 <= q0 + reach:
                                    for i in T.unroll(RA * KU):
                                        s_r[i] = T.float32(0)
                                    for dc in T.serial(D // QC):
                                        if not resident:
                                            load_tile(
                                                q_s,
                                                q_row,
                                                q,
                                                q0,
                                                BQ,
                                                SQ,
                                                b,
                                                q_head,
                                                dc * QC,
                                                QC,
                                                tid,
                                            )
                                        load_tile(
                                            kv_s,
                                            kv_row,
                                            k,
                                            kv0,
                                            KEYS,
                                            SKV,
                                            b,
                                            k_head,
                                            dc * QC,
                                            QC,
                                            tid,
                                        )
                                        T.tvm_storage_sync("shared")
                                        for d in T.serial(QC):
                                            for a in T.unroll(RA):
                                                rows_r[a] = T.cast(
                                                    q_s[(ty + a * ROW_GROUPS) * q_row + d],
                                                    "float32",
                                                )
                                            for u in T.unroll(KU):
                                                k_r[u] = T.cast(
                                                    kv_s[(tx * KU + u) * kv_row + d], "float32"
                                                )
                                            for a in T.unroll(RA):
                                                for u in T.unroll(KU):
                                                    s_r[a * KU + u] += rows_r[a] * k_r[u]
                                        T.tvm_storage_sync("shared")
                                    # Scaled and masked; each row's maximum over this
                                    # invocation's keys, for its row's other invocations.
                                    for a in T.unroll(RA):
                                        row: T.let[T.int32] = ty + a * ROW_GROUPS
                                        last: T.let[T.int32] = T.min(SKV - 1, q0 + row + offset)
                                        m_new[a] = T.float32(_MASKED)
                                        for u in T.unroll(KU):
                                            # 1 past the row's last key, else 0: arithmetic, not a
                                            # branch (with 16 branches on correlated conditions,
                                            # SwiftShader took minutes to build the pipeline).
                                            masked: T.let[T.float32] = T.Cast(
                                                "float32",
                                                T.min(T.max(kv0 + tx * KU + u - last, 0), 1),
                                            )
                                            s_r[a * KU + u] = s_r[a * KU + u] * T.float32(
                                                scale_log2
                                            ) + masked * T.float32(_MASKED)
                                            m_new[a] = T.max(m_new[a], s_r[a * KU + u])
                                        part_s[row * LANES + tx] = m_new[a]
                                    T.tvm_storage_sync("shared")
                                    for a in T.unroll(RA):
                                        row: T.let[T.int32] = ty + a * ROW_GROUPS
                                        m_new[a] = m_r[a]
                                        for lane in T.serial(LANES):
                                            m_new[a] = T.max(m_new[a], part_s[row * LANES + lane])
                                        alpha: T.let[T.float32] = T.exp2(m_r[a] - m_new[a])
                                        m_r[a] = m_new[a]
                                        l_r[a] = l_r[a] * alpha
                                        for i in T.serial(VR):
                                            o_r[a * VR + i] = o_r[a * VR + i] * alpha
                                        for u in T.unroll(KU):
                                            p: T.let[T.float32] = T.exp2(s_r[a * KU + u] - m_r[a])
                                            l_r[a] += p
                                            p_s[row * p_row + tx * KU + u] = T.cast(p, dtype)
                                    for vc in T.serial(v_chunks):
                                        load_tile(
                                            kv_s,
                                            kv_row,
                                            v,
                                            kv0,
                                            KEYS,
                                            SKV,
                                            b,
                                            v_head,
                                            vc * VC,
                                            VC,
                                            tid,
                                        )
                                        T.tvm_storage_sync("shared")
                                        for j in T.serial(KEYS):
                                            for a in T.unroll(RA):
                                                rows_r[a] = T.cast(
                                                    p_s[(ty + a * ROW_GROUPS) * p_row + j],
                                                    "float32",
                                                )
                                            for w in T.unroll(v_per_lane):
                                                if tx + w * LANES < VC:
                                                    v_j: T.let[T.float32] = T.cast(
                                                        kv_s[j * kv_row + tx + w * LANES],
                                                        "float32",
                                                    )
                                                    for a in T.unroll(RA):
                                                        o_r[a * VR + vc * v_per_lane + w] += (
                                                            rows_r[a] * v_j
                                                        )
                                        T.tvm_storage_sync("shared")
                            # Each row's sum, from the partial sums of its invocations.
                            for a in T.unroll(RA):
                                part_s[(ty + a * ROW_GROUPS) * LANES + tx] = l_r[a]
                            T.tvm_storage_sync("shared")
                            for a in T.unroll(RA):
                                row: T.let[T.int32] = ty + a * ROW_GROUPS
                                l_r[a] = T.float32(0)
                                for lane in T.serial(LANES):
                                    l_r[a] += part_s[row * LANES + lane]
                                if q0 + row < SQ:
                                    for vc in T.serial(v_chunks):
                                        for w in T.unroll(v_per_lane):
                                            if tx + w * LANES < VC:
                                                out[b, q0 + row, h, vc * VC + tx + w * LANES] = (
                                                    T.cast(
                                                        o_r[a * VR + vc * v_per_lane + w] / l_r[a],
                                                        dtype,
                                                    )
                                                )

    return attention
