"""How well a scheduled WebGPU kernel's memory accesses suit a GPU, from its TIR: no GPU needed.

A GPU runs invocations in lockstep groups (warps of 32 on NVIDIA, the subgroups of WebGPU),
and one load or store instruction of a warp costs what its 32 addresses cost together:

- in global memory, the 32-byte sectors they touch: 32 fp16 values side by side are two
  sectors, the same values a row apart are 32;
- in workgroup memory, one pass per distinct 4-byte word in the busiest of its 32 banks
  (word address mod 32): addresses 128 bytes apart all queue on one bank, a 16-way conflict.
  A pass serves at most 128 bytes, so a warp's vec4 access to 512 distinct bytes takes 4
  passes however they lie: its conflicts are the passes beyond those.

The kernel is lowered as kernel_work.flattened lowers it (buffers flat, padding from
`storage_align` applied, virtual threads unrolled). Each access is
evaluated for the 32 invocations of a warp at a few random points of the loops around it,
lanes its conditions switch off left out, and weighted by how often the warp runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tvm
from kernel_work import UnknownIndex, evaluate_index, flattened
from tvm import tirx

WARP = 32
SECTOR_BYTES = 32
BANKS = 32
BANK_BYTES = 4
SAMPLES = 8
_SHARED_SCOPES = ("shared", "shared.dyn")
_GLOBAL_SCOPES = ("global", "")


@dataclass(frozen=True)
class MemoryAccess:
    """One kernel call's warp-wide memory instructions, summed."""

    global_requests: float = 0.0
    global_sectors: float = 0.0
    """32-byte sectors the global loads and stores touch."""
    global_ideal: float = 0.0
    """Sectors the same bytes would take, side by side."""
    shared_requests: float = 0.0
    shared_wavefronts: float = 0.0
    """Bank passes of the workgroup-memory loads and stores."""
    shared_ideal: float = 0.0
    """Bank passes the same words would take without conflicts: one per 32 distinct words."""

    def __add__(self, other: MemoryAccess) -> MemoryAccess:
        return MemoryAccess(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[float, ...]:
        return (
            self.global_requests,
            self.global_sectors,
            self.global_ideal,
            self.shared_requests,
            self.shared_wavefronts,
            self.shared_ideal,
        )

    @property
    def sector_efficiency(self) -> float:
        """Bytes used per byte moved in global memory: 1 for fully coalesced accesses."""
        return self.global_ideal / self.global_sectors if self.global_sectors else 1.0

    @property
    def conflict_ways(self) -> float:
        """Bank passes per pass the words need: 1 when free of bank conflicts."""
        return self.shared_wavefronts / self.shared_ideal if self.shared_ideal else 1.0


NO_ACCESS = MemoryAccess()


class _Walker:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.values: dict[tirx.Var, np.ndarray] = {}
        self.threads: dict[str, int] = {}
        self.thread_vars: dict[str, tirx.Var] = {}
        self.total = NO_ACCESS

    # -- values over (samples, lanes) --------------------------------------------------------

    def evaluate(self, expr: tvm.runtime.Object) -> np.ndarray:
        def value_of(var: tirx.Var) -> np.ndarray:
            if var not in self.values:
                raise UnknownIndex(var.name)
            return self.values[var]

        value = evaluate_index(expr, value_of)
        return np.broadcast_to(value, np.broadcast_shapes(np.shape(value), (SAMPLES, 1)))

    def lanes(self, index: tvm.runtime.Object) -> np.ndarray:
        """Element index of every lane's access, (samples, lanes × vector width)."""
        kind = type(index).__name__
        if kind == "Ramp":
            base = self.evaluate(index.base)
            stride = self.evaluate(index.stride)
            steps = np.arange(int(index.lanes), dtype=np.int64)
            wide = base[..., None] + stride[..., None] * steps
            return np.broadcast_to(wide, (SAMPLES, *wide.shape[1:])).reshape(SAMPLES, -1)
        if kind == "Broadcast":
            return np.repeat(self.lanes(index.value), int(index.lanes), axis=1)
        return np.broadcast_to(self.evaluate(index), (SAMPLES, self.width)).copy()

    @property
    def width(self) -> int:
        return min(WARP, math.prod(self.threads.values()) or 1)

    def bind_threads(self) -> None:
        """Thread variables for the lanes of one random warp per sample."""
        size = math.prod(self.threads.values())
        warps = max(1, size // WARP)
        first = self.rng.integers(0, warps, size=(SAMPLES, 1)) * WARP
        linear = first + np.arange(self.width, dtype=np.int64)
        stride = 1
        for tag in ("threadIdx.x", "threadIdx.y", "threadIdx.z"):
            extent = self.threads.get(tag, 1)
            if tag in self.thread_vars:
                self.values[self.thread_vars[tag]] = linear // stride % extent
            stride *= extent

    # -- statements ------------------------------------------------------------------------

    def statement(self, stmt: tvm.runtime.Object, trips: float, mask: np.ndarray) -> None:
        kind = type(stmt).__name__
        if kind == "AttrStmt" and stmt.attr_key == "thread_extent":
            tag = stmt.node.thread_tag
            extent = int(stmt.value)
            if tag.startswith("threadIdx"):
                self.threads[tag] = extent
                self.thread_vars[tag] = stmt.node.var
                self.bind_threads()
                mask = np.ones((SAMPLES, self.width), dtype=bool)
            else:
                self.values[stmt.node.var] = self.rng.integers(0, extent, size=(SAMPLES, 1))
                trips *= extent
            self.statement(stmt.body, trips, mask)
        elif kind == "For":
            extent = int(stmt.extent)
            if extent == 0:
                return
            start = int(stmt.min)
            self.values[stmt.loop_var] = self.rng.integers(start, start + extent, (SAMPLES, 1))
            self.statement(stmt.body, trips * extent, mask)
        elif kind == "SeqStmt":
            for child in stmt.seq:
                self.statement(child, trips, mask)
        elif kind == "IfThenElse":
            self.expression(stmt.condition, trips, mask)
            condition = self._condition(stmt.condition)
            self.statement(stmt.then_case, trips, mask & condition)
            if stmt.else_case is not None:
                self.statement(stmt.else_case, trips, mask & ~condition)
        elif kind == "LetStmt":
            self.expression(stmt.value, trips, mask)
            try:
                self.values[stmt.var] = self.evaluate(stmt.value)
            except UnknownIndex:
                self.values.pop(stmt.var, None)
            self.statement(stmt.body, trips, mask)
        elif kind == "BufferStore":
            self.expression(stmt.value, trips, mask)
            dtype = tvm.runtime.DataType(stmt.buffer.dtype)
            self.access(stmt.buffer.scope(), dtype.bits // 8, stmt.indices, trips, mask)
        elif kind == "Evaluate":
            self.expression(stmt.value, trips, mask)
        elif hasattr(stmt, "body"):  # allocations, declarations and other attributes
            self.statement(stmt.body, trips, mask)

    def _condition(self, expr: tvm.runtime.Object) -> np.ndarray:
        try:
            value = self.evaluate(expr)
        except UnknownIndex:
            return np.ones((SAMPLES, self.width), dtype=bool)
        return np.broadcast_to(value.astype(bool), (SAMPLES, self.width))

    def expression(self, expr: tvm.runtime.Object, trips: float, mask: np.ndarray) -> None:
        """Count the loads in `expr`, a lane's load only where its conditions let it run."""
        kind = type(expr).__name__
        if kind in ("TensorLoad", "BufferLoad"):
            for index in expr.indices:
                self.expression(index, trips, mask)
            dtype = expr.ty.dtype
            self.access(expr.source.scope(), dtype.bits // 8, expr.indices, trips, mask)
            return
        if kind == "Call" and expr.op.name.endswith("if_then_else"):
            condition, then, otherwise = expr.args
            self.expression(condition, trips, mask)
            taken = self._condition(condition)
            self.expression(then, trips, mask & taken)
            self.expression(otherwise, trips, mask & ~taken)
            return
        for field in ("a", "b", "value", "condition", "true_value", "false_value", "base"):
            child = getattr(expr, field, None)
            if isinstance(child, tvm.ir.expr.Expr):
                self.expression(child, trips, mask)
        for child in getattr(expr, "args", ()):
            if isinstance(child, tvm.ir.expr.Expr):
                self.expression(child, trips, mask)

    def access(self, scope: str, size: int, indices, trips: float, mask: np.ndarray) -> None:
        """Count one warp instruction on `size`-byte elements at `indices`."""
        if scope not in _GLOBAL_SCOPES + _SHARED_SCOPES or len(indices) != 1:
            return
        try:
            elements = self.lanes(indices[0])
        except UnknownIndex:
            return
        per_lane = elements.shape[1] // self.width
        active = np.repeat(np.broadcast_to(mask, (SAMPLES, self.width)), per_lane, axis=1)
        warps = max(1, math.prod(self.threads.values()) // WARP)
        weight = trips * warps / SAMPLES
        for sample in range(SAMPLES):
            addresses = elements[sample][active[sample]] * size
            if not addresses.size:
                continue
            if scope in _GLOBAL_SCOPES:
                sectors = len(np.unique(addresses // SECTOR_BYTES))
                ideal = math.ceil(len(np.unique(addresses)) * size / SECTOR_BYTES)
                self.total += MemoryAccess(weight, weight * sectors, weight * ideal)
            else:
                words = np.unique(addresses // BANK_BYTES)
                passes = int(np.bincount(words % BANKS).max())
                self.total += MemoryAccess(
                    shared_requests=weight,
                    shared_wavefronts=weight * passes,
                    shared_ideal=weight * math.ceil(len(words) / BANKS),
                )


def memory_access(function: tirx.PrimFunc, seed: int = 0) -> MemoryAccess:
    """One call of a scheduled kernel: its warps' global sectors and workgroup-memory passes."""
    walker = _Walker(seed)
    walker.statement(flattened(function).body, 1.0, np.ones((SAMPLES, 1), dtype=bool))
    return walker.total
