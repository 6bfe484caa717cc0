"""float16 builds: two kinds of tensors that ToMixedPrecision keeps in fp32, stored in fp16.

- Embedding tables. `take(table, ids)` reads an fp16 copy of the table, a weight cast that
  LiftTransformParams moves to build time (so the download halves too), and casts the rows
  it took back to fp32. CLIP-L's token table is 145 MiB in fp32, over WebGPU's default
  128 MiB storage binding.
- Group-norm inputs, rounded to fp16. ToMixedPrecision keeps normalizations in fp32, so a
  convolution's fp16 output is cast back, bias-added and stored in fp32 for the norm: 256 MiB
  for the VAE decoder's 256 channels at 512×512. Every group norm in SD feeds an fp16
  convolution or matmul, so rounding its input costs about what rounding its output already
  does; and the conv's output, now only ever cast to fp16, is written in fp16 by its kernel.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

_TAKE = tvm.ir.Op.get("relax.take")
_GROUP_NORM = tvm.ir.Op.get("relax.nn.group_norm")
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
        if call.op == _GROUP_NORM and _dtype(call) == _F32:
            rounded = self.builder_.emit(relax.op.astype(call.args[0], _F16))
            x = self.builder_.emit(relax.op.astype(rounded, _F32))
            return relax.Call(call.op, [x, *call.args[1:]], call.attrs)
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
        # The conv's own cast for a shortcut and the norm's cast become one, its only reader.
        return relax.transform.EliminateCommonSubexpr()(narrower.builder_.get())
