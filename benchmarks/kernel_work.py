"""What a scheduled WebGPU kernel asks of the GPU, counted in its TIR: no GPU needed.

The kernel is lowered as TVM lowers it for WebGPU up to its storage rewrite (`flattened`:
buffers flat, padding from `storage_align` applied, virtual threads unrolled into each
invocation). Every statement runs once per iteration of the loops around it and once per
workgroup and invocation of the thread axes it is launched under. Counted per kernel call:

- invocations: threads launched (workgroups × invocations per workgroup);
- flops: floating-point adds, multiplies, divides, min/max and math calls in stored values;
- global_bytes: bytes read from global memory by load instructions (a tile loaded once into
  workgroup memory counts once; a value re-read from global memory counts each time).

flops / global_bytes is the arithmetic intensity the schedule gives the GPU's memory system
(before any cache helps), and flops / invocations the work each invocation does: the two
numbers tiling exists to raise.
"""

from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import s_tir, tirx

_FLOAT_OPS = ("Add", "Sub", "Mul", "Div", "Min", "Max")
_NOT_ARITHMETIC = ("tirx.reinterpret",)
_GLOBAL_SCOPES = ("global", "")


@dataclass(frozen=True)
class KernelWork:
    invocations: int
    flops: int
    global_bytes: int

    def __add__(self, other: KernelWork) -> KernelWork:
        return KernelWork(
            self.invocations + other.invocations,
            self.flops + other.flops,
            self.global_bytes + other.global_bytes,
        )


NOTHING = KernelWork(0, 0, 0)


@dataclass(frozen=True)
class _Cost:
    """Per evaluation of one expression."""

    flops: int = 0
    global_bytes: int = 0

    def __add__(self, other: _Cost) -> _Cost:
        return _Cost(self.flops + other.flops, self.global_bytes + other.global_bytes)


def _branch(*costs: _Cost) -> _Cost:
    """A select evaluates one side: count the costlier, as the slowest invocation does."""
    return max(costs, key=lambda cost: (cost.global_bytes, cost.flops))


def _cost(expr: tvm.runtime.Object) -> _Cost:
    if not isinstance(getattr(expr, "ty", None), tvm.ir.PrimType):
        return _Cost()  # a string argument of a call
    kind = type(expr).__name__
    dtype = expr.ty.dtype
    if kind in ("TensorLoad", "BufferLoad"):
        on_global = expr.source.scope() in _GLOBAL_SCOPES
        return _Cost(global_bytes=dtype.bits * dtype.lanes // 8 if on_global else 0)
    if kind == "Select":
        return _cost(expr.condition) + _branch(_cost(expr.true_value), _cost(expr.false_value))
    if kind == "Call" and expr.op.name.endswith("if_then_else"):
        condition, then, otherwise = expr.args
        return _cost(condition) + _branch(_cost(then), _cost(otherwise))
    is_float = str(dtype).startswith(("float", "bfloat"))
    counted = kind in _FLOAT_OPS or (kind == "Call" and expr.op.name not in _NOT_ARITHMETIC)
    total = _Cost(flops=dtype.lanes if is_float and counted else 0)
    for field in ("a", "b", "value"):
        child = getattr(expr, field, None)
        if isinstance(child, tvm.ir.expr.Expr):
            total += _cost(child)
    for child in getattr(expr, "args", ()):
        total += _cost(child)
    return total


class _Counter:
    def __init__(self) -> None:
        self.total = _Cost()
        self.threads: dict[str, int] = {}

    def statement(self, stmt: tvm.runtime.Object, trips: int) -> None:
        kind = type(stmt).__name__
        if kind == "AttrStmt" and stmt.attr_key == "thread_extent":
            tag = stmt.node.thread_tag
            if tag in self.threads:  # the same thread axis, launched again: no new invocations
                self.statement(stmt.body, trips)
                return
            self.threads[tag] = int(stmt.value)
            self.statement(stmt.body, trips * int(stmt.value))
        elif kind == "For":
            self.statement(stmt.body, trips * int(stmt.extent))
        elif kind == "SeqStmt":
            for child in stmt.seq:
                self.statement(child, trips)
        elif kind == "IfThenElse":
            self.count(stmt.condition, trips)
            self.statement(stmt.then_case, trips)
            if stmt.else_case is not None:
                self.statement(stmt.else_case, trips)
        elif kind in ("BufferStore", "Evaluate", "LetStmt"):
            self.count(stmt.value, trips)
            if kind == "LetStmt":
                self.statement(stmt.body, trips)
        elif hasattr(stmt, "body"):  # allocations, declarations and other attributes
            self.statement(stmt.body, trips)

    def count(self, expr: tvm.runtime.Object, trips: int) -> None:
        cost = _cost(expr)
        self.total += _Cost(cost.flops * trips, cost.global_bytes * trips)


def flattened(function: tirx.PrimFunc) -> tirx.PrimFunc:
    """A scheduled kernel as TVM's s_tir pipeline leaves it before the storage rewrite."""
    passes = [
        s_tir.transform.CanonicalizeLoop(),
        s_tir.transform.LowerCrossThreadReduction(),
        s_tir.transform.LowerInitBlock(),
        s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
        s_tir.transform.ConvertBlocksToOpaque(),
        s_tir.transform.LiftThreadBinding(),
        s_tir.transform.CompactBufferAllocation(),
        s_tir.transform.UnifyThreadBinding(),
        s_tir.transform.LowerMatchBuffer(),
        s_tir.transform.StmtSimplify(),
        s_tir.transform.LowerOpaqueBlock(),
        tirx.transform.FlattenBuffer(),
        tirx.transform.NarrowDataType(32),
        tirx.transform.VectorizeLoop(True),
        s_tir.transform.InjectVirtualThread(),
        tirx.transform.StmtSimplify(),
    ]
    module = tvm.IRModule({"main": function.with_attr("global_symbol", "main")})
    return tvm.transform.Sequential(passes)(module)["main"]


def kernel_work(function: tirx.PrimFunc) -> KernelWork:
    """One call of a scheduled kernel: its invocations, flops and global bytes read."""
    counter = _Counter()
    counter.statement(flattened(function).body, 1)
    invocations = 1
    for extent in counter.threads.values():
        invocations *= extent
    return KernelWork(invocations, counter.total.flops, counter.total.global_bytes)
