"""WebGPU: a projection next to a permute between NCHW and channels-last reads or writes the
permuted layout itself.

A UNet transformer with convolutional projections (SD 1.x) runs on tokens, (N, H·W, C), and
converts at both ends: `proj_in` computes NCHW and is then permuted to NHWC, and the result is
permuted back to NCHW for `proj_out`. TVM fuses neither permute into its convolution (FuseOps
fuses a GEMM only with elementwise ops after it), so each runs as a kernel of its own that
reads and writes the whole activation: 32 launches per SD 1.5 UNet call. A 1×1 convolution is
a GEMM over channels whatever the layout of its positions, so here it reads its input in the
permute's layout, or writes its output in it; the GEMM schedule coalesces along whichever
axis is contiguous. What stays is a reshape between (N, H, W, C) and (N, H·W, C), which moves
no data.

SD 2.x's blocks project with linear layers on tokens instead. Their way in is already free
(the permute to channels-last fuses into the group norm before it), but `proj_out`'s matmul
was followed by a kernel that permuted its result back to NCHW and added the residual: the
same GEMM now writes NCHW, and the residual add fuses into it (16 kernels per SD 2.x UNet
call). The native CPU build keeps TVM's legalization.
"""

from __future__ import annotations

import tvm
from tvm import relax, te
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from .rewrite import rewrite_functions

_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")
_MATMUL = tvm.ir.Op.get("relax.matmul")
_PERMUTE = tvm.ir.Op.get("relax.permute_dims")
_RESHAPE = tvm.ir.Op.get("relax.reshape")
_ASTYPE = tvm.ir.Op.get("relax.astype")
_ADD = tvm.ir.Op.get("relax.add")
_TO_CHANNELS_LAST = [0, 2, 3, 1]
_TO_CHANNELS_FIRST = [0, 3, 1, 2]


def _pointwise_convolution(
    x: te.Tensor, weight: te.Tensor, channels_last_in: bool, out_dtype: str
) -> te.Tensor:
    """y = W · x over channels at each position; x in NHWC if `channels_last_in`, else NCHW,
    and y in the other layout. W is a convolution's (O, I, 1, 1) or a matmul's (I, O)."""
    is_matmul = len(weight.shape) == 2
    outputs = weight.shape[1] if is_matmul else weight.shape[0]
    if channels_last_in:
        n, h, w, channels = x.shape
        shape = (n, outputs, h, w)
    else:
        n, channels, h, w = x.shape
        shape = (n, h, w, outputs)
    c = te.reduce_axis((0, channels), name="c")

    def output(b, i, j, k):
        o, y, x_ = (i, j, k) if channels_last_in else (k, i, j)
        value = x[b, y, x_, c] if channels_last_in else x[b, c, y, x_]
        w = weight[c, o] if is_matmul else weight[o, c, 0, 0]
        return te.sum(value.astype(out_dtype) * w.astype(out_dtype), axis=c)

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


def _shape(expr: Expr) -> list[int] | None:
    shape = getattr(expr.ty, "shape", None)
    return None if shape is None else [int(d) for d in shape]


def _bias(add: Call, shape: list[int]) -> Expr | None:
    """The operand of an `add` that adds a bias per channel, laid out as `shape`."""
    bias = add.args[1]
    return bias if _shape(bias) == shape else None


def _biases(chain: list[Call], shape: list[int]) -> list[Expr | None] | None:
    """Each op of an epilogue `chain`'s bias, laid out as `shape` (None for a cast); None when
    one of its adds adds anything but such a bias."""
    biases = [_bias(op, shape) if op.op == _ADD else None for op in chain]
    if any(op.op == _ADD and bias is None for op, bias in zip(chain, biases, strict=True)):
        return None
    return biases


def _is_token_projection(call: Expr) -> bool:
    """A linear layer on tokens: (N, L, I) @ (I, O)."""
    return (
        isinstance(call, Call)
        and call.op == _MATMUL
        and len(_shape(call.args[0]) or ()) == 3
        and len(_shape(call.args[1]) or ()) == 2
    )


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
        if call.op == _PERMUTE and _axes(call) == _TO_CHANNELS_FIRST:
            return self._write_channels_first(call)
        return call

    def _epilogue(self, value: Expr | None) -> tuple[Expr | None, list[Call]]:
        """The projection under a chain of casts and bias adds, and the chain (last first)."""
        chain: list[Call] = []
        value = self._producer(value)
        while isinstance(value, Call) and value.op in (_ASTYPE, _ADD):
            chain.append(value)
            value = self._producer(value.args[0])
        return value, chain

    def _apply(
        self, result: Expr, chain: list[Call], biases: list[Expr | None], shape: tuple[int, ...]
    ) -> Expr:
        """`chain`'s casts and bias adds applied to `result`, each bias reshaped to `shape`."""
        for op, bias in reversed(list(zip(chain, biases, strict=True))):
            if op.op == _ASTYPE:
                result = self.builder_.emit(relax.op.astype(result, op.attrs.dtype))
            else:
                bias = self.builder_.emit(relax.op.reshape(bias, shape))
                result = self.builder_.emit(relax.op.add(result, bias))
        return result

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
        conv, chain = self._epilogue(permute.args[0])
        if not _is_pointwise(conv):
            return permute
        channels = int(conv.args[1].ty.shape[0])
        biases = _biases(chain, [1, channels, 1, 1])
        if biases is None:
            return permute
        result = self._convolve(*conv.args, conv, channels_last_in=False)
        return self._apply(result, chain, biases, (1, 1, 1, channels))

    def _write_channels_first(self, permute: Call) -> Expr:
        """permute(reshape(x @ W [→ astype] [+ bias], tokens → NHWC), NHWC → NCHW) → a GEMM
        reading the tokens as NHWC and writing NCHW, then the same casts and biases, each
        bias laid out along the channel axis."""
        reshape = self._producer(permute.args[0])
        if not (isinstance(reshape, Call) and reshape.op == _RESHAPE):
            return permute
        batch, height, width, channels = _shape(reshape)
        matmul, chain = self._epilogue(reshape.args[0])
        if not _is_token_projection(matmul):
            return permute
        tokens, weight = matmul.args
        if _shape(tokens)[:2] != [batch, height * width]:
            return permute
        biases = _biases(chain, [channels])
        if biases is None:
            return permute
        nhwc = self.builder_.emit(
            relax.op.reshape(tokens, (batch, height, width, _shape(tokens)[2]))
        )
        result = self._convolve(nhwc, weight, matmul, channels_last_in=True)
        return self._apply(result, chain, biases, (1, channels, 1, 1))

    def _convolve(self, x: Expr, weight: Expr, projection: Call, channels_last_in: bool) -> Expr:
        out_dtype = str(projection.attrs.out_dtype) or str(x.ty.dtype)
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
    """Folds the permutes between NCHW and NHWC into the projections next to them."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        rewriter = _ProjectionRewriter(mod, _users(mod))
        # A rewritten permute's binding becomes an alias of the projection's last op, which
        # FuseOps would not fuse through: canonicalized, the ops after it read that op.
        rewritten = relax.transform.CanonicalizeBindings()(rewrite_functions(mod, rewriter))
        return relax.transform.DeadCodeElimination()(rewritten)
