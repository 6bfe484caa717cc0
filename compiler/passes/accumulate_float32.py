"""float16 builds: GEMMs and convolutions accumulate in fp32, and the output tail stays fp32.

`ToMixedPrecision(out_dtype="float16")` stores every activation in fp16, as a PyTorch fp16
pipeline does, but its GEMMs and convolutions would also sum in fp16. This pass gives each
of them an fp32 accumulator and rounds only the result: `astype(conv2d(…, out_dtype=fp32),
fp16)`, which FuseOps folds into the kernel's epilogue, so no fp32 tensor is ever stored.

Each function's last GEMM or convolution keeps its fp32 result, and every op after it runs in
fp32: the VAE's last convolution and the post-processing to RGBA8 (so the image is quantized
from fp32 values), the UNet's last convolution and the guidance (so the scheduler reads an
fp32 noise prediction), the text encoder's last residual sum and layer norm.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

_F16, _F32 = "float16", "float32"
_CONV2D = tvm.ir.Op.get("relax.nn.conv2d")
_MATMUL = tvm.ir.Op.get("relax.matmul")


def _tail(function: relax.Function) -> set[Expr]:
    """The function's last GEMM or convolution and every op bound after it."""
    values = [binding.value for block in function.body.blocks for binding in block.bindings]
    last = max((i for i, value in enumerate(values) if _accumulates(value)), default=len(values))
    return set(values[last:])


def _accumulates(value: Expr) -> bool:
    return (
        isinstance(value, Call)
        and value.op in (_CONV2D, _MATMUL)
        and str(value.attrs.out_dtype) == _F16
    )


def _widened(call: Call) -> Call:
    if call.op == _MATMUL:
        return relax.op.matmul(*call.args, out_dtype=_F32)
    attrs = call.attrs
    return relax.op.nn.conv2d(
        *call.args,
        strides=attrs.strides,
        padding=attrs.padding,
        dilation=attrs.dilation,
        groups=attrs.groups,
        data_layout=attrs.data_layout,
        kernel_layout=attrs.kernel_layout,
        out_layout=attrs.out_layout,
        out_dtype=_F32,
    )


@expr_functor.mutator
class _Accumulator(PyExprMutator):
    def __init__(self, mod: IRModule) -> None:
        super().__init__(mod)
        self.tail: set[Expr] = set()

    def visit_call_(self, call: Call) -> Expr:
        if call in self.tail and not _accumulates(call):
            # Rebuilt here: some arguments may be fp32 now, which the op would reject.
            args = [self.visit_expr(arg) for arg in call.args]
            if any(_dtype(arg) == _F32 for arg in args):
                args = [self._f32(arg) for arg in args]
            return relax.Call(call.op, args, call.attrs, call.ty_args)
        new = super().visit_call_(call)
        if _accumulates(new):
            wide = _widened(new)
            return wide if call in self.tail else relax.op.astype(self.builder_.emit(wide), _F16)
        return new

    def _f32(self, arg: Expr) -> Expr:
        return self.builder_.emit(relax.op.astype(arg, _F32)) if _dtype(arg) == _F16 else arg


def _dtype(expr: Expr) -> str | None:
    dtype = getattr(expr.ty, "dtype", None)
    return None if dtype is None else str(dtype)


@tvm.transform.module_pass(opt_level=0, name="AccumulateFloat32")
class AccumulateFloat32:
    """Run after `ToMixedPrecision(out_dtype="float16")`."""

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        accumulator = _Accumulator(mod)
        for gv, function in mod.functions_items():
            if isinstance(function, relax.Function):
                accumulator.tail = _tail(function)
                accumulator.builder_.update_func(gv, accumulator.visit_expr(function))
        return accumulator.builder_.get()
