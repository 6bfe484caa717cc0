"""float16 builds: a cast to a wider float and straight back is dropped.

diffusers casts attention's output to the query's dtype (`.to(query.dtype)`), fp32 in the
imported model; ToMixedPrecision then casts it back to fp16 for the output projection. The
pair changes no value (every fp16 number is exact in fp32), yet it costs a kernel: without
it the head merge after attention is a free reshape, with it a copy of the whole activation
(32 launches per SD 1.5 UNet call, 12 per text encoder call).
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from .rewrite import rewrite_functions

_ASTYPE = tvm.ir.Op.get("relax.astype")
# (narrow, wide): every value of `narrow` is exact in `wide`.
_EXACT_WIDENINGS = {
    ("float16", "float32"),
    ("float16", "float64"),
    ("bfloat16", "float32"),
    ("bfloat16", "float64"),
    ("float32", "float64"),
}


@expr_functor.mutator
class _RoundTripDropper(PyExprMutator):
    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op != _ASTYPE or not isinstance(call.args[0], relax.Var):
            return call
        widened = self.lookup_binding(call.args[0])
        if not (isinstance(widened, Call) and widened.op == _ASTYPE):
            return call
        source = widened.args[0]
        narrow, wide = str(source.ty.dtype), str(call.args[0].ty.dtype)
        if narrow == str(call.ty.dtype) and (narrow, wide) in _EXACT_WIDENINGS:
            return source
        return call


@tvm.transform.module_pass(opt_level=0, name="DropCastRoundTrips")
class DropCastRoundTrips:
    """astype(astype(x, wide), x.dtype) → x, for widenings that are exact."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        dropped = rewrite_functions(mod, _RoundTripDropper(mod))
        return relax.transform.DeadCodeElimination()(dropped)
