"""float16: run GEMMs and convolutions in half precision, and convert the weights at build time.

TVM's importer cannot read an fp16 torch model (FINDINGS.md), so the model is imported in
fp32, `ToMixedPrecision` rewrites it, and `LiftTransformParams` moves the weight casts into
`<function>_transform_params`. Those run here, once, on the CPU: the browser downloads
weights already in the dtype each kernel reads, and never runs a cast per call.
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
from .narrow_float16 import NarrowToFloat16

_TRANSFORM_SUFFIX = "_transform_params"


def _content_name(group: str, array: np.ndarray) -> str:
    """Weights are named by content, so functions whose lifted weights coincide share them."""
    digest = hashlib.sha256(array.tobytes())
    digest.update(f"{array.dtype}{array.shape}".encode())
    return f"{group}.{digest.hexdigest()[:20]}"


def float16_module(model: AssembledModel, accumulate: str = "float32") -> tvm.IRModule:
    """`model`'s functions rewritten for fp16 kernels, each with its weight casts lifted into
    `<function>_transform_params`; fp32 stays where fp16 would lose accuracy (softmax and
    normalisations compute in fp32: ToMixedPrecision never converts them), and GEMMs and
    convolutions accumulate in `accumulate`. Embedding tables and group-norm inputs are stored
    in fp16 (`narrow_float16`)."""
    module = relax.transform.ToMixedPrecision(out_dtype=accumulate)(model.module)
    module = NarrowToFloat16()(module)
    return relax.transform.LiftTransformParams()(module)


def to_float16(model: AssembledModel, accumulate: str = "float32") -> AssembledModel:
    """`float16_module`, with the weight casts run here, once, on the CPU."""
    module = float16_module(model, accumulate)
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
    outputs: dict[int, np.ndarray] = {}
    tvm.register_global_func(_GET, lambda i: tvm.runtime.tensor(weights[i]), override=True)
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
