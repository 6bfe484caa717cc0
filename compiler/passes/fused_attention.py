"""WebGPU: every static-shape `R.nn.attention` becomes one call of the fused attention kernel.

TVM's legalization of `R.nn.attention` writes the whole [B·H, Sq, Skv] score matrix to a
storage buffer (for SD-1.5 at 512×512: 1 GiB, over WebGPU's default limits) and runs softmax
over it; the fused kernel (`websd.kernels.attention`) keeps each score tile in workgroup
memory. The native CPU build keeps the legalization, which is correct there.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from ..kernels.attention import AttentionShape, attention_kernel
from .rewrite import rewrite_functions

_ATTENTION = tvm.ir.Op.get("relax.nn.attention")
_OPAQUE = 8  # relay/relax OpPatternKind kOpaque: FuseOps leaves the call alone


def _static_shape(expr: Expr) -> tuple[tuple[int, ...], str] | None:
    ty = expr.ty
    shape = getattr(ty, "shape", None)
    if shape is None or not all(isinstance(d, tvm.tirx.IntImm) for d in shape):
        return None
    return tuple(int(d) for d in shape), str(ty.dtype)


def attention_shape(call: Call) -> AttentionShape | None:
    """The kernel's shape for an attention call, or None where it cannot take it
    (dynamic shapes, sliding windows, mixed dtypes)."""
    q, k, v = (_static_shape(arg) for arg in call.args[:3])
    if q is None or k is None or v is None or call.attrs.window_size is not None:
        return None
    (batch, q_len, heads, head_dim), dtype = q
    (_, kv_len, _, _), (_, _, _, v_head_dim) = k[0], v[0]
    if {k[1], v[1]} != {dtype}:
        return None
    mask = call.attrs.causal_mask
    offsets = {None: None, "TopLeft": 0, "BottomRight": abs(q_len - kv_len)}
    scale = call.attrs.scale
    return AttentionShape(
        batch=batch,
        heads=heads,
        q_len=q_len,
        kv_len=kv_len,
        head_dim=head_dim,
        v_head_dim=v_head_dim,
        dtype=dtype,
        scale=None if scale is None else float(scale.value),
        causal_offset=offsets[mask],
    )


@expr_functor.mutator
class _AttentionRewriter(PyExprMutator):
    def __init__(self, mod: IRModule) -> None:
        super().__init__(mod)
        self.kernels: dict[AttentionShape, relax.GlobalVar] = {}

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op != _ATTENTION or (shape := attention_shape(call)) is None:
            return call
        if shape not in self.kernels:
            kernel = attention_kernel(shape).with_attr("op_pattern", _OPAQUE)
            self.kernels[shape] = self.builder_.add_func(kernel, "fused_attention")
        return relax.call_tir(self.kernels[shape], list(call.args[:3]), call.ty)


@tvm.transform.module_pass(opt_level=0, name="FusedAttention")
class FusedAttention:
    """Rewrites `R.nn.attention` into `R.call_tir` of the fused kernel, one per shape."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        return rewrite_functions(mod, _AttentionRewriter(mod))
