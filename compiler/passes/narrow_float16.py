"""float16 builds: embedding tables, which ToMixedPrecision keeps in fp32, stored in fp16.

`take(table, ids)` reads an fp16 copy of the table, a weight cast that LiftTransformParams
moves to build time (so the download halves too), and casts the rows it took back to fp32.
CLIP-L's token table is 145 MiB in fp32, over WebGPU's default 128 MiB storage binding.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

_TAKE = tvm.ir.Op.get("relax.take")
_F16, _F32 = "float16", "float32"


@expr_functor.mutator
class _Narrower(PyExprMutator):
    def __init__(self, mod: IRModule) -> None:
        super().__init__(mod)
        self.weights: set[relax.Var] = set()

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op == _TAKE and call.args[0] in self.weights and _dtype(call) == _F32:
            table, ids = call.args
            half = relax.op.take(
                self.builder_.emit(relax.op.astype(table, _F16)), ids, call.attrs.axis
            )
            return relax.op.astype(self.builder_.emit(half), _F32)
        return call


def _dtype(call: Call) -> str:
    return str(call.args[0].ty.dtype)


@tvm.transform.module_pass(opt_level=0, name="NarrowToFloat16")
class NarrowToFloat16:
    """Run after ToMixedPrecision, before LiftTransformParams (weights beyond `num_input`)."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        narrower = _Narrower(mod)
        for gv, function in mod.functions_items():
            if isinstance(function, relax.Function) and "num_input" in function.attrs:
                narrower.weights = set(function.params[int(function.attrs["num_input"]) :])
                narrower.builder_.update_func(gv, narrower.visit_expr(function))
        return narrower.builder_.get()
