"""WebGPU schedule for float16 GEMMs on subgroup matrices (tensor cores), where an adapter has them.

WebGPU reaches tensor cores only through Dawn's experimental `chromium-experimental-subgroup-
matrix` feature, which TVM 0.27's WGSL code generator knows nothing of. So this rule schedules
everything around the multiply in TIR and leaves the multiply itself to two placeholder calls
that `websd.matrix_kernels` rewrites into subgroup-matrix builtins in the WGSL:

- `websd_matrix_mma(A, B, depth, frags_m, frags_n, subgroup_columns, a_along_k, a_stride,
  b_along_k, b_stride)`, once per step of k, after the workgroup staged that step's tiles of
  A (`rows` of it) and B (`columns`) in workgroup memory: each subgroup multiplies its
  `frags_m × frags_n` block of fragments and adds to its accumulators. Each tile is laid out
  as its global source is contiguous, so that the invocations staging it store side by side:
  along k (`along_k` 1: a row of `depth` values every `stride`) or along its rows (0: a step
  of k every `stride`);
- `websd_matrix_store(C, round, frags_n, along_rows)`, once per round of the write-back: each
  subgroup stores its accumulator number `round` into its fragment-sized part of `C`,
  column-major where the output is contiguous along C's rows (`along_rows` 1), where the
  workgroup's invocations then read it, apply the kernel's epilogue (bias, residual,
  conversion) and write the output, neighbouring invocations to neighbouring addresses.

Strides are padded to an odd number of 16 bytes: a subgroup-matrix load reads 8 rows (or
columns) of 16 bytes at a time (NVIDIA's `ldmatrix`), which then fall in different banks.

The steps of k run as a software pipeline (TVM's `InjectSoftwarePipeline`): each invocation
fetches its share of the next step's tiles into registers before the subgroups multiply this
step's, and stores them to workgroup memory after, so that global memory's latency passes
while the tensor cores work. A tile of 128 × 160 launches about one workgroup per compute
unit, of 4 subgroups: too few to hide that latency by switching between them.

A kernel so scheduled has the same parameters and the same workgroup grid as `Gemm` gives the
same function (the same tile, bound to the same workgroup axes), so that it can stand in for
that kernel at run time on an adapter with the feature, and the library stays valid WGSL on
adapters without it. The workgroup's size is its own: tvmjs takes it from the shader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm import s_tir, tirx
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule
from tvm.s_tir.dlight.gpu.matmul import auto_inline_consumer_chain, auto_inline_producers

from ..spec import MatrixConfig
from .contiguity import contiguous_axis, global_source
from .gemm import (
    SECTOR_BYTES,
    choose_tile,
    normalized_gemm,
    output_contiguous_axis,
    pipeline_steps_of_k,
)

# The placeholders' names; until they are put in, the annotations of the loops they replace.
MMA = "websd_matrix_mma"
STORE = "websd_matrix_store"

# The attribute that marks a kernel so scheduled.
MATRIX_GEMM_ATTR = "websd.matrix_gemm"

# Invocations per workgroup: four subgroups of 32 (NVIDIA, AMD's wave32, Apple), sixteen of 8.
INVOCATIONS = 128

# Values (float16) of one row or column of a fragment that a subgroup-matrix load reads at a
# time: 16 bytes. Strides of staged tiles are an odd number of them.
LOAD_VALUES = 8


@dataclass(frozen=True)
class StagedTile:
    """How one operand's tile lies in workgroup memory: along k (`rows × depth`, a row every
    `stride` values) or along its rows (`depth × rows`, a step of k every `stride`)."""

    along_k: bool
    stride: int

    @classmethod
    def of(cls, along_k: bool, rows: int, depth: int) -> StagedTile:
        """The layout `storage_align(factor=2 * LOAD_VALUES, offset=LOAD_VALUES)` gives."""
        extent = depth if along_k else rows
        return cls(along_k, extent + (LOAD_VALUES - extent) % (2 * LOAD_VALUES))


@dataclass(frozen=True)
class SubgroupGrid:
    """How a workgroup's subgroups share its tile: `rows × columns` subgroups, each owning a
    block of `frags_m × frags_n` fragments."""

    rows: int
    columns: int
    frags_m: int
    frags_n: int

    @property
    def subgroups(self) -> int:
        return self.rows * self.columns


def subgroup_grid(fragments_m: int, fragments_n: int, subgroups: int) -> SubgroupGrid | None:
    """The most square grid of at most `subgroups` subgroups whose sides divide the tile's
    fragments; the more subgroups, the better."""
    count = subgroups
    while count >= 1:
        grids = [
            SubgroupGrid(rows, count // rows, fragments_m // rows, fragments_n // (count // rows))
            for rows in range(1, count + 1)
            if count % rows == 0 and fragments_m % rows == 0 and fragments_n % (count // rows) == 0
        ]
        if grids:
            return min(grids, key=lambda grid: abs(math.log2(grid.frags_m / grid.frags_n)))
        count //= 2
    return None


class MatrixGemm(GPUScheduleRule):
    """`Gemm`'s tiles, multiplied on subgroup matrices: float16 operands, float32 sums."""

    def __init__(self, config: MatrixConfig) -> None:
        self.config = config

    def apply(
        self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool
    ) -> s_tir.Schedule | None:
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        found = normalized_gemm(func)
        if found is None:
            return None
        sch, main, (batch, rows, columns) = found
        block = sch.get(main)
        operands = {str(region.source.dtype) for region in block.reads}
        if operands != {"float16"} or str(block.writes[0].source.dtype) != "float32":
            return None
        tile = choose_tile(batch, rows, columns)
        depth = SECTOR_BYTES // 2
        tile_m, tile_n = tile.rows.size, tile.columns.size
        config = self.config
        if tile_m % config.m or tile_n % config.n or depth % config.k:
            return None
        grid = subgroup_grid(
            tile_m // config.m, tile_n // config.n, INVOCATIONS // config.subgroup_size
        )
        if grid is None:
            return None
        invocations = grid.subgroups * config.subgroup_size
        sch.pad_einsum(main, [1, tile_m, tile_n, depth])
        lanes_along_rows = output_contiguous_axis(sch, main) == 1

        # The same tiles on the same workgroup axes as Gemm's (its dispatch), each tile's rows
        # and columns whole.
        sch.transform_block_layout(
            main,
            lambda b, i, j, k: (b, i // tile_m, i % tile_m, j // tile_n, j % tile_n, k),
        )
        b, it, ii, jt, jj, k = sch.get_loops(main)
        xt, yt = (it, jt) if lanes_along_rows else (jt, it)
        ko, ki = sch.split(k, [None, depth])
        sch.reorder(yt, xt, ko, ki, ii, jj)
        sch.bind(sch.fuse(b, yt), "blockIdx.y")
        sch.bind(xt, "blockIdx.x")
        sch.annotate(ki, ann_key=MMA, ann_val=1)

        # C's tile reaches the epilogue through workgroup memory, one round of fragments at a
        # time: each subgroup's accumulator number `round` lands in the subgroup's own
        # fragment-sized part of it, laid out along the output's contiguous axis (as
        # (subgroup, n, m) where that is C's rows, else (subgroup, m, n)), which neighbouring
        # invocations then walk.
        written = sch.cache_write(main, 0, "shared")
        sch.reverse_compute_at(written, xt, preserve_unit_loops=True)
        i, j = sch.get_loops(written)[-2:]
        sub_row, frag_m, m = sch.split(i, [grid.rows, grid.frags_m, config.m])
        sub_column, frag_n, n = sch.split(j, [grid.columns, grid.frags_n, config.n])
        inner = (n, m) if lanes_along_rows else (m, n)
        sch.reorder(frag_m, frag_n, sub_row, sub_column, *inner)
        rounds = sch.fuse(frag_m, frag_n)
        _, threads = sch.split(sch.fuse(sub_row, sub_column, *inner), [None, invocations])
        sch.bind(threads, "threadIdx.x")
        sch.annotate(rounds, ann_key=STORE, ann_val=1)

        def fragment_part(_b: tirx.Var, i: tirx.Var, j: tirx.Var) -> tuple[tirx.PrimExpr, ...]:
            row, column = i % tile_m // config.m, j % tile_n // config.n
            subgroup = row // grid.frags_m * grid.columns + column // grid.frags_n
            if lanes_along_rows:
                return subgroup, j % config.n, i % config.m
            return subgroup, i % config.m, j % config.n

        sch.transform_layout(main, ("write", 0), fragment_part, assume_injective_transform=True)
        auto_inline_consumer_chain(sch, written)

        staged = tuple(
            self._stage(sch, main, operand, ko, rows, depth, invocations)
            for operand, rows in enumerate((tile_m, tile_n))
        )
        pipeline_steps_of_k(sch, ko)
        main_block = sch.get(main)
        buffers = (*(read.source for read in main_block.reads), main_block.writes[0].source)
        function = _with_placeholders(
            sch.mod["main"], buffers, grid, depth, staged, lanes_along_rows
        )
        return s_tir.Schedule(function)

    @staticmethod
    def _stage(
        sch: s_tir.Schedule,
        main: s_tir.schedule.SBlockRV,
        operand: int,
        ko: s_tir.schedule.LoopRV,
        rows: int,
        depth: int,
        invocations: int,
    ) -> StagedTile:
        """Copy one operand's tile into workgroup memory, neighbouring invocations on
        neighbouring addresses of both: laid out along whichever of k and the tile's rows is
        contiguous in global memory."""
        loaded = sch.cache_read(main, operand, "shared")
        auto_inline_producers(sch, loaded)
        block = sch.get(loaded)
        ndim = len(block.iter_vars)
        source = global_source(block)
        along_k = contiguous_axis(block, source, [ndim - 2, ndim - 1]) == ndim - 1
        tile = StagedTile.of(along_k, rows, depth)
        if along_k and len(source.source.shape) == 4:
            # A convolution's weights (O, C, KH, KW), read along k as (O, C·KH·KW): so that
            # their index is k itself, not its (channel, row, column) to be divided out anew
            # once the software pipeline shifts k by a step. The same bytes: tvmjs binds the
            # weights as they are.
            _, _, height, width = (int(extent) for extent in source.source.shape)
            sch.transform_layout(
                loaded,
                ("read", [region.source for region in block.reads].index(source.source)),
                lambda o, c, kh, kw: (o, (c * height + kh) * width + kw),
            )
        # Each invocation first fetches its values into registers (`loaded`, bounds-checked
        # and converted), then stores them to workgroup memory (`stored`): apart, so that the
        # software pipeline can fetch the next step's while the subgroups multiply.
        stored = sch.cache_write(loaded, 0, "local")
        sch.compute_at(stored, ko, preserve_unit_loops=True)
        sch.compute_at(loaded, ko, preserve_unit_loops=True)

        def position(*axes: tirx.Var) -> tuple[tirx.PrimExpr, tirx.PrimExpr]:
            row, k = axes[-2] % rows, axes[-1] % depth
            return (row, k) if along_k else (k, row)

        # Laid out as one tile, once compute_at has found its region: TVM takes the array the
        # placeholder is handed for an access to all of it, and would not narrow it itself.
        sch.transform_layout(stored, ("write", 0), position, assume_injective_transform=True)
        sch.storage_align(stored, 0, axis=0, factor=2 * LOAD_VALUES, offset=LOAD_VALUES)
        stride = depth if along_k else rows

        def register(*axes: tirx.Var) -> tuple[tirx.PrimExpr]:
            """An invocation's registers, indexed by the copy that fills them (TVM gives
            each invocation its own, so the map need only be one-to-one within one)."""
            outer, inner = position(*axes)
            return ((outer * stride + inner) // invocations,)

        sch.transform_layout(loaded, ("write", 0), register, assume_injective_transform=True)
        for copy in (loaded, stored):
            row, k = sch.get_loops(copy)[-2:]
            if not along_k:
                sch.reorder(k, row)
                row, k = k, row
            copies, threads = sch.split(sch.fuse(row, k), [None, invocations])
            sch.bind(threads, "threadIdx.x")
            # Unrolled, so that the registers are indexed by constants.
            sch.annotate(copies, ann_key="pragma_auto_unroll_max_step", ann_val=256)
            sch.annotate(copies, ann_key="pragma_unroll_explicit", ann_val=1)
        return tile


def _with_placeholders(
    function: tirx.PrimFunc,
    buffers: tuple[tirx.Buffer, ...],
    grid: SubgroupGrid,
    depth: int,
    staged: tuple[StagedTile, StagedTile],
    along_rows: bool,
) -> tirx.PrimFunc:
    """`function` with its multiply loop replaced by a call to `websd_matrix_mma`, and each
    round of its write-back preceded by a call to `websd_matrix_store`."""
    a, b, c = buffers
    layouts = [value for tile in staged for value in (int(tile.along_k), tile.stride)]

    def place(loop: tirx.For) -> tirx.Stmt:
        annotations = dict(loop.annotations)
        if annotations.pop(MMA, None) is not None:
            args = (a.data, b.data, depth, grid.frags_m, grid.frags_n, grid.columns, *layouts)
            return tirx.Evaluate(tirx.call_extern("int32", MMA, *args))
        if annotations.pop(STORE, None) is None:
            return loop
        store = tirx.call_extern(
            "int32", STORE, c.data, loop.loop_var, grid.frags_n, int(along_rows)
        )
        body = tirx.SeqStmt([tirx.Evaluate(store), loop.body])
        return tirx.For(
            loop.loop_var, loop.min, loop.extent, loop.kind, body, loop.thread_binding, annotations
        )

    placed = tvm_ffi.structural_map(function, (tirx.For, place))
    return placed.with_attr(MATRIX_GEMM_ATTR, True)
