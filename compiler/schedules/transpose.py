"""WebGPU schedule for kernels that only move a tensor into another layout: a transpose.

TVM's fallback schedule gives each invocation one output element, in output order: the
writes are contiguous, the reads stride through the input (a transformer block's NCHW →
tokens × channels transpose uses an eighth of each 32-byte sector it reads). Here a
workgroup moves one tile: invocations read it into workgroup memory along the input's
contiguous axis and write it out along the output's, so both sides coalesce. Tile rows in
workgroup memory are padded to an odd number of bank words, as the column the writers read
would otherwise sit in one bank.
"""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule

from .banks import row_padding
from .contiguity import contiguous_axis

TILE = 32
MAX_ROW = 64  # longest tensor row a tile takes whole
ROWS = 8  # invocations along the input's contiguous axis: a workgroup is TILE × ROWS
MAX_INVOCATIONS = 256  # WebGPU's default maxComputeInvocationsPerWorkgroup
MAX_WORKGROUPS = 65535  # WebGPU's default maxComputeWorkgroupsPerDimension


def _tile(extent: int, row: int) -> int | None:
    """The tile length along a loop that walks the rows of a tensor, or None.

    A loop over several rows (an image's positions, h · W + w) takes whole rows: TVM bounds
    `index % row` only over a whole row, and would otherwise stage the whole tensor in each
    workgroup. A loop within one row takes the largest of 32, 16, 8 that divides it."""
    if extent > row:
        fits = extent % row == 0 and row % 8 == 0 and row <= MAX_ROW
        return row if fits else None
    return next((t for t in (TILE, 16, 8) if extent % t == 0), None)


class Transpose(GPUScheduleRule):
    """A single elementwise block with one input, whose input and output are contiguous
    along different loops."""

    def apply(
        self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool
    ) -> s_tir.Schedule | None:
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        # Legalized reshapes index through expressions like ((j // 32 + i) // 64 + n) % 2,
        # which bound no tile until simplified against the loop extents.
        simplified = s_tir.transform.StmtSimplify()(tvm.IRModule({"main": func}))["main"]
        sch = s_tir.Schedule(simplified)
        *producers, main = sch.get_child_blocks(sch.get_sblock("root"))
        for producer in producers:  # a reshape before or after the transpose
            try:
                sch.compute_inline(producer)
            except s_tir.ScheduleError:
                return None
        block = sch.get(main)
        loops = sch.get_loops(main)
        spatial = all(v.iter_type == tirx.IterVar.DataPar for v in block.iter_vars)
        if not spatial or len(block.reads) != 1 or len(loops) != len(block.iter_vars):
            return None
        (source,), (target_region,) = block.reads, block.writes
        axes = list(range(len(loops)))
        read_axis = contiguous_axis(block, source, axes)
        write_axis = contiguous_axis(block, target_region, axes)
        if read_axis == write_axis:
            return None
        extents = [int(sch.get(loop).extent) for loop in loops]
        read_row = int(source.source.shape[-1])
        write_row = int(target_region.source.shape[-1])
        read_tile = _tile(extents[read_axis], read_row)
        write_tile = _tile(extents[write_axis], write_row)
        if read_tile is None or write_tile is None:
            return None
        others = [axis for axis in range(len(loops)) if axis not in (read_axis, write_axis)]
        tiles = math.prod(extents[axis] for axis in others)
        tiles *= extents[read_axis] // read_tile * (extents[write_axis] // write_tile)
        if tiles > MAX_WORKGROUPS:
            return None

        read_outer, read_inner = sch.split(loops[read_axis], [None, read_tile])
        write_outer, write_inner = sch.split(loops[write_axis], [None, write_tile])
        outer = [loops[axis] for axis in others]
        sch.reorder(*outer, read_outer, write_outer, read_inner, write_inner)
        workgroup = sch.fuse(*outer, read_outer, write_outer)
        sch.bind(workgroup, "blockIdx.x")
        rows = min(ROWS, read_tile, MAX_INVOCATIONS // write_tile)
        _, row = sch.split(read_inner, [None, rows])
        sch.bind(row, "threadIdx.y")
        sch.bind(write_inner, "threadIdx.x")

        staged = sch.cache_read(main, 0, "shared")
        sch.compute_at(staged, workgroup, preserve_unit_loops=True)
        copy = sch.fuse(*sch.get_loops(staged)[1:])
        _, row, lane = sch.split(copy, [None, rows, write_tile])
        sch.bind(row, "threadIdx.y")
        sch.bind(lane, "threadIdx.x")
        element_bytes = tvm.runtime.DataType(source.source.dtype).bits // 8
        pad = row_padding(read_tile, element_bytes)
        dims = len(source.source.shape)
        sch.storage_align(staged, 0, axis=dims - 2, factor=read_tile, offset=pad)
        return sch
