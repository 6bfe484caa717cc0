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

    Two passes over the slab, the second over (x - mean)², so the variance never suffers
    the cancellation of E[x²] - E[x]²."""
    steps = -(-size // THREADS)
    levels = THREADS.bit_length() - 1

    @T.macro
    def block_sum(partial, value, tx):
        """Sum of `value` over the workgroup, left in partial[0] for every thread to read."""
        T.tvm_storage_sync("shared")
        partial[tx] = value
        for level in T.unroll(levels):
            T.tvm_storage_sync("shared")
            if tx < (THREADS >> (level + 1)):
                partial[tx] = partial[tx] + partial[tx + (THREADS >> (level + 1))]
        T.tvm_storage_sync("shared")

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
                    partial = T.sblock_alloc_buffer((THREADS,), "float32", scope="shared")
                    acc = T.sblock_alloc_buffer((2,), "float32", scope="local")
                    n: T.let[T.int32] = bx // groups
                    g: T.let[T.int32] = bx % groups
                    acc[0] = T.float32(0)
                    for i in T.serial(steps):
                        if i * THREADS + tx < size:
                            acc[0] += T.cast(x[n, g, i * THREADS + tx], "float32")
                    block_sum(partial, acc[0], tx)
                    acc[1] = partial[0] / T.float32(size)
                    acc[0] = T.float32(0)
                    for i in T.serial(steps):
                        if i * THREADS + tx < size:
                            acc[0] += (T.cast(x[n, g, i * THREADS + tx], "float32") - acc[1]) * (
                                T.cast(x[n, g, i * THREADS + tx], "float32") - acc[1]
                            )
                    block_sum(partial, acc[0], tx)
                    if tx == 0:
                        mean[n, g, 0] = acc[1]
                        rstd[n, g, 0] = T.rsqrt(partial[0] / T.float32(size) + T.float32(epsilon))

    return group_stats
