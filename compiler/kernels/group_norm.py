"""Group-norm statistics for WebGPU: one workgroup per (sample, group), tree reductions.

TVM's scheduled legalization of `R.nn.group_norm` runs one workgroup per sample, which walks
every group in turn and then normalizes the whole tensor itself: two workgroups for SD's
batch-of-two UNet, and 28% of its GPU time (FINDINGS.md). Here the mean and 1/σ of each group
come from a kernel of their own, over the group's contiguous slab of x viewed as [N, G, L];
normalizing is left to ordinary elementwise ops, which fuse with what follows (SiLU, casts)
and spread over the whole GPU.
"""

from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T

THREADS = 256


def group_stats_kernel(
    batch: int, groups: int, size: int, dtype: str, epsilon: float
) -> tirx.PrimFunc:
    """(x [N, G, L], mean [N, G, 1], rstd [N, G, 1]) in fp32 whatever x's dtype.

    One pass over the slab, summing x - k and (x - k)² for k the slab's first value: close
    enough to the mean that E[(x-k)²] - E[x-k]² keeps its digits, as E[x²] - E[x]² does not
    for activations whose mean is large against their spread."""
    steps = -(-size // THREADS)
    levels = THREADS.bit_length() - 1

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
                    n: T.let[T.int32] = bx // groups
                    g: T.let[T.int32] = bx % groups
                    shift: T.let[T.float32] = T.cast(x[n, g, 0], "float32")
                    acc[0] = T.float32(0)
                    acc[1] = T.float32(0)
                    for i in T.serial(steps):
                        if i * THREADS + tx < size:
                            d: T.let[T.float32] = (
                                T.cast(x[n, g, i * THREADS + tx], "float32") - shift
                            )
                            acc[0] += d
                            acc[1] += d * d
                    sums[tx] = acc[0]
                    squares[tx] = acc[1]
                    for level in T.unroll(levels):  # tree sums, into sums[0] and squares[0]
                        T.tvm_storage_sync("shared")
                        if tx < (THREADS >> (level + 1)):
                            sums[tx] += sums[tx + (THREADS >> (level + 1))]
                            squares[tx] += squares[tx + (THREADS >> (level + 1))]
                    T.tvm_storage_sync("shared")
                    if tx == 0:
                        centered: T.let[T.float32] = sums[0] / T.float32(size)
                        variance: T.let[T.float32] = (
                            squares[0] / T.float32(size) - centered * centered
                        )
                        mean[n, g, 0] = shift + centered
                        rstd[n, g, 0] = T.rsqrt(T.max(variance, T.float32(0)) + T.float32(epsilon))

    return group_stats
