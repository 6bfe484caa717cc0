"""Put back the attributes of `R.nn.attention` calls that ToMixedPrecision dropped.

TVM 0.27's ToMixedPrecision rebuilds each attention call with casts to fp16 but without its
attributes: CLIP's `causal_mask="TopLeft"` became None, so an fp16 text encoder attended to
the tokens after each token too (relative error 0.4 against PyTorch). Attention calls keep
their order in each function, so the n-th call after the rewrite takes the n-th call's
attributes from before it.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

_ATTENTION = tvm.ir.Op.get("relax.nn.attention")


def _attention_attrs(function: relax.Function) -> list[tvm.ir.Attrs]:
    return [
        binding.value.attrs
        for block in function.body.blocks
        for binding in block.bindings
        if isinstance(binding.value, Call) and binding.value.op == _ATTENTION
    ]


@expr_functor.mutator
class _Restorer(PyExprMutator):
    def __init__(self, mod: IRModule) -> None:
        super().__init__(mod)
        self.attrs: list[tvm.ir.Attrs] = []

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op != _ATTENTION:
            return call
        return relax.Call(call.op, call.args, self.attrs.pop(0), call.ty_args)


@tvm.transform.module_pass(opt_level=0, name="KeepAttentionAttrs")
class KeepAttentionAttrs:
    """Run right after ToMixedPrecision, given the module it rewrote."""

    def __init__(self, original: IRModule) -> None:
        self.original = original

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        restorer = _Restorer(mod)
        for gv, function in mod.functions_items():
            if isinstance(function, relax.Function):
                restorer.attrs = _attention_attrs(self.original[gv.name_hint])
                if len(restorer.attrs) != len(_attention_attrs(function)):
                    raise RuntimeError(f"{gv.name_hint}: attention calls were added or removed")
                restorer.builder_.update_func(gv, restorer.visit_expr(function))
        return restorer.builder_.get()
