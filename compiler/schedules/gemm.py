"""WebGPU schedule for every GEMM-like kernel: linear layers, matmuls and convolutions.

A kernel is first normalized as dlight normalizes it, to C[b, i, j] = Σ_k A[b, i, k] · B[b, j, k]
(a convolution becomes an implicit GEMM over (channel, kh, kw)), then tiled in workgroup
memory. Each side of a tile is a number of invocations, each owning a few outputs along it:
16 invocations of 8 (128 outputs), of 10 (160), or of 4 (64), or 8 of 4 (32). A call takes
the tile that does the most useful multiply-adds per value moved through workgroup memory
(`Tile.flops_per_shared_access`) among those that still launch `MIN_WORKGROUPS`
workgroups; if none does, the one that launches the most. So a 320-channel convolution at
64 × 64 takes 128 × 160 outputs per workgroup (two tiles of channels, where 128-wide tiles
padded 320 to 384), a smaller one 64 × 160 rather than 64 × 64, and a small GEMM 32 × 32,
so that it still fills the GPU. All are 32 bytes of global memory deep along k (16 steps of
fp16, 8 of fp32): a whole sector per staged row.

A float16 build multiplies fp16 operands in fp32. Each is converted as it is staged, once per
workgroup, so that workgroup memory and registers hold fp32 and the inner loop is
multiply-adds alone (converted where they are read, an 8 × 10 block took 18 conversions per
80 multiply-adds, on GPUs that convert with an instruction of its own). Its largest tiles
then take 18.4 KiB of workgroup memory, over WebGPU's default 16 KiB, which float16 models
ask the device for (`websd.memory.workgroup_limits`); fp32 tiles fit the default.

What this rule adds to dlight's tiling is where each invocation's memory accesses land, since
a GPU serves the 32 lanes of a warp together (benchmarks/memory_access.py counts it):

- staging: neighbouring lanes copy neighbouring elements of A and B, along whichever axis
  (rows or k) is contiguous in global memory: k for weights and for a linear layer's input,
  the output positions for a convolution's input;
- workgroup memory: a tile is laid out along k, each step of k holding all its rows, and
  those of one invocation side by side in vectors (`Side.grouped`); steps of k are padded
  so that the lanes storing one invocation's vectors for neighbouring steps hit different
  banks;
- outputs: each invocation's block of outputs is spread over the tile, 16 (or 8) apart, so
  that neighbouring lanes compute neighbouring outputs along C's contiguous axis, and write
  them together;
- registers: each step of k, an invocation reads its m values of A and n of B from workgroup
  memory once, for its m × n multiply-adds, in vectors of up to 4 (`Tile.vectors`): 7
  reads for 80 with 8 × 10 in float16 (vec4s of the 8, vec2s of the 10), where one per
  value would be 18 and one per operand and multiply-add 160. The fewer workgroup-memory
  instructions per multiply-add, the less they bound a GPU's arithmetic before its ALUs do.
  `MAX_ACCUMULATORS` bounds the outputs, for the registers; the accumulators of an
  invocation are indexed by its micro steps alone.

TVM writes a workgroup array of vectors (`array<vec4<f32>, N>`) when every access to it is
a whole vector, so staging stores vectors too: each invocation loads a vector's values one
by one into registers (bounds-checked and converted), then stores them at once. Global
loads stay scalar: TVM declares storage buffers as arrays of scalars.

The steps of k run as a software pipeline (TVM's `InjectSoftwarePipeline`): each invocation
fetches its values of the next step's tiles into registers before the workgroup multiplies
this step's, and stores them to workgroup memory after, so that global memory's latency
passes while the ALUs work. A large GEMM launches few more workgroups than a GPU has compute
units (`MIN_WORKGROUPS`), so there is rarely another workgroup to switch to while one waits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm import s_tir, tirx
from tvm.ir.expr import TensorLoad
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule
from tvm.s_tir.dlight.gpu.matmul import (
    auto_inline_consumer_chain,
    auto_inline_producers,
    get_index_map,
    get_reduction_blocks,
)

from .banks import BANKS
from .contiguity import contiguous_axis, global_source

# At least this many workgroups per call for any but the smallest tile: two per compute unit
# of a 64-unit GPU. Below it a larger tile would leave units idle that smaller ones keep busy.
MIN_WORKGROUPS = 128


# Bytes along k of each row of a tile in workgroup memory: one global-memory sector.
SECTOR_BYTES = 32

# Per invocation, in fp32 registers: 8 × 10 outputs, and 18 operand values per step of k.
MAX_ACCUMULATORS = 80

# WebGPU guarantees 256 invocations per workgroup.
MAX_INVOCATIONS = 256

# Lanes of a warp, which issue each instruction together.
WARP = 32

# Values of one workgroup-memory access, widest first: WGSL's vectors hold up to 4.
VECTOR_WIDTHS = (4, 2, 1)
MAX_VECTOR = VECTOR_WIDTHS[0]


@dataclass(frozen=True)
class Side:
    """One side of a tile: `threads` invocations along it, each owning `micro` outputs,
    `threads` apart."""

    threads: int
    micro: int

    @property
    def size(self) -> int:
        return self.threads * self.micro

    def tiles(self, extent: int) -> int:
        return math.ceil(extent / self.size)

    def split(self, index: tirx.PrimExpr) -> tuple[tirx.PrimExpr, ...]:
        """An index along this side as (tile, micro step, invocation)."""
        return (index // self.size, index % self.size // self.threads, index % self.threads)

    def grouped(self, index: tirx.PrimExpr, vector: int) -> tuple[tirx.PrimExpr, ...]:
        """An index along this side as (tile, group of micro steps, invocation, step within
        the group): the layout in which an invocation's values lie `vector` side by side."""
        tile, step, invocation = self.split(index)
        # An axis of one takes the constant 0: TVM rejects an index map with an output that
        # does not vary with its input ("not independent"), such as step // 4 for 4 steps.
        zero = tirx.IntImm(index.ty.dtype, 0)
        if vector == 1:
            return (tile, step, invocation, zero)
        if vector == self.micro:
            return (tile, zero, invocation, step)
        return (tile, step // vector, invocation, step % vector)


SIDES = (Side(16, 10), Side(16, 8), Side(16, 4), Side(8, 4))


@dataclass(frozen=True)
class Tile:
    """Outputs of one workgroup: `rows` of C along i, `columns` along j."""

    rows: Side
    columns: Side

    @property
    def invocations(self) -> int:
        return self.rows.threads * self.columns.threads

    def workgroups(self, batch: int, rows: int, columns: int) -> int:
        return batch * self.rows.tiles(rows) * self.columns.tiles(columns)

    def vectors(self, depth: int) -> tuple[int, int]:
        """Values per workgroup-memory access of A and of B: up to a vec4 of an invocation's
        own, as long as the workgroup's invocations stage a tile `depth` deep in whole
        vectors, each as many. (Where the copies do not divide evenly, TVM guards the
        stores of the last round but not the loads into registers that feed them.)"""

        def widest(side: Side) -> int:
            return next(
                width
                for width in VECTOR_WIDTHS
                if side.micro % width == 0 and side.size * depth // width % self.invocations == 0
            )

        return widest(self.rows), widest(self.columns)

    def flops_per_shared_access(self, rows: int, columns: int) -> float:
        """Flops that land in C (not in its padding) per 32 values a warp moves through
        workgroup memory (the bytes its bandwidth serves, however many a vector carries):
        per step of k, each invocation reads its values of A and B, and the workgroup stores
        one staged value per row and column of the tile."""
        size = self.rows.size * self.columns.size
        useful = rows * columns / (size * self.rows.tiles(rows) * self.columns.tiles(columns))
        reads = self.invocations * (self.rows.micro + self.columns.micro)
        stores = self.rows.size + self.columns.size
        return 2 * size * useful / ((reads + stores) / WARP)


TILES = tuple(
    Tile(rows, columns)
    for rows in SIDES
    for columns in SIDES
    if rows.micro * columns.micro <= MAX_ACCUMULATORS
    and rows.threads * columns.threads <= MAX_INVOCATIONS
)


def choose_tile(batch: int, rows: int, columns: int) -> Tile:
    """The tile with the most useful flops per workgroup-memory instruction among those that
    launch `MIN_WORKGROUPS`; else the one that launches the most workgroups."""
    filling = [t for t in TILES if t.workgroups(batch, rows, columns) >= MIN_WORKGROUPS]
    if filling:
        return max(filling, key=lambda t: t.flops_per_shared_access(rows, columns))
    return max(
        TILES,
        key=lambda t: (
            t.workgroups(batch, rows, columns),
            t.flops_per_shared_access(rows, columns),
        ),
    )


def launch_extents(function: tirx.PrimFunc, axes: str) -> dict[str, int]:
    """The extent of each of a scheduled kernel's loops bound to `axes` ("blockIdx": its
    workgroup grid; "threadIdx": its workgroup), by thread tag."""
    extents: dict[str, int] = {}

    def visit(stmt: tvm.runtime.Object) -> None:
        binding = getattr(stmt, "thread_binding", None)
        if binding is not None and binding.thread_tag.startswith(axes):
            extents[binding.thread_tag] = int(stmt.extent)
        for field in ("body", "block"):
            child = getattr(stmt, field, None)
            if child is not None:
                visit(child)
        for child in getattr(stmt, "seq", ()):
            visit(child)

    visit(function.body)
    return extents


def launch_extent(function: tirx.PrimFunc, axes: str) -> int:
    """The product of a scheduled kernel's loops bound to `axes` ("blockIdx": workgroups per
    call; "threadIdx": invocations per workgroup)."""
    return math.prod(launch_extents(function, axes).values())


def _operands_widened(
    sch: s_tir.Schedule, main: s_tir.schedule.SBlockRV
) -> tuple[s_tir.Schedule, s_tir.schedule.SBlockRV]:
    """The normalized kernel with each operand that the multiply-add reads through a widening
    cast (fp16 → fp32) converted where it is copied from global memory instead: its copies in
    workgroup memory and registers then hold fp32, and each value is converted once, as it
    is staged, rather than by every invocation that reads it. A new schedule, so its block."""
    block = sch.get(main)
    accumulator = str(block.writes[0].source.dtype)
    widened = []
    for producer in sch.get_producers(main):
        buffer = sch.get(producer).writes[0].source
        if buffer.dtype != accumulator and _read_widened(block.body, buffer, accumulator):
            sch.unsafe_set_dtype(producer, 0, accumulator)
            widened.append(buffer.name)
    if not widened:
        return sch, main
    name = block.name_hint

    def fold(cast: tirx.Cast) -> tirx.PrimExpr:
        # unsafe_set_dtype leaves cast(f32, cast(f16, load)) where the block read cast(f32, load
        # of f16): exact, as the widened buffer only holds fp16 values.
        inner = cast.value
        if (
            isinstance(inner, tirx.Cast)
            and isinstance(inner.value, TensorLoad)
            and inner.value.source.name in widened
            and inner.value.ty == cast.ty
        ):
            return inner.value
        return cast

    function = tvm_ffi.structural_map(sch.mod["main"], (tirx.Cast, fold))
    folded = s_tir.Schedule(function)
    return folded, folded.get_sblock(name)


def _read_widened(body: tirx.PrimExpr, buffer: tirx.Buffer, dtype: str) -> bool:
    """Whether `body` reads `buffer` only through casts to `dtype`."""
    found = {"cast": 0, "load": 0}

    def count_cast(cast: tirx.Cast) -> tirx.Cast:
        if (
            isinstance(cast.value, TensorLoad)
            and cast.value.source.same_as(buffer)
            and cast.ty == dtype
        ):
            found["cast"] += 1
        return cast

    def count_load(load: TensorLoad) -> TensorLoad:
        if load.source.same_as(buffer):
            found["load"] += 1
        return load

    tvm_ffi.structural_map(body, [(tirx.Cast, count_cast), (TensorLoad, count_load)])
    return found["load"] > 0 and found["cast"] == found["load"]


def output_contiguous_axis(sch: s_tir.Schedule, main: s_tir.schedule.SBlockRV) -> int:
    """The axis of C (1: i, 2: j) contiguous in the kernel's global output, through the
    epilogue (a convolution's NCHW output is contiguous along its positions, i)."""
    probe = sch.copy()
    accumulator = probe.cache_write(main, 0, "local")
    auto_inline_consumer_chain(probe, accumulator)
    output = probe.get(accumulator)
    return contiguous_axis(output, output.writes[0], [1, 2])


def pipeline_steps_of_k(sch: s_tir.Schedule, ko: s_tir.schedule.LoopRV) -> None:
    """Run the steps of k as a software pipeline (TVM's `InjectSoftwarePipeline`). The loop's
    body is A's fetch into registers and store to workgroup memory, B's, and the multiply;
    each step then stores the values fetched in the step before, fetches the next step's,
    whose loads are in flight while this step is multiplied, and multiplies."""
    sch.annotate(ko, ann_key="software_pipeline_stage", ann_val=[0, 1, 0, 1, 1])
    sch.annotate(ko, ann_key="software_pipeline_order", ann_val=[2, 0, 3, 1, 4])


def normalize(sch: s_tir.Schedule, main: s_tir.schedule.SBlockRV) -> None:
    """Rewrite the kernel as C[b, i, j] += A[b, i, k] · B[b, j, k] (dlight's index maps)."""
    operand_a = sch.reindex(main, ("read", 0))
    operand_b = sch.reindex(main, ("read", 1))
    result = sch.reindex(main, ("write", 0))
    gemm, a_map, b_map, c_map = get_index_map(sch.get(main))
    sch.transform_layout(operand_a, ("write", 0), a_map)
    sch.transform_layout(operand_b, ("write", 0), b_map)
    sch.transform_layout(result, ("read", 0), c_map)
    sch.transform_block_layout(main, gemm)


def normalized_gemm(
    func: tirx.PrimFunc,
) -> tuple[s_tir.Schedule, s_tir.schedule.SBlockRV, tuple[int, int, int]] | None:
    """A schedule of `func` with its GEMM block normalized (`normalize`), and that block's
    (batch, rows, columns); None where `func` is no GEMM of static shape."""
    sch = s_tir.Schedule(func)
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    reduction = get_reduction_blocks(sch, blocks)
    if reduction is None or not get_index_map(sch.get(reduction[0])):
        return None
    main = reduction[0]
    normalize(sch, main)
    extents = [sch.get(loop).extent for loop in sch.get_loops(main)]
    if not all(isinstance(extent, tirx.IntImm) for extent in extents):
        return None
    batch, rows, columns, _ = (int(extent) for extent in extents)
    return sch, main, (batch, rows, columns)


class Gemm(GPUScheduleRule):
    """Tiled GEMM in workgroup memory with coalesced staging, conflict-free workgroup-memory
    reads and coalesced output writes; the tile sized to the call."""

    def apply(
        self, func: tirx.PrimFunc, target: tvm.target.Target, tunable: bool
    ) -> s_tir.Schedule | None:
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        found = normalized_gemm(func)
        if found is None:
            return None
        sch, main, (batch, rows, columns) = found
        tile = choose_tile(batch, rows, columns)
        element_bytes = sch.get(main).reads[0].source.dtype.bits // 8
        depth = SECTOR_BYTES // element_bytes
        sch.pad_einsum(main, [1, tile.rows.size, tile.columns.size, depth])
        sch, main = _operands_widened(sch, main)
        lanes_along_rows = output_contiguous_axis(sch, main) == 1
        operands = tuple(zip((tile.rows, tile.columns), tile.vectors(depth), strict=True))
        for operand, (side, vector) in enumerate(operands):
            self._group_operand(sch, main, operand, side, vector)

        # Rows and columns as (tile, micro step, invocation): along each side, an invocation's
        # outputs lie `threads` apart, and every buffer the tile passes through is laid out
        # along these axes, so that what one invocation touches is a dense block of them.
        split_i, split_j = tile.rows.split, tile.columns.split
        sch.transform_block_layout(main, lambda b, i, j, k: (b, *split_i(i), *split_j(j), k))
        b, i0, i1, i2, j0, j1, j2, k = sch.get_loops(main)
        rows, columns = (i0, i1, i2), (j0, j1, j2)
        (xt, xm, xth), (yt, ym, yth) = (rows, columns) if lanes_along_rows else (columns, rows)
        ko, ki = sch.split(k, [None, depth])
        sch.reorder(yt, xt, yth, xth, ko, ki, ym, xm)
        sch.bind(sch.fuse(b, yt), "blockIdx.y")
        sch.bind(xt, "blockIdx.x")
        sch.bind(yth, "threadIdx.y")
        sch.bind(xth, "threadIdx.x")
        sch.annotate(xth, ann_key="pragma_auto_unroll_max_step", ann_val=256)
        sch.annotate(xth, ann_key="pragma_unroll_explicit", ann_val=1)
        accumulator = sch.cache_write(main, 0, "local")
        sch.transform_layout(main, ("write", 0), lambda b, i, j: (b, *split_i(i), *split_j(j)))
        sch.transform_block_layout(accumulator, lambda b, i, j: (b, *split_i(i), *split_j(j)))
        sch.reverse_compute_at(accumulator, xth, preserve_unit_loops=True)
        # The accumulators of one invocation, indexed by its micro steps alone: the tile and
        # invocation indices are the same for all of them. (TVM cannot narrow the regions of
        # the split layout to one invocation, and would give each one the whole tile's.)
        sch.transform_layout(
            accumulator,
            ("read", 0),
            lambda _b, _it, i, _ith, _jt, j, _jth: (i, j),
            assume_injective_transform=True,
        )
        threads = (int(sch.get(yth).extent), int(sch.get(xth).extent))
        for operand, (_, vector) in enumerate(operands):
            self._stage(sch, main, operand, ko, vector, threads, depth)
        pipeline_steps_of_k(sch, ko)
        for operand, (_, vector) in enumerate(operands):
            registers = sch.cache_read(main, operand, "local")
            sch.compute_at(registers, ki, preserve_unit_loops=True)
            _, lanes = sch.split(sch.get_loops(registers)[-1], [None, vector])
            sch.vectorize(lanes)
        # Only once the write-back sits in its loops: inlined there, the padding's trim keeps
        # its bounds check (inlined before, padded rows would be written past the output).
        auto_inline_consumer_chain(sch, accumulator)
        sch.decompose_reduction(main, ko)
        return sch

    @staticmethod
    def _group_operand(
        sch: s_tir.Schedule, main: s_tir.schedule.SBlockRV, operand: int, side: Side, vector: int
    ) -> None:
        """Copy a normalized operand ([b,] row, k) into ([b,] tile, group, invocation, step in
        group, k) order (`Side.grouped`): the copies staged from it then have these axes for
        loops, and each invocation's `vector` values of a group share all but the last."""
        producer = sch.reindex(main, ("read", operand))
        ndim = len(sch.get(producer).iter_vars)

        def grouped(*axes: tirx.Var) -> tuple[tirx.PrimExpr, ...]:
            *batch, row, k = axes
            return (*batch, *side.grouped(row, vector), k)

        index_map = tirx.IndexMap.from_func(grouped, ndim=ndim)
        sch.transform_layout(producer, ("write", 0), index_map)
        sch.transform_block_layout(producer, index_map)

    @staticmethod
    def _stage(
        sch: s_tir.Schedule,
        main: s_tir.schedule.SBlockRV,
        operand: int,
        ko: s_tir.schedule.LoopRV,
        vector: int,
        threads: tuple[int, int],
        depth: int,
    ) -> None:
        """Copy one operand's tile into workgroup memory by the workgroup's (y, x) `threads`,
        neighbouring lanes on neighbouring global addresses, `depth` steps of k at a time.
        Each invocation fetches its values into registers one by one, converted and
        bounds-checked (`loaded`), and stores each vector of them to workgroup memory with
        one instruction (`staged`): apart, so that the software pipeline over the steps of k
        can fetch the next step's values while this step's are multiplied."""
        loaded = sch.cache_read(main, operand, "shared")
        auto_inline_producers(sch, loaded)
        block = sch.get(loaded)
        ndim = len(block.iter_vars)
        along_rows = contiguous_axis(block, global_source(block), [ndim - 3, ndim - 1]) == ndim - 3
        staged = sch.cache_write(loaded, 0, "local")

        def along_k(*axes: tirx.Var) -> tuple[tirx.Var, ...]:
            """Workgroup memory's layout: along k, then (group, invocation, step in group)."""
            *outer, group, invocation, step, k = axes
            return (*outer, k, group, invocation, step)

        sch.transform_layout(staged, ("write", 0), tirx.IndexMap.from_func(along_k, ndim=ndim))
        sch.compute_at(staged, ko, preserve_unit_loops=True)
        sch.compute_at(loaded, ko, preserve_unit_loops=True)
        *_, groups, invocations, _, _ = (int(extent) for extent in block.writes[0].source.shape)

        def copy_index(
            group: tirx.PrimExpr, invocation: tirx.PrimExpr, k: tirx.PrimExpr
        ) -> tirx.PrimExpr:
            """Which of the workgroup's copies moves this vector: they walk (k, group,
            invocation) where the tile's rows are contiguous, else (group, invocation, k)."""
            k = k % depth
            if along_rows:
                return (k * groups + group) * invocations + invocation
            return (group * invocations + invocation) * depth + k

        workgroup = threads[0] * threads[1]

        def registers(*axes: tirx.Var) -> tuple[tirx.PrimExpr, ...]:
            """An invocation's registers, indexed by its copy and the step in its vector
            (TVM gives each invocation its own, so the map need be one-to-one within one)."""
            *_, group, invocation, step, k = axes
            return (copy_index(group, invocation, k) // workgroup, step)

        sch.transform_layout(loaded, ("write", 0), registers, assume_injective_transform=True)
        for copy in (loaded, staged):
            group_loop, invocation_loop, in_group, k_steps = sch.get_loops(copy)[-4:]
            if along_rows:
                sch.reorder(k_steps, group_loop, invocation_loop, in_group)
            else:
                sch.reorder(group_loop, invocation_loop, k_steps, in_group)
            copies, ty, tx = sch.split(sch.fuse(*sch.get_loops(copy)[-ndim:-1]), [None, *threads])
            # Kept a loop: unrolled, the 8 bounds-checked im2col copies of a padded small
            # tile make SwiftShader fail to create the pipeline; the GPU's compiler can
            # still unroll.
            sch.annotate(copies, ann_key="pragma_auto_unroll_max_step", ann_val=0)
            sch.annotate(copies, ann_key="pragma_unroll_explicit", ann_val=0)
            sch.bind(ty, "threadIdx.y")
            sch.bind(tx, "threadIdx.x")
        # The loads of one vector unrolled, so that its registers are indexed by constants
        # (and by the copy, which is constant too where the GPU's compiler unrolls copies).
        loads = sch.get_loops(loaded)[-1]
        sch.annotate(loads, ann_key="pragma_auto_unroll_max_step", ann_val=MAX_VECTOR)
        sch.annotate(loads, ann_key="pragma_unroll_explicit", ann_val=1)
        sch.vectorize(sch.get_loops(staged)[-1])
        # Staging k-contiguous operands, the lanes that store together (128 bytes: 32 / vector
        # of them) walk k, then (when a tile is less deep than that) the next invocations: each
        # step along k stores max(vector, 32 / depth) words side by side. Steps of k that many
        # banks apart keep them all in different banks.
        offset = max(vector, BANKS // depth)
        sch.storage_align(staged, 0, axis=ndim - 4, factor=BANKS, offset=offset)
