"""Group-norm statistics for WebGPU: workgroups per (sample, group), tree reductions.

TVM's scheduled legalization of `R.nn.group_norm` runs one workgroup per sample, which walks
every group in turn and then normalizes the whole tensor itself: two workgroups for SD's
batch-of-two UNet, and 28% of its GPU time (FINDINGS.md). Here the mean and 1/σ of each group
come from kernels of their own, over the group's contiguous slab of x viewed as [N, G, L];
normalizing is left to ordinary elementwise ops, which fuse with what follows (SiLU, casts)
and spread over the whole GPU.

A slab is one workgroup's while that leaves each invocation at most `MAX_LOADS` loads: all but
3 of the 61 in SD 1.5's UNet at 512 × 512. The VAE's slabs hold up to a million values (4
channels of 512 × 512), and its 32 groups would keep 32 workgroups busy, each invocation
loading 4096 values in turn; such a slab is split into chunks, one workgroup each, whose
sums a second, small kernel combines.
"""

from __future__ import annotations

import math

from tvm import tirx
from tvm.script import tirx as T

THREADS = 256

# Values each invocation loads before it adds them up: independent loads, in flight together.
LOADS_IN_FLIGHT = 8

# Loads per invocation beyond which a slab is split over several workgroups.
MAX_LOADS = 256

# Invocations of the kernel that combines the chunks' sums, one per (sample, group).
FINISH_THREADS = 64


def slab_chunks(size: int) -> int:
    """Workgroups that share a slab of `size` values: 1 when one leaves each invocation at
    most `MAX_LOADS` loads, else a power of two that does."""
    return 1 << max(0, math.ceil(math.log2(size / (MAX_LOADS * THREADS))))


def _chunk_size(size: int, chunks: int) -> int:
    """Values per chunk: whole sweeps of the workgroup's in-flight loads."""
    sweep = THREADS * LOADS_IN_FLIGHT
    return math.ceil(size / chunks / sweep) * sweep


def _sum_shifted(size: int, chunks: int):
    """Sums of x - k and (x - k)² over one chunk of slab (n, g), for k = `shift`, the slab's
    first value: close enough to the mean that E[(x-k)²] - E[x-k]² keeps its digits, as
    E[x²] - E[x]² does not for activations whose mean is large against their spread. Leaves
    them in `sums[0]` and `squares[0]` of the workgroup; a macro, inlined in each kernel."""
    chunk = _chunk_size(size, chunks)
    sweeps = chunk // (THREADS * LOADS_IN_FLIGHT)
    levels = THREADS.bit_length() - 1

    @T.macro
    def sum_shifted(x, n, g, shift, chunk_index, tx, acc, loaded, sums, squares):
        start: T.let[T.int32] = chunk_index * chunk
        acc[0] = T.float32(0)
        acc[1] = T.float32(0)
        for sweep in T.serial(sweeps):
            for u in T.unroll(LOADS_IN_FLIGHT):
                at: T.let[T.int32] = start + (sweep * LOADS_IN_FLIGHT + u) * THREADS + tx
                loaded[u] = shift
                if at < size:
                    loaded[u] = T.cast(x[n, g, at], "float32")
            for u in T.unroll(LOADS_IN_FLIGHT):
                acc[0] += loaded[u] - shift
                acc[1] += (loaded[u] - shift) * (loaded[u] - shift)
        sums[tx] = acc[0]
        squares[tx] = acc[1]
        for level in T.unroll(levels):  # tree sums, into sums[0] and squares[0]
            T.tvm_storage_sync("shared")
            if tx < (THREADS >> (level + 1)):
                sums[tx] += sums[tx + (THREADS >> (level + 1))]
                squares[tx] += squares[tx + (THREADS >> (level + 1))]
        T.tvm_storage_sync("shared")

    return sum_shifted


