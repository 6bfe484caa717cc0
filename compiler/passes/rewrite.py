"""The module walk shared by the WebGPU rewrites that need no state per function."""

from __future__ import annotations

from tvm import relax
from tvm.ir import IRModule
from tvm.relax import PyExprMutator


def rewrite_functions(mod: IRModule, mutator: PyExprMutator) -> IRModule:
    """`mod` with every Relax function passed through `mutator` (built on `mod`), and the
    functions the mutator added."""
    for gv, function in mod.functions_items():
        if isinstance(function, relax.Function):
            mutator.builder_.update_func(gv, mutator.visit_expr(function))
    return mutator.builder_.get()
