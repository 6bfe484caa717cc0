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

Each invocation owns up to 4 query rows (16 apart) and, per key tile, 4 keys (8 apart). K and
V are held transposed (Kᵀ, Vᵀ: a row per column of the head, 32 keys wide), and every tile is
read from workgroup memory in vectors of 4 (`vector_width`): per 4 steps along the head an
invocation reads a vector of each of its rows' query values and, per step, one vector of its
4 keys, 8 reads for 64 multiply-adds; per 4 keys a vector of each of its rows' probabilities
and of Vᵀ for each of its values, 9 reads for 80 multiply-adds in float16 at SD-1.5's first
head size. Workgroup-memory reads, not arithmetic, bound this kernel on a GPU (one read fed
one multiply-add when each invocation owned one row, 2 when it read one value at a time). A
row's maximum over the key tile is combined from its 8 invocations' partial maxima, and its
sum only once, at the end: each invocation writes its rows' partials as one vector and reads
the 8 vectors of its row group (`partials`), with 4 rows 9 accesses per key tile where one
row at a time took 36, about a fifth of the kernel's. Head dimensions too large for workgroup
memory are walked in chunks; fewer rows per invocation keep the fp32 accumulators within
`MAX_ACCUMULATORS`.
Everything stays within WebGPU's default limits (128 invocations of the 256 allowed, 16 KiB of
workgroup memory), so no adapter needs more than the defaults to run it.

TVM declares a workgroup array of vectors only where every access to it is a whole vector, so
tiles are written in vectors too: each invocation gathers a vector's values from global memory
into registers, then stores it with one instruction. Kᵀ and Vᵀ are gathered by consecutive
invocations reading consecutive columns of a key, and a vector of Q holds columns a quarter
of the chunk apart (the dot product sums them in any order), so that each load instruction of
a warp reads runs of a row. The keys an invocation scores are one vector of Kᵀ, and the
probabilities it writes one vector: the probability, Kᵀ and Vᵀ tiles hold a key tile's keys in
that order (`key_of_slot`). A warp reads one vector of 4 Q rows, 4 probability rows or 8 Vᵀ
rows at once, or 8 vectors of one Kᵀ row: Q rows are padded to an odd number of vectors, and
the rows of the other tiles, 32 keys wide, are rotated by a vector per sweep of the banks
instead (`rotated`), which puts consecutive rows' vectors in distinct banks without padding.
Without that room, float32's SD-1.5 tiles would not fit two rows per invocation in 16 KiB.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from tvm import tirx
from tvm.runtime import DataType
from tvm.script import tirx as T

from ..schedules.banks import BANK_BYTES, BANKS, row_padding

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


def vector_width(head_dim: int) -> int:
    """Elements per workgroup-memory access: the widest vector that divides the head."""
    return next(width for width in (4, 2, 1) if head_dim % width == 0)


def padded(columns: int, itemsize: int, vector: int) -> int:
    """Row length in workgroup memory: `columns` padded against bank conflicts."""
    return columns + row_padding(columns, itemsize, vector)


@dataclass(frozen=True)
class Tiling:
    """Query rows per invocation, and how the head dimensions are cut to fit workgroup
    memory."""

    rows: int  # query rows per invocation; a workgroup owns ROW_GROUPS × rows
    qk_chunk: int  # columns of Q and K in workgroup memory at a time
    v_chunk: int  # columns of V in workgroup memory at a time
    vector: int  # elements per workgroup-memory access

    @property
    def query_rows(self) -> int:
        return ROW_GROUPS * self.rows

    def tiles(self, itemsize: int) -> Tiles:
        """The workgroup-memory tiles that the kernel allocates and `workgroup_bytes` counts."""
        q_row = padded(self.qk_chunk, itemsize, self.vector)
        return Tiles(
            itemsize=itemsize,
            q_row=q_row,
            q=self.query_rows * q_row,
            # Kᵀ, then Vᵀ, in rows of KEYS (`rotated`, unpadded)
            kv=max(self.qk_chunk, self.v_chunk) * KEYS,
            p=self.query_rows * KEYS,
            partials=self.query_rows * LANES,
        )

    def workgroup_bytes(self, itemsize: int) -> int:
        return self.tiles(itemsize).bytes


