"""WebGPU: a layer norm of an fp16 tensor cast to fp32 reads the fp16 tensor and casts in
registers.

float16 builds normalize in fp32 (`mixed_precision`), so each transformer layer norm reads
`astype(x, "float32")`. TVM's FuseOps fuses a layer norm with the ops after it but not with
the cast before it, which then runs as a kernel of its own: it reads x, writes it at twice
the width, and the norm reads that back (49 such kernels per SD 1.5 UNet call). Here the cast
becomes the first stage of the layer norm's own kernel: the same arithmetic, one launch and
one fp16 read fewer. fp32 builds have no such casts and keep TVM's legalization.
"""

from __future__ import annotations

import tvm
from tvm import relax, te, topi
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from .rewrite import rewrite_functions

_LAYER_NORM = tvm.ir.Op.get("relax.nn.layer_norm")
_ASTYPE = tvm.ir.Op.get("relax.astype")


def _layer_norm_widened(
    x: te.Tensor, gamma: te.Tensor, beta: te.Tensor, axes: list[int], epsilon: float
) -> te.Tensor:
    wide = te.compute(x.shape, lambda *i: x(*i).astype(gamma.dtype), name="widen")
    return topi.nn.layer_norm(wide, gamma, beta, axis=axes, epsilon=epsilon)


@expr_functor.mutator
class _LayerNormRewriter(PyExprMutator):
    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op != _LAYER_NORM or not (call.attrs.center and call.attrs.scale):
            return call
        x, gamma, beta = call.args
        producer = self.lookup_binding(x) if isinstance(x, relax.Var) else None
        if not (
            isinstance(producer, Call)
            and producer.op == _ASTYPE
            and str(producer.args[0].ty.dtype) == "float16"
            and str(x.ty.dtype) == str(gamma.ty.dtype) == str(beta.ty.dtype) == "float32"
        ):
            return call
        return self.builder_.call_te(
            _layer_norm_widened,
            producer.args[0],
            gamma,
            beta,
            [int(axis) for axis in call.attrs.axes],
            float(call.attrs.epsilon),
            primfunc_name_hint="layer_norm_widened",
        )


@tvm.transform.module_pass(opt_level=0, name="WidenedLayerNorm")
class WidenedLayerNorm:
    """Folds the fp16 → fp32 cast in front of each layer norm into the norm's kernel."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        return relax.transform.DeadCodeElimination()(
            rewrite_functions(mod, _LayerNormRewriter(mod))
        )
