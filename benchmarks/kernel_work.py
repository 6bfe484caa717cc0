"""What a scheduled WebGPU kernel asks of the GPU, counted in its TIR: no GPU needed.

The kernel is lowered as TVM lowers it for WebGPU up to its storage rewrite (`flattened`:
buffers flat, padding from `storage_align` applied, virtual threads unrolled into each
invocation). Every statement runs once per iteration of the loops around it and once per
workgroup and invocation of the thread axes it is launched under. Counted per kernel call:

- invocations: threads launched (workgroups × invocations per workgroup);
- flops: floating-point adds, multiplies, divides, min/max and math calls in stored values;
- global_bytes: bytes read from global memory by load instructions (a tile loaded once into
  workgroup memory counts once; a value re-read from global memory counts each time).

A statement under a guard counts where the guard holds, over the loops and invocations
around it (a staging loop's last round, which only some invocations fill; key tiles a causal
mask skips), wherever the guard depends on nothing else; elsewhere it counts everywhere.

flops / global_bytes is the arithmetic intensity the schedule gives the GPU's memory system
(before any cache helps), and flops / invocations the work each invocation does: the two
numbers tiling exists to raise.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import s_tir, tirx

_FLOAT_OPS = ("Add", "Sub", "Mul", "Div", "Min", "Max")
_NOT_ARITHMETIC = ("tirx.reinterpret",)
_GLOBAL_SCOPES = ("global", "")
_MAX_GUARD_POINTS = 1 << 22

INDEX_OPS = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Mul": operator.mul,
    "FloorDiv": np.floor_divide,
    "FloorMod": np.mod,
    "Div": lambda a, b: np.trunc(a / b).astype(np.int64),
    "Mod": np.fmod,
    "Min": np.minimum,
    "Max": np.maximum,
    "LT": operator.lt,
    "LE": operator.le,
    "GT": operator.gt,
    "GE": operator.ge,
    "EQ": operator.eq,
    "NE": operator.ne,
    "And": np.logical_and,
    "Or": np.logical_or,
}
"""Integer and boolean operations of index expressions, as numpy evaluates them."""


class UnknownIndex(Exception):
    """An index expression that depends on something other than the variables given (a value
    loaded from memory, say)."""


def evaluate_index(expr: tvm.runtime.Object, value_of: Callable) -> np.ndarray:
    """An integer or boolean index expression over numpy arrays of its variables' values
    (`value_of(var)`, which raises UnknownIndex for a variable it does not know)."""
    kind = type(expr).__name__
    if kind == "IntImm":
        return np.int64(expr.value)
    if kind in ("Var", "SizeVar"):
        return value_of(expr)
    if kind in INDEX_OPS:
        a, b = evaluate_index(expr.a, value_of), evaluate_index(expr.b, value_of)
        return INDEX_OPS[kind](a, b).astype(np.int64)
    if kind == "Not":
        return np.logical_not(evaluate_index(expr.a, value_of)).astype(np.int64)
    if kind == "Cast":
        return evaluate_index(expr.value, value_of)
    if kind == "Select":
        condition = evaluate_index(expr.condition, value_of).astype(bool)
        chosen = (
            evaluate_index(expr.true_value, value_of),
            evaluate_index(expr.false_value, value_of),
        )
        return np.where(condition, *chosen)
    if kind == "Let":
        bound = evaluate_index(expr.value, value_of)
        return evaluate_index(
            expr.body, lambda var: bound if var.same_as(expr.var) else value_of(var)
        )
    raise UnknownIndex(kind)


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

    flops: float = 0
    global_bytes: float = 0

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
        self.extents: dict[tirx.Var, int] = {}  # loop and thread variables in scope
        self.lets: dict[tirx.Var, tvm.ir.expr.Expr] = {}

    def statement(self, stmt: tvm.runtime.Object, trips: float) -> None:
        kind = type(stmt).__name__
        if kind == "AttrStmt" and stmt.attr_key == "thread_extent":
            tag = stmt.node.thread_tag
            self.extents[stmt.node.var] = int(stmt.value)
            if tag in self.threads:  # the same thread axis, launched again: no new invocations
                self.statement(stmt.body, trips)
                return
            self.threads[tag] = int(stmt.value)
            self.statement(stmt.body, trips * int(stmt.value))
        elif kind == "For":
            self.extents[stmt.loop_var] = int(stmt.extent)
            self.statement(stmt.body, trips * int(stmt.extent))
        elif kind == "SeqStmt":
            for child in stmt.seq:
                self.statement(child, trips)
        elif kind == "IfThenElse":
            self.count(stmt.condition, trips)
            share = self.share(stmt.condition)
            self.statement(stmt.then_case, trips * share)
            if stmt.else_case is not None:
                self.statement(stmt.else_case, trips * (1 - share))
        elif kind in ("BufferStore", "Evaluate", "LetStmt"):
            self.count(stmt.value, trips)
            if kind == "LetStmt":
                self.lets[stmt.var] = stmt.value
                self.statement(stmt.body, trips)
        elif hasattr(stmt, "body"):  # allocations, declarations and other attributes
            self.statement(stmt.body, trips)

    def count(self, expr: tvm.runtime.Object, trips: float) -> None:
        cost = _cost(expr)
        self.total += _Cost(cost.flops * trips, cost.global_bytes * trips)

    def share(self, condition: tvm.ir.expr.Expr) -> float:
        """The share of the points of the loops and invocations around a guard where it
        holds; 1 where it depends on anything else, or on too many points to enumerate."""
        variables: dict[tirx.Var, np.ndarray] = {}

        def value_of(var: tirx.Var) -> np.ndarray:
            if var in self.lets:
                return evaluate_index(self.lets[var], value_of)
            if var not in self.extents:
                raise UnknownIndex(var.name)
            if var not in variables:  # a new axis of the grid of points, in front
                if math.prod(self.extents[v] for v in [var, *variables]) > _MAX_GUARD_POINTS:
                    raise UnknownIndex("too many points to enumerate")
                variables[var] = np.arange(self.extents[var]).reshape(-1, *[1] * len(variables))
            return variables[var]

        try:
            holds = evaluate_index(condition, value_of)
        except UnknownIndex:
            return 1.0
        return float(np.broadcast_to(holds, [self.extents[v] for v in reversed(variables)]).mean())


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
    invocations = math.prod(counter.threads.values())
    total = counter.total
    return KernelWork(invocations, round(total.flops), round(total.global_bytes))