@dataclass(frozen=True)
class Tiles:
    """Elements of each workgroup-memory tile: Q (rows of `q_row`, padded), Kᵀ/Vᵀ,
    probabilities, all in the input dtype, and the fp32 partial row maxima, then sums."""

    itemsize: int
    q_row: int
    q: int
    kv: int
    p: int
    partials: int

    @property
    def bytes(self) -> int:
        return (self.q + self.kv + self.p) * self.itemsize + self.partials * 4


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
    vector = vector_width(shape.head_dim)
    qk_chunks = [d for d in _divisors(shape.head_dim) if d % vector == 0]

    def fits(tiling: Tiling) -> bool:
        return tiling.workgroup_bytes(itemsize) <= WORKGROUP_BYTES

    def largest_chunks(rows: int) -> Tiling:
        qk = max(d for d in qk_chunks if fits(Tiling(rows, d, d, vector)))
        v = max(d for d in _divisors(shape.v_head_dim) if fits(Tiling(rows, qk, d, vector)))
        return Tiling(rows, qk, v, vector)

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
    RA, BQ, QC, VC, VEC = (
        tiling.rows,
        tiling.query_rows,
        tiling.qk_chunk,
        tiling.v_chunk,
        tiling.vector,
    )
    itemsize = DataType(dtype).bits // 8
    # Tiles are flat so that TVM's buffer compaction keeps the padding of their rows.
    tiles = tiling.tiles(itemsize)
    qk_row = tiles.q_row
    key_vectors = KEYS // VEC
    # Rows of the probability, Kᵀ and Vᵀ tiles sharing one sweep of the banks.
    rows_per_sweep = max(1, BANKS * BANK_BYTES // (KEYS * itemsize))
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

    def key_of_slot(slot):
        """The key (within the tile) that a slot of the probability, Kᵀ and Vᵀ tiles holds: an
        invocation's KU keys are LANES apart, and side by side in those tiles."""
        return slot // KU + slot % KU * LANES

    def rotated(row, vector):
        """Where a row of the probability, Kᵀ or Vᵀ tile keeps its `vector`-th vector of slots:
        rows are rotated by one vector per sweep of the banks, so that a warp reading (or
        staging) one vector of consecutive rows finds them in distinct banks with no
        padding."""
        return row * KEYS + (vector + row // rows_per_sweep) % key_vectors * VEC

    def partials(ty, lane):
        """Where invocation (ty, lane) keeps its RA rows' partial maxima (then sums), side by
        side: a row group's LANES vectors, rotated by ty so that the 4 row groups of a warp,
        each reading the same lane's vector, find them in distinct banks."""
        return (ty * LANES + (lane + ty) % LANES) * RA

    @T.macro
    def load_queries(dst, src, row0, b, h, col0, staged, tid):
        """Query rows row0.. of src[b, :, h, col0:col0+QC] into dst, zeros past the last; a
        vector per invocation and round. A vector holds columns QC / VEC apart, so that each
        load instruction of a warp reads runs of a row (the QK loop pairs each with its
        column of Kᵀ)."""
        for it in T.serial(-(-(BQ * QC // VEC) // THREADS)):
            idx: T.let[T.int32] = it * THREADS + tid
            if idx < BQ * QC // VEC:
                r: T.let[T.int32] = idx // (QC // VEC)
                c: T.let[T.int32] = idx % (QC // VEC)
                for e in T.unroll(VEC):
                    staged[e] = T.if_then_else(
                        row0 + r < SQ,
                        src[b, row0 + r, h, col0 + c + e * (QC // VEC)],
                        T.cast(0, dtype),
                    )
                for e in T.vectorized(VEC):
                    dst[r * qk_row + c * VEC + e] = staged[e]

    @T.macro
    def load_transposed(dst, src, row0, b, h, col0, cols, staged, tid):
        """Columns col0..col0+cols of src[b, row0:row0+KEYS, h] into dst as `rotated` rows of
        KEYS slots (`key_of_slot`), zeros past the last key: K and V, transposed.
        Consecutive invocations read consecutive columns."""
        for it in T.serial(-(-(cols * KEYS // VEC) // THREADS)):
            idx: T.let[T.int32] = it * THREADS + tid
            if idx < cols * KEYS // VEC:
                c: T.let[T.int32] = idx % cols
                vector: T.let[T.int32] = idx // cols
                for e in T.unroll(VEC):
                    key: T.let[T.int32] = row0 + key_of_slot(vector * VEC + e)
                    staged[e] = T.if_then_else(
                        key < SKV, src[b, key, h, col0 + c], T.cast(0, dtype)
                    )
                for e in T.vectorized(VEC):
                    dst[rotated(c, vector) + e] = staged[e]

    @T.macro
    def combine_rows(values, fold, identity, part_s, partial_r, ty, tx):
        """Each of this invocation's RA rows, folded over the row's LANES invocations: each
        writes its partials as one vector and reads the row group's LANES vectors, a vector
        at a time into `partial_r` (TVM would re-load a vector once per lane to fold it in
        place)."""
        for a in T.vectorized(RA):
            part_s[partials(ty, tx) + a] = values[a]
        T.tvm_storage_sync("shared")
        for a in T.unroll(RA):
            values[a] = T.float32(identity)
        for lane in T.serial(LANES):
            for a in T.vectorized(RA):
                partial_r[a] = part_s[partials(ty, lane) + a]
            for a in T.unroll(RA):
                values[a] = fold(values[a], partial_r[a])

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
                            q_s = T.sblock_alloc_buffer((tiles.q,), dtype, scope="shared")
                            kv_s = T.sblock_alloc_buffer((tiles.kv,), dtype, scope="shared")
                            p_s = T.sblock_alloc_buffer((tiles.p,), dtype, scope="shared")
                            part_s = T.sblock_alloc_buffer(
                                (tiles.partials,), "float32", scope="shared"
                            )
                            staged = T.sblock_alloc_buffer((VEC,), dtype, scope="local")
                            # This invocation's rows at one step (query values, then
                            # probabilities) and its keys, then values of V, a vector each.
                            rows_r = T.sblock_alloc_buffer((RA * VEC,), "float32", scope="local")
                            cols_r = T.sblock_alloc_buffer((KU,), "float32", scope="local")
                            p_r = T.sblock_alloc_buffer((KU,), dtype, scope="local")
                            s_r = T.sblock_alloc_buffer((RA * KU,), "float32", scope="local")
                            o_r = T.sblock_alloc_buffer((RA * VR,), "float32", scope="local")
                            m_r = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            m_new = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            l_r = T.sblock_alloc_buffer((RA,), "float32", scope="local")
                            # One invocation's partial maxima (then sums) of the same rows.
                            partial_r = T.sblock_alloc_buffer((RA,), "float32", scope="local")
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
                                load_queries(q_s, q, q0, b, q_head, 0, staged, tid)
                            for kt in T.serial(kv_tiles):
                                kv0: T.let[T.int32] = kt * KEYS
                                # Key tiles wholly above the causal diagonal are skipped;
                                # the test is uniform over the workgroup, as barriers need.
                                if kv0 <= q0 + reach:
                                    for i in T.unroll(RA * KU):
                                        s_r[i] = T.float32(0)
                                    for dc in T.serial(D // QC):
                                        if not resident:
                                            load_queries(
                                                q_s, q, q0, b, q_head, dc * QC, staged, tid
                                            )
                                        load_transposed(
                                            kv_s, k, kv0, b, k_head, dc * QC, QC, staged, tid
                                        )
                                        T.tvm_storage_sync("shared")
                                        for d in T.serial(QC // VEC):
                                            for a in T.unroll(RA):
                                                for e in T.vectorized(VEC):
                                                    rows_r[a * VEC + e] = T.cast(
                                                        q_s[
                                                            (ty + a * ROW_GROUPS) * qk_row
                                                            + d * VEC
                                                            + e
                                                        ],
                                                        "float32",
                                                    )
                                            for e in T.unroll(VEC):
                                                # Kᵀ's row for the column paired with
                                                # element e of the query vectors.
                                                column: T.let[T.int32] = d + e * (QC // VEC)
                                                for w in T.unroll(KU // VEC):
                                                    for f in T.vectorized(VEC):
                                                        cols_r[w * VEC + f] = T.cast(
                                                            kv_s[
                                                                rotated(column, tx * KU // VEC + w)
                                                                + f
                                                            ],
                                                            "float32",
                                                        )
                                                for a in T.unroll(RA):
                                                    for u in T.unroll(KU):
                                                        s_r[a * KU + u] += (
                                                            rows_r[a * VEC + e] * cols_r[u]
                                                        )
                                        T.tvm_storage_sync("shared")
                                    # Scaled and masked; each row's running maximum and
                                    # its maximum over this invocation's keys, then over
                                    # all the row's keys of the tile.
                                    for a in T.unroll(RA):
                                        row: T.let[T.int32] = ty + a * ROW_GROUPS
                                        last: T.let[T.int32] = T.min(SKV - 1, q0 + row + offset)
                                        m_new[a] = m_r[a]
                                        for u in T.unroll(KU):
                                            # 1 past the row's last key, else 0: arithmetic, not a
                                            # branch (with 16 branches on correlated conditions,
                                            # SwiftShader took minutes to build the pipeline).
                                            masked: T.let[T.float32] = T.Cast(
                                                "float32",
                                                T.min(T.max(kv0 + tx + u * LANES - last, 0), 1),
                                            )
                                            s_r[a * KU + u] = s_r[a * KU + u] * T.float32(
                                                scale_log2
                                            ) + masked * T.float32(_MASKED)
                                            m_new[a] = T.max(m_new[a], s_r[a * KU + u])
                                    combine_rows(m_new, T.max, _MASKED, part_s, partial_r, ty, tx)
                                    for a in T.unroll(RA):
                                        row: T.let[T.int32] = ty + a * ROW_GROUPS
                                        alpha: T.let[T.float32] = T.exp2(m_r[a] - m_new[a])
                                        m_r[a] = m_new[a]
                                        l_r[a] = l_r[a] * alpha
                                        for i in T.serial(VR):
                                            o_r[a * VR + i] = o_r[a * VR + i] * alpha
                                        for u in T.unroll(KU):
                                            p: T.let[T.float32] = T.exp2(s_r[a * KU + u] - m_r[a])
                                            l_r[a] += p
                                            p_r[u] = T.cast(p, dtype)
                                        for u in T.unroll(KU // VEC):
                                            for e in T.vectorized(VEC):
                                                p_s[rotated(row, tx * KU // VEC + u) + e] = p_r[
                                                    u * VEC + e
                                                ]
                                    for vc in T.serial(v_chunks):
                                        load_transposed(
                                            kv_s, v, kv0, b, v_head, vc * VC, VC, staged, tid
                                        )
                                        T.tvm_storage_sync("shared")
                                        for j in T.serial(KEYS // VEC):
                                            for a in T.unroll(RA):
                                                for e in T.vectorized(VEC):
                                                    rows_r[a * VEC + e] = T.cast(
                                                        p_s[rotated(ty + a * ROW_GROUPS, j) + e],
                                                        "float32",
                                                    )
                                            for w in T.unroll(v_per_lane):
                                                if tx + w * LANES < VC:
                                                    for e in T.vectorized(VEC):
                                                        cols_r[e] = T.cast(
                                                            kv_s[rotated(tx + w * LANES, j) + e],
                                                            "float32",
                                                        )
                                                    for a in T.unroll(RA):
                                                        for e in T.unroll(VEC):
                                                            o_r[a * VR + vc * v_per_lane + w] += (
                                                                rows_r[a * VEC + e] * cols_r[e]
                                                            )
                                        T.tvm_storage_sync("shared")
                            # Each row's sum, from the partial sums of its invocations.
                            combine_rows(l_r, operator.add, 0.0, part_s, partial_r, ty, tx)
                            for a in T.unroll(RA):
                                row: T.let[T.int32] = ty + a * ROW_GROUPS
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
