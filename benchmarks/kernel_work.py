"""What a scheduled WebGPU kernel asks of the GPU, counted in its TIR: no GPU needed.

Every statement runs once per iteration of the loops around it, thread-bound loops included
(a loop bound to a thread axis that an outer loop already binds is that same axis, not a new
one). Counted per kernel call:

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
from tvm import tirx

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

    def statement(self, stmt: tvm.runtime.Object, trips: int, bound: frozenset[str]) -> None:
        kind = type(stmt).__name__
        if kind == "For":
            tag = stmt.thread_binding.thread_tag if stmt.thread_binding is not None else None
            if tag in bound:  # the same thread axis as an enclosing loop: no new iterations
                self.statement(stmt.body, trips, bound)
                return
            extent = int(stmt.extent)
            if tag is not None:
                self.threads[tag] = extent
                bound = bound | {tag}
            self.statement(stmt.body, trips * extent, bound)
        elif kind == "SBlockRealize":
            self.statement(stmt.block, trips, bound)
        elif kind == "SBlock":
            if stmt.init is not None:
                self.statement(stmt.init, trips, bound)
            self.statement(stmt.body, trips, bound)
        elif kind == "SeqStmt":
            for child in stmt.seq:
                self.statement(child, trips, bound)
        elif kind == "IfThenElse":
            self.count(stmt.condition, trips)
            self.statement(stmt.then_case, trips, bound)
            if stmt.else_case is not None:
                self.statement(stmt.else_case, trips, bound)
        elif kind in ("BufferStore", "Evaluate", "Bind"):
            self.count(stmt.value, trips)
        elif hasattr(stmt, "body"):  # AttrStmt, LetStmt and other wrappers
            self.statement(stmt.body, trips, bound)

    def count(self, expr: tvm.runtime.Object, trips: int) -> None:
        cost = _cost(expr)
        self.total += _Cost(cost.flops * trips, cost.global_bytes * trips)


def kernel_work(function: tirx.PrimFunc) -> KernelWork:
    """One call of a scheduled kernel: its invocations, flops and global bytes read."""
    counter = _Counter()
    counter.statement(function.body, 1, frozenset())
    invocations = 1
    for extent in counter.threads.values():
        invocations *= extent
    return KernelWork(invocations, counter.total.flops, counter.total.global_bytes)
