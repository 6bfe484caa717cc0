"""float16: weights and activations stored in half precision, sums in fp32; weights converted
at build time.

TVM's importer cannot read an fp16 torch model (FINDINGS.md), so the model is imported in
fp32 and `ToMixedPrecision` rewrites it, with the GEMM, convolution and bias weights declared
fp16 (as a torch `.half()` model holds them) so that bias adds, residual sums and SiLUs run,
and store their results, in fp16 too. `LiftTransformParams` moves what is left of weight
preparation into `<function>_transform_params`. Those run here, once, on the CPU: the browser
downloads weights already in the dtype each kernel reads, and never runs a cast per call.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tvm
from tvm import relax

# LazyTransformParams reads `relax.op.vm` without importing it (TVM 0.27).
from tvm.relax.op import vm as _  # noqa: F401

from ..assemble import AssembledModel
from ..targets import NATIVE_CPU, target
from .accumulate_float32 import AccumulateFloat32
from .drop_cast_round_trips import DropCastRoundTrips
from .keep_attention_attrs import KeepAttentionAttrs
from .narrow_float16 import NarrowToFloat16

_TRANSFORM_SUFFIX = "_transform_params"


def _content_name(group: str, array: np.ndarray) -> str:
    """Weights are named by content, so functions whose lifted weights coincide share them."""
    digest = hashlib.sha256(array.tobytes())
    digest.update(f"{array.dtype}{array.shape}".encode())
    return f"{group}.{digest.hexdigest()[:20]}"


def float16_module(model: AssembledModel) -> tvm.IRModule:
    """`model`'s functions rewritten for fp16 weights and activations, each with its weight
    preparation lifted into `<function>_transform_params`. fp32 stays where fp16 would lose
    accuracy: softmax computes in fp32 (ToMixedPrecision never converts it), normalizations
    too (their weights stay fp32), GEMMs and convolutions accumulate in fp32, and the last
    layers before each output run in fp32 (`accumulate_float32`)."""
    mixed = relax.transform.ToMixedPrecision("float16", fp16_input_names=_half_weights(model))
    module = KeepAttentionAttrs(model.module)(mixed(model.module))
    module = DropCastRoundTrips()(module)
    module = AccumulateFloat32()(module)
    module = NarrowToFloat16()(module)
    return relax.transform.LiftTransformParams()(module)


# Weights whose every reader is one of these are declared fp16: the ops then run in fp16.
_HALF_READERS = {
    tvm.ir.Op.get(f"relax.{name}")
    for name in ("nn.conv2d", "matmul", "permute_dims", "reshape", "add")
}


def _half_weights(model: AssembledModel) -> list[str]:
    """Names of the fp32 weights read only by GEMMs, convolutions, their layout changes and
    bias adds. The rest stay fp32 parameters: the scale and shift of each normalization (which
    then computes in fp32: TVM 0.27 lets a normalization follow its inputs' dtype), and the
    embedding tables (`narrow_float16` stores those in fp16)."""
    half, kept = set(), set()
    for function in model.module.functions.values():
        weights = {
            v
            for v in function.params[int(function.attrs["num_input"]) :]
            if str(v.ty.dtype) == "float32"
        }
        for block in function.body.blocks:
            for binding in block.bindings:
                value = binding.value
                for arg in getattr(value, "args", ()):
                    if arg in weights:
                        (half if value.op in _HALF_READERS else kept).add(arg.name)
    return sorted(half - kept)


def to_float16(model: AssembledModel) -> AssembledModel:
    """`float16_module`, with the weight preparation run here, once, on the CPU."""
    module = float16_module(model)
    result = AssembledModel(tvm.IRModule(), kinds=model.kinds)
    for function, group in model.groups.items():
        weights = [model.weights[p] for p in model.param_names[group]]
        outputs = _run_lazily(module[function + _TRANSFORM_SUFFIX], weights)
        names = [_content_name(group, array) for array in outputs]
        shared = next((g for g, ns in result.param_names.items() if ns == names), None)
        if shared is None:  # a sibling's identical weights are kept once
            result.weights.update(zip(names, outputs, strict=True))
        result.groups[function] = shared or function
        result.param_names.setdefault(shared or function, names)
        result.module[function] = module[function]
    return result


def _run_lazily(transform: relax.Function, weights: list[np.ndarray]) -> list[np.ndarray]:
    """Run a weight transform one weight at a time (Relax's LazyTransformParams): each input
    reaches TVM when first read and is freed after its last use, and each output is taken
    when made. Run whole, a full-size UNet's transform held a TVM copy of every fp32 weight
    and every fp32 intermediate at once, gigabytes over the weights themselves."""
    lazy = tvm.transform.Sequential(
        [
            relax.transform.ToNonDataflow(),
            relax.transform.RemovePurityChecking(),
            relax.transform.LazyTransformParams(_GET, _SET),
        ]
    )(tvm.IRModule({_LAZY: transform.with_attr("global_symbol", _LAZY)}))
    # Weights the function declares fp16 are rounded here, as each is read.
    dtypes = [str(field.dtype) for field in transform.params[0].ty.fields]
    outputs: dict[int, np.ndarray] = {}
    tvm.register_global_func(
        _GET, lambda i: tvm.runtime.tensor(weights[i].astype(dtypes[i], copy=False)), override=True
    )
    tvm.register_global_func(
        _SET, lambda i, value: outputs.__setitem__(i, value.numpy()), override=True
    )
    # The naive allocator frees each intermediate when it dies; the pool would keep them.
    executable = relax.build(lazy, target=target(NATIVE_CPU))
    relax.VirtualMachine(executable, tvm.cpu(), memory_cfg="naive")[_LAZY]()
    return [outputs[i] for i in range(len(outputs))]


_LAZY = "lazy_transform_params"  # the pass rewrites functions named *transform_params
_GET = "websd.float16.get_weight"
_SET = "websd.float16.set_weight"
