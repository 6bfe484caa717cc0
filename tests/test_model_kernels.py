"""Every fused kernel of tiny-sd1, run alone on real WebGPU against the same kernel on the CPU,
in float32 and in float16 (with shader-f16, as webgpu_kernels runs it).

A wrong kernel shows up in a whole-model test as a wrong image; here it shows up by name.
Each kernel that `fusion` leaves for the schedule rules (GEMMs, transposes, reductions,
elementwise chains) gets the same random inputs, in its own dtypes, on both sides. The
hand-scheduled attention and group statistics kernels have no CPU form:
test_fused_attention.py and test_fused_group_norm.py check them against PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from webgpu_kernels import needs_webgpu, run_on_webgpu

# Of the largest output magnitude; in float16, one unit in the last place of it.
TOLERANCE = {"float32": 1e-4, "float16": 2**-10}
TRIGONOMETRY_TOLERANCE = 2**-11  # WGSL's accuracy of sin and cos: absolute, on [-π, π]


@dataclass(frozen=True)
class KernelCall:
    """One call site of a fused kernel: its argument and output types."""

    name: str
    args: list
    output: object


def _static_float(types: list) -> bool:
    from tvm import relax, tirx

    return all(
        isinstance(t, relax.TensorType)
        and t.dtype in ("float32", "float16")
        and all(isinstance(d, tirx.IntImm) for d in t.shape.values)
        for t in types
    )


def _fused_kernels(folder, dtype: str) -> tuple:
    """tiny-sd1's module in `dtype` after `fusion`, and one call of each kernel the rules
    schedule."""
    import tvm
    from tvm import relax

    from websd.assemble import assemble
    from websd.passes.mixed_precision import to_float16
    from websd.passes.pipeline import fusion, prepare
    from websd.spec import BuildOptions, ImageSize, read_spec
    from websd.targets import WEBGPU, target

    options = BuildOptions(sizes=(ImageSize(64, 64), ImageSize(128, 64)))
    model = assemble(read_spec(folder, options), progress=lambda _: None)
    module = prepare((to_float16(model) if dtype == "float16" else model).module)
    webgpu = target(WEBGPU)
    with webgpu:
        fused = fusion(webgpu)(module)
    call_tir = tvm.ir.Op.get("relax.call_tir")
    calls: dict[str, KernelCall] = {}

    def visit(expr) -> None:
        if isinstance(expr, relax.Call) and expr.op == call_tir:
            name = expr.args[0].name_hint
            args = [arg.ty for arg in expr.args[1].fields]
            calls.setdefault(name, KernelCall(name, args, expr.ty))

    for function in fused.functions.values():
        if isinstance(function, relax.Function):
            relax.analysis.post_order_visit(function, visit)
    checked = [
        call
        for call in calls.values()
        if "thread_binding" not in fused[call.name].script()
        and _static_float([*call.args, call.output])
    ]
    return fused, checked


def _wrapped(fused, calls: list[KernelCall]):
    """A module with one Relax function per kernel, `run_<kernel>`, calling it once."""
    from tvm import relax

    builder = relax.BlockBuilder()
    for call in calls:
        kernel = builder.add_func(fused[call.name], call.name)
        params = [relax.Var(f"arg{i}", t) for i, t in enumerate(call.args)]
        with builder.function(f"run_{call.name}", params):
            with builder.dataflow():
                result = builder.emit_output(relax.call_tir(kernel, params, call.output))
            builder.emit_func_output(result)
    return builder.get()


@pytest.fixture(scope="module", params=["float32", "float16"])
def kernel_results(tiny_sd1, request, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import tvm
    from tvm import relax

    from websd.targets import NATIVE_CPU, target

    dtype = request.param
    fused, calls = _fused_kernels(tiny_sd1, dtype)
    rng = np.random.default_rng(0)
    inputs = {
        f"run_{call.name}": [
            rng.standard_normal([int(d) for d in t.shape.values], dtype=np.float32).astype(
                str(t.dtype)
            )
            for t in call.args
        ]
        for call in calls
    }
    wrapped = _wrapped(fused, calls)
    cpu = relax.VirtualMachine(relax.build(wrapped, target=target(NATIVE_CPU)), tvm.cpu())
    expected = {
        name: cpu[name](*[tvm.runtime.tensor(a) for a in arrays]).numpy()
        for name, arrays in inputs.items()
    }
    webgpu = run_on_webgpu(wrapped, inputs, tmp_path_factory.mktemp(f"kernels_{dtype}"))
    return {"dtype": dtype, "expected": expected, **webgpu}


@pytest.mark.browser
@needs_webgpu
def test_every_kernel_matches_the_cpu(kernel_results: dict) -> None:
    assert kernel_results["errors"] == []
    expected = kernel_results["expected"]
    # The rules under test all have kernels here, so that the test cannot pass vacuously.
    assert sum("conv2d" in name for name in expected) >= 20
    assert sum("matmul" in name for name in expected) >= 10
    assert sum("transpose" in name for name in expected) >= 4
    tolerance = TOLERANCE[kernel_results["dtype"]]
    wrong = {}
    for name, want in expected.items():
        got, want = kernel_results["outputs"][name], want.astype(np.float32)
        scale = float(np.abs(want).max()) or 1.0
        error = float(np.abs(got - want).max()) / scale if got.shape == want.shape else np.inf
        trigonometry = "tir_sin" in name or "tir_cos" in name
        if not error <= max(tolerance, TRIGONOMETRY_TOLERANCE if trigonometry else 0):
            wrong[name] = f"{error:.2e} of max |output| {scale:.3g}, shape {list(want.shape)}"
    assert not wrong, "\n".join(f"{name}: {error}" for name, error in wrong.items())
