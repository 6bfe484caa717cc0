"""WebGPU: a 1×1 convolution next to a permute to or from channels-last reads or writes
channels-last itself.

A UNet transformer with convolutional projections (SD 1.x) runs on tokens, (N, H·W, C), and
converts at both ends: `proj_in` computes NCHW and is then permuted to NHWC, and the result is
permuted back to NCHW for `proj_out`. TVM fuses neither permute into its convolution (FuseOps
fuses a GEMM only with elementwise ops after it), so each runs as a kernel of its own that
reads and writes the whole activation: 32 launches per SD 1.5 UNet call. A 1×1 convolution is
a GEMM over channels whatever the layout of its positions, so here it reads its input in the
permute's layout, or writes its output in it; the GEMM schedule coalesces along whichever
axis is contiguous. What stays is a reshape between (N, H, W, C) and (N, H·W, C), which moves
no data. The native CPU build keeps TVM's legalization.
"""

from __future__ import annotations

import tvm
from tvm import relax, te
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from .rewrite import rewrite_functions

_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")
_PERMUTE = tvm.ir.Op.get("relax.permute_dims")
_ASTYPE = tvm.ir.Op.get("relax.astype")
_ADD = tvm.ir.Op.get("relax.add")
_TO_CHANNELS_LAST = [0, 2, 3, 1]
_TO_CHANNELS_FIRST = [0, 3, 1, 2]


def _pointwise_convolution(
    x: te.Tensor, weight: te.Tensor, channels_last_in: bool, out_dtype: str
) -> te.Tensor:
    """y = W · x over channels at each position; x in NHWC if `channels_last_in`, else NCHW,
    and y in the other layout."""
    if channels_last_in:
        n, h, w, channels = x.shape
        shape = (n, weight.shape[0], h, w)
    else:
        n, channels, h, w = x.shape
        shape = (n, h, w, weight.shape[0])
    c = te.reduce_axis((0, channels), name="c")

    def output(b, i, j, k):
        o, y, x_ = (i, j, k) if channels_last_in else (k, i, j)
        value = x[b, y, x_, c] if channels_last_in else x[b, c, y, x_]
        return te.sum(value.astype(out_dtype) * weight[o, c, 0, 0].astype(out_dtype), axis=c)

    return te.compute(shape, output, name="pointwise_conv2d")


def _is_pointwise(call: Expr) -> bool:
    """A 1×1, unstrided, ungrouped NCHW/OIHW convolution."""
    if not (isinstance(call, Call) and call.op == _CONV2D):
        return False
    attrs = call.attrs
    kernel = [int(d) for d in call.args[1].ty.shape]
    return (
        kernel[2:] == [1, 1]
        and (attrs.data_layout, attrs.kernel_layout, attrs.out_layout) == ("NCHW", "OIHW", "NCHW")
        and int(attrs.groups) == 1
        and all(int(s) == 1 for s in attrs.strides)
        and all(int(p) == 0 for p in attrs.padding)
    )


def _axes(permute: Call) -> list[int]:
    """The permutation of a `permute_dims` (none given: the axes reversed)."""
    if permute.attrs.axes is None:
        return list(reversed(range(len(permute.ty.shape))))
    return [int(a) for a in permute.attrs.axes]


def _channel_bias(add: Call, channels: int) -> Expr | None:
    """The (1, C, 1, 1) operand of an `add` that adds a bias per channel."""
    bias = add.args[1]
    shape = getattr(bias.ty, "shape", None)
    if shape is not None and [int(d) for d in shape] == [1, channels, 1, 1]:
        return bias
    return None


@expr_functor.mutator
class _ProjectionRewriter(PyExprMutator):
    def __init__(self, mod: IRModule, users: dict[relax.Var, int]) -> None:
        super().__init__(mod)
        self.users = users

    def _producer(self, value: Expr) -> Expr | None:
        """The call bound to `value` when `value` is its only user's input, else None."""
        if not (isinstance(value, relax.Var) and self.users.get(value) == 1):
            return None
        return self.lookup_binding(value)

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if _is_pointwise(call):
            return self._read_channels_last(call)
        if call.op == _PERMUTE and _axes(call) == _TO_CHANNELS_LAST:
            return self._write_channels_last(call)
        return call

    def _read_channels_last(self, conv: Call) -> Expr:
        """conv(permute(x, NHWC → NCHW)) → a convolution reading x."""
        x, weight = conv.args
        permute = self._producer(x)
        if not (
            isinstance(permute, Call)
            and permute.op == _PERMUTE
            and _axes(permute) == _TO_CHANNELS_FIRST
        ):
            return conv
        return self._convolve(permute.args[0], weight, conv, channels_last_in=True)

    def _write_channels_last(self, permute: Call) -> Expr:
        """permute(conv(x) [→ astype] [+ bias], NCHW → NHWC) → a convolution writing NHWC,
        then the same casts and biases, each bias laid out along the last axis."""
        chain: list[Call] = []
        value = self._producer(permute.args[0])
        while isinstance(value, Call) and value.op in (_ASTYPE, _ADD):
            chain.append(value)
            value = self._producer(value.args[0])
        if not _is_pointwise(value):
            return permute
        channels = int(value.args[1].ty.shape[0])
        steps = [(op, _channel_bias(op, channels) if op.op == _ADD else None) for op in chain]
        if any(op.op == _ADD and bias is None for op, bias in steps):
            return permute
        result = self._convolve(*value.args, value, channels_last_in=False)
        for op, bias in reversed(steps):
            if op.op == _ASTYPE:
                result = self.builder_.emit(relax.op.astype(result, op.attrs.dtype))
            else:
                bias = self.builder_.emit(relax.op.reshape(bias, (1, 1, 1, channels)))
                result = self.builder_.emit(relax.op.add(result, bias))
        return result

    def _convolve(self, x: Expr, weight: Expr, conv: Call, channels_last_in: bool) -> Expr:
        out_dtype = str(conv.attrs.out_dtype) or str(x.ty.dtype)
        return self.builder_.call_te(
            _pointwise_convolution,
            x,
            weight,
            channels_last_in,
            out_dtype,
            primfunc_name_hint="pointwise_conv2d",
        )


def _users(mod: IRModule) -> dict[relax.Var, int]:
    """How many bindings read each variable of the module's dataflow blocks."""
    users: dict[relax.Var, int] = {}
    for function in mod.functions.values():
        if not isinstance(function, relax.Function):
            continue
        for block in function.body.blocks:
            if isinstance(block, relax.DataflowBlock):
                chain = relax.analysis.udchain(block)
                users.update({var: len(readers) for var, readers in chain.items()})
    return users


@tvm.transform.module_pass(opt_level=0, name="ChannelsLastProjections")
class ChannelsLastProjections:
    """Folds the permutes between NCHW and NHWC into the 1×1 convolutions next to them."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        rewriter = _ProjectionRewriter(mod, _users(mod))
        return relax.transform.DeadCodeElimination()(rewrite_functions(mod, rewriter))
