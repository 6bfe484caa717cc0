"""WebGPU: hand the GPU each few dozen kernels as soon as they are recorded.

tvmjs records every kernel call into one command encoder and submits it only when the page
syncs or reads back, so the GPU starts a UNet call only once the CPU has recorded all of it
(about 50 ms for the SD 1.5 UNet in the baseline, as long as PyTorch's whole call). This pass
calls the runtime's `websd.submit` after every `every` kernel calls of each function and
after its last one: the GPU runs a batch while the CPU records the next, and a call's work
is all on the GPU when it returns. The runtimes register `websd.submit`: tvmjs' pages and
benchmark submit the pending commands; a runtime may make it do nothing.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir import IRModule

SUBMIT = "websd.submit"
KERNELS_PER_SUBMIT = 32


def _submit() -> relax.VarBinding:
    nothing = relax.TupleType([])
    call = relax.Call(relax.ExternFunc(SUBMIT), [], ty_args=[nothing])
    return relax.VarBinding(relax.Var("_", nothing), call)


@tvm.transform.module_pass(opt_level=0, name="SubmitInBatches")
class SubmitInBatches:
    """After every `every` kernel calls of a function, and after its last, call `websd.submit`.

    Runs on the lowered module (no dataflow blocks, kernels called directly), so that the
    calls it counts are the kernel launches and nothing moves them.
    """

    def __init__(self, every: int = KERNELS_PER_SUBMIT) -> None:
        self.every = every

    def transform_module(self, mod: IRModule, _ctx: tvm.transform.PassContext) -> IRModule:
        updated = mod.clone()
        for gv, function in mod.functions_items():
            if isinstance(function, relax.Function):
                updated.update_func(gv, self._function(mod, function))
        return updated

    def _function(self, mod: IRModule, function: relax.Function) -> relax.Function:
        body = function.body
        pending = 0
        blocks = []
        for block in body.blocks:
            assert not isinstance(block, relax.DataflowBlock), "runs after ToNonDataflow"
            bindings = []
            for binding in block.bindings:
                bindings.append(binding)
                if self._is_kernel_call(mod, binding.value):
                    pending += 1
                    if pending == self.every:
                        bindings.append(_submit())
                        pending = 0
            blocks.append(relax.BindingBlock(bindings))
        if pending:
            blocks.append(relax.BindingBlock([_submit()]))
        return relax.Function(
            function.params,
            relax.SeqExpr(blocks, body.body),
            function.ret_ty,
            function.is_pure,
            function.attrs,
        )

    @staticmethod
    def _is_kernel_call(mod: IRModule, value: relax.Expr) -> bool:
        callee = getattr(value, "op", None)
        return isinstance(callee, relax.GlobalVar) and isinstance(mod[callee], tvm.tirx.PrimFunc)
