"""WebGPU: every static-shape `R.nn.attention` becomes one call of the fused attention kernel.

TVM's legalization of `R.nn.attention` writes the whole [B·H, Sq, Skv] score matrix to a
storage buffer (for SD-1.5 at 512×512: 1 GiB, over WebGPU's default limits) and runs softmax
over it; the fused kernel (`websd.kernels.attention`) keeps each score tile in workgroup
memory. The native CPU build keeps the legalization, which is correct there.

An operand that is a slice of a fused projection's output (diffusers' `to_qkv` and `to_kv`:
`split` along channels, then viewed as heads) is read by the kernel from that output itself,
so the split's copy of Q, K and V (a kernel, and a write and a read of all three) goes away.
"""

from __future__ import annotations

import dataclasses

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from ..kernels.attention import WHOLE, AttentionShape, HeadSlice, attention_kernel
from .rewrite import rewrite_functions

_ATTENTION = tvm.ir.Op.get("relax.nn.attention")
_PERMUTE = tvm.ir.Op.get("relax.permute_dims")
_RESHAPE = tvm.ir.Op.get("relax.reshape")
_SPLIT = tvm.ir.Op.get("relax.split")
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


def _shape(ty: relax.TensorType) -> list[int]:
    return [int(d) for d in ty.shape]


@expr_functor.mutator
class _AttentionRewriter(PyExprMutator):
    def __init__(self, mod: IRModule) -> None:
        super().__init__(mod)
        self.kernels: dict[AttentionShape, relax.GlobalVar] = {}

    def _bound_call(self, expr: Expr, op: tvm.ir.Op) -> Call | None:
        value = self.lookup_binding(expr) if isinstance(expr, relax.Var) else None
        return value if isinstance(value, Call) and value.op == op else None

    def _slice_of(self, operand: Expr) -> tuple[Expr, HeadSlice] | None:
        """(tensor [B, S, parts·H·D], its slice) when `operand` [B, S, H, D] is slice `index`
        of a channel split of that tensor, viewed as heads: a reshape, then permutes that
        cancel out (torch's `.view(...).transpose(1, 2)` and the importer's transpose back)."""
        axes = [0, 1, 2, 3]
        while (permute := self._bound_call(operand, _PERMUTE)) is not None:
            axes = [int(permute.attrs.axes[a]) for a in axes]
            operand = permute.args[0]
        reshape = self._bound_call(operand, _RESHAPE)
        if axes != [0, 1, 2, 3] or reshape is None:
            return None
        part = (
            self.lookup_binding(reshape.args[0]) if isinstance(reshape.args[0], relax.Var) else None
        )
        if not isinstance(part, relax.TupleGetItem):
            return None
        split = self._bound_call(part.tuple_value, _SPLIT)
        if split is None:
            return None
        tensor = split.args[0]
        sizes = [_shape(field)[-1] for field in split.ty.fields]
        rank = len(_shape(tensor.ty))
        if rank != 3 or int(split.attrs.axis) % rank != 2 or len(set(sizes)) != 1:
            return None
        return tensor, HeadSlice(parts=len(sizes), index=int(part.index))

    def _operands(self, call: Call) -> tuple[list[Expr], tuple[HeadSlice, ...]]:
        """The tensors the kernel reads Q, K and V from, and where in them: one view as heads
        per split tensor, shared by the operands sliced from it."""
        views: dict[Expr, Expr] = {}
        tensors, slices = [], []
        for operand in call.args[:3]:
            found = self._slice_of(operand)
            if found is None:
                tensors.append(operand)
                slices.append(WHOLE)
                continue
            tensor, head_slice = found
            if tensor not in views:
                batch, tokens, heads, head_dim = _shape(operand.ty)
                heads_shape = [batch, tokens, head_slice.parts * heads, head_dim]
                views[tensor] = self.builder_.emit(relax.op.reshape(tensor, heads_shape))
            tensors.append(views[tensor])
            slices.append(head_slice)
        return tensors, tuple(slices)

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op != _ATTENTION or (shape := attention_shape(call)) is None:
            return call
        tensors, slices = self._operands(call)
        shape = dataclasses.replace(shape, slices=slices)
        if shape not in self.kernels:
            kernel = attention_kernel(shape).with_attr("op_pattern", _OPAQUE)
            self.kernels[shape] = self.builder_.add_func(kernel, "fused_attention")
        return relax.call_tir(self.kernels[shape], tensors, call.ty)


@tvm.transform.module_pass(opt_level=0, name="FusedAttention")
class FusedAttention:
    """Rewrites `R.nn.attention` into `R.call_tir` of the fused kernel, one per shape."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        return rewrite_functions(mod, _AttentionRewriter(mod))
