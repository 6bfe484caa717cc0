"""WebGPU: `R.nn.group_norm` as a statistics kernel plus elementwise ops that fuse downstream.

The statistics (`websd.kernels.group_norm`) run one workgroup per (sample, group), or for
large groups one per chunk of each plus a kernel that combines the chunks; the
normalization `(x - mean) · rstd · γ + β` stays in Relax, so FuseOps merges it with the SiLU
or cast that follows into one elementwise kernel over the whole tensor. Where x is a cast to
fp32 of a narrower tensor, both read the narrow one and cast in registers. The native CPU
build keeps TVM's legalization.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tvm
from tvm import relax, tirx
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from ..kernels.group_norm import (
    group_partial_sums_kernel,
    group_stats_from_chunks_kernel,
    group_stats_kernel,
    slab_chunks,
)
from .rewrite import rewrite_functions

_GROUP_NORM = tvm.ir.Op.get("relax.nn.group_norm")
_ASTYPE = tvm.ir.Op.get("relax.astype")
_OPAQUE = 8  # OpPatternKind kOpaque: FuseOps leaves the call alone
_F32 = "float32"


def _grouped_shape(call: Call) -> tuple[int, int, int] | None:
    """(N, G, L) when each group is one contiguous slab of x (channels on axis 1, normalized
    over every later axis, static shape); None otherwise."""
    shape = getattr(call.args[0].ty, "shape", None)
    if shape is None or not all(isinstance(d, tvm.tirx.IntImm) for d in shape):
        return None
    dims = [int(d) for d in shape]
    attrs = call.attrs
    groups = int(attrs.num_groups)
    axes = [int(a) for a in attrs.axes]
    if int(attrs.channel_axis) != 1 or axes != list(range(2, len(dims))) or dims[1] % groups:
        return None
    return dims[0], groups, math.prod(dims[1:]) // groups


@expr_functor.mutator
class _GroupNormRewriter(PyExprMutator):
    def __init__(self, mod: IRModule) -> None:
        super().__init__(mod)
        self.kernels: dict[tuple, tuple[relax.GlobalVar, list[relax.Type]]] = {}

    def _source(self, x: Expr) -> Expr:
        """x, or the narrower tensor that x is an fp32 cast of."""
        producer = self.lookup_binding(x) if isinstance(x, relax.Var) else None
        if (
            isinstance(producer, Call)
            and producer.op == _ASTYPE
            and str(producer.args[0].ty.dtype) == "float16"
        ):
            return producer.args[0]
        return x

    def _call(
        self, name: str, make: Callable[..., tirx.PrimFunc], key: tuple, args: list[Expr]
    ) -> list[Expr]:
        """Call kernel `make(*key)`, added to the module once per key, on `args`; its outputs
        (the buffers after its inputs) as a list."""
        if (make, key) not in self.kernels:
            kernel = make(*key)
            outputs = list(kernel.ty.params[len(args) :])
            added = self.builder_.add_func(kernel.with_attr("op_pattern", _OPAQUE), name)
            self.kernels[make, key] = (added, outputs)
        kernel, outputs = self.kernels[make, key]
        results = self.builder_.emit(relax.call_tir(kernel, args, outputs))
        return [self.builder_.emit(relax.TupleGetItem(results, i)) for i in range(len(outputs))]

    def _stats(self, slabs: Expr, epsilon: float) -> list[Expr]:
        """[mean, rstd] of each slab of `slabs` [N, G, L], in fp32."""
        batch, groups, size = (int(d) for d in slabs.ty.shape)
        dtype = str(slabs.ty.dtype)
        chunks = slab_chunks(size)
        if chunks == 1:
            key = (batch, groups, size, dtype, epsilon)
            return self._call("group_norm_stats", group_stats_kernel, key, [slabs])
        key = (batch, groups, size, chunks, dtype)
        sums = self._call("group_norm_partial_sums", group_partial_sums_kernel, key, [slabs])
        key = (*key, epsilon)
        return self._call("group_norm_stats", group_stats_from_chunks_kernel, key, [slabs, *sums])

    def _f32(self, value: Expr) -> Expr:
        if str(value.ty.dtype) == _F32:
            return value
        return self.builder_.emit(relax.op.astype(value, _F32))

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if call.op != _GROUP_NORM or (grouped := _grouped_shape(call)) is None:
            return call
        x, gamma, beta = call.args
        emit = self.builder_.emit
        slabs = emit(relax.op.reshape(self._source(x), grouped))
        mean, rstd = self._stats(slabs, float(call.attrs.epsilon))
        normalized = emit(relax.op.multiply(relax.op.subtract(self._f32(slabs), mean), rstd))
        # The last op is returned, not emitted, so that its consumer (a SiLU) sees a call to
        # fuse with rather than an alias.
        out = relax.op.reshape(normalized, x.ty.shape)
        channels = [1, int(x.ty.shape[1])] + [1] * (len(x.ty.shape) - 2)
        if call.attrs.scale:
            out = relax.op.multiply(emit(out), relax.op.reshape(self._f32(gamma), channels))
        if call.attrs.center:
            out = relax.op.add(emit(out), relax.op.reshape(self._f32(beta), channels))
        if str(call.ty.dtype) != _F32:
            out = relax.op.astype(emit(out), call.ty.dtype)
        return out


@tvm.transform.module_pass(opt_level=0, name="FusedGroupNorm")
class FusedGroupNorm:
    """Rewrites `R.nn.group_norm` into the statistics kernel and elementwise ops."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        return relax.transform.DeadCodeElimination()(
            rewrite_functions(mod, _GroupNormRewriter(mod))
        )
