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
    transforms = tvm.IRModule(
        {f + _TRANSFORM_SUFFIX: module[f + _TRANSFORM_SUFFIX] for f in model.groups}
    )
    vm = relax.VirtualMachine(relax.build(transforms, target=target(NATIVE_CPU)), tvm.cpu())

    result = AssembledModel(tvm.IRModule(), kinds=model.kinds)
    for function, group in model.groups.items():
        inputs = [tvm.runtime.tensor(model.weights[p]) for p in model.param_names[group]]
        outputs = [t.numpy() for t in vm[function + _TRANSFORM_SUFFIX](inputs)]
        names = [_content_name(group, array) for array in outputs]
        result.weights.update(zip(names, outputs, strict=True))
        shared = next((g for g, ns in result.param_names.items() if ns == names), None)
        result.groups[function] = shared or function
        result.param_names.setdefault(shared or function, names)
        result.module[function] = module[function]
    return result