def group_stats_kernel(
    batch: int, groups: int, size: int, dtype: str, epsilon: float
) -> tirx.PrimFunc:
    """(x [N, G, L], mean [N, G, 1], rstd [N, G, 1]) in fp32 whatever x's dtype: one
    workgroup per slab."""
    sum_shifted = _sum_shifted(size, 1)

    @T.prim_func(private=True, s_tir=True)
    def group_stats(
        x: T.Buffer((batch, groups, size), dtype),
        mean: T.Buffer((batch, groups, 1), "float32"),
        rstd: T.Buffer((batch, groups, 1), "float32"),
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(batch * groups, thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("group_stats"):
                    sums = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                    squares = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                    acc = T.sblock_alloc_buffer((2,), "float32", scope="local")
                    loaded = T.sblock_alloc_buffer((LOADS_IN_FLIGHT,), "float32", scope="local")
                    n: T.let[T.int32] = bx // groups
                    g: T.let[T.int32] = bx % groups
                    shift: T.let[T.float32] = T.cast(x[n, g, 0], "float32")
                    sum_shifted(x, n, g, shift, 0, tx, acc, loaded, sums, squares)
                    if tx == 0:
                        centered: T.let[T.float32] = sums[0] / T.float32(size)
                        variance: T.let[T.float32] = (
                            squares[0] / T.float32(size) - centered * centered
                        )
                        mean[n, g, 0] = shift + centered
                        rstd[n, g, 0] = T.rsqrt(T.max(variance, T.float32(0)) + T.float32(epsilon))

    return group_stats


def group_partial_sums_kernel(
    batch: int, groups: int, size: int, chunks: int, dtype: str
) -> tirx.PrimFunc:
    """(x [N, G, L], sums [N, G, chunks], squares [N, G, chunks]): each chunk's sums of
    x - k and (x - k)², one workgroup per chunk."""
    sum_shifted = _sum_shifted(size, chunks)

    @T.prim_func(private=True, s_tir=True)
    def group_partial_sums(
        x: T.Buffer((batch, groups, size), dtype),
        chunk_sums: T.Buffer((batch, groups, chunks), "float32"),
        chunk_squares: T.Buffer((batch, groups, chunks), "float32"),
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(batch * groups * chunks, thread="blockIdx.x"):
            for tx in T.thread_binding(THREADS, thread="threadIdx.x"):
                with T.sblock("group_partial_sums"):
                    sums = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                    squares = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                    acc = T.sblock_alloc_buffer((2,), "float32", scope="local")
                    loaded = T.sblock_alloc_buffer((LOADS_IN_FLIGHT,), "float32", scope="local")
                    n: T.let[T.int32] = bx // (groups * chunks)
                    g: T.let[T.int32] = bx // chunks % groups
                    shift: T.let[T.float32] = T.cast(x[n, g, 0], "float32")
                    sum_shifted(x, n, g, shift, bx % chunks, tx, acc, loaded, sums, squares)
                    if tx == 0:
                        chunk_sums[n, g, bx % chunks] = sums[0]
                        chunk_squares[n, g, bx % chunks] = squares[0]

    return group_partial_sums


def group_stats_from_chunks_kernel(
    batch: int, groups: int, size: int, chunks: int, dtype: str, epsilon: float
) -> tirx.PrimFunc:
    """(x, sums, squares, mean [N, G, 1], rstd [N, G, 1]): the chunks' sums combined, one
    invocation per slab (x gives the shift the chunks subtracted)."""
    slabs = batch * groups

    @T.prim_func(private=True, s_tir=True)
    def group_stats_from_chunks(
        x: T.Buffer((batch, groups, size), dtype),
        chunk_sums: T.Buffer((batch, groups, chunks), "float32"),
        chunk_squares: T.Buffer((batch, groups, chunks), "float32"),
        mean: T.Buffer((batch, groups, 1), "float32"),
        rstd: T.Buffer((batch, groups, 1), "float32"),
    ):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        for bx in T.thread_binding(math.ceil(slabs / FINISH_THREADS), thread="blockIdx.x"):
            for tx in T.thread_binding(FINISH_THREADS, thread="threadIdx.x"):
                with T.sblock("group_stats_from_chunks"):
                    acc = T.sblock_alloc_buffer((2,), "float32", scope="local")
                    slab: T.let[T.int32] = bx * FINISH_THREADS + tx
                    if slab < slabs:
                        n: T.let[T.int32] = slab // groups
                        g: T.let[T.int32] = slab % groups
                        acc[0] = T.float32(0)
                        acc[1] = T.float32(0)
                        for c in T.serial(chunks):
                            acc[0] += chunk_sums[n, g, c]
                            acc[1] += chunk_squares[n, g, c]
                        centered: T.let[T.float32] = acc[0] / T.float32(size)
                        variance: T.let[T.float32] = acc[1] / T.float32(size) - centered * centered
                        mean[n, g, 0] = T.cast(x[n, g, 0], "float32") + centered
                        rstd[n, g, 0] = T.rsqrt(T.max(variance, T.float32(0)) + T.float32(epsilon))

    return group_stats_from_chunks
