"""Which loop of a kernel walks a tensor contiguously: what a schedule must give neighbouring
invocations, since a GPU serves the 32 lanes of a warp together, one 32-byte sector at a time.
"""

from __future__ import annotations

import math

import tvm
from tvm import tirx

SECTOR_BYTES = 32
WARP = 32


def sectors_per_step(
    region: tvm.runtime.Object, axis: tirx.IterVar, others: list[tirx.Var]
) -> float:
    """32-byte sectors per element that consecutive values of `axis` (up to a warp of them)
    touch in `region` (a block's read or write of one element), the `others` held at 0:
    1/16 where fp16 elements lie side by side, 1 where each is in a sector of its own."""
    buffer = region.source
    address = tirx.IntImm("int64", 0)
    for index, extent in zip(region.region, buffer.shape, strict=True):
        address = address * extent + index.min
    element_bytes = tvm.runtime.DataType(buffer.dtype).bits // 8
    steps = min(WARP, int(axis.dom.extent))
    sectors = set()
    for step in range(steps):
        analyzer = tvm.sym.Analyzer()
        for var in others:
            analyzer.bind(var, tirx.IntImm(var.ty.dtype, 0))
        analyzer.bind(axis.var, tirx.IntImm(axis.var.ty.dtype, step))
        sectors.add(int(analyzer.simplify(address)) * element_bytes // SECTOR_BYTES)
    return len(sectors) / steps


def contiguous_axis(block: tirx.SBlock, region: tvm.runtime.Object, axes: list[int]) -> int:
    """Of the block variables numbered `axes`, the one along which `region` is contiguous (the
    last of them on ties)."""

    def sectors(index: int) -> float:
        others = [v.var for i, v in enumerate(block.iter_vars) if i != index]
        return sectors_per_step(region, block.iter_vars[index], others)

    return min(reversed(axes), key=sectors)


def global_source(block: tirx.SBlock) -> tvm.runtime.Object:
    """The largest global-memory tensor a block reads: the operand itself, not a bias or
    scale fused into it."""
    regions = [r for r in block.reads if r.source.scope() in ("global", "")]
    return max(regions, key=lambda r: math.prod(int(d) for d in r.source.shape))
