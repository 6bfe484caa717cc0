"""Memory needs of a prepared module: the WebGPU limits a browser adapter must grant."""

from __future__ import annotations

import math

import tvm
from tvm import relax

_DEFAULT_BINDING = 128 << 20  # WebGPU's default maxStorageBufferBindingSize
_DEFAULT_BUFFER = 256 << 20  # WebGPU's default maxBufferSize


def _tensor_bytes(ty: object) -> int:
    shape = getattr(ty, "shape", None)
    dtype = getattr(ty, "dtype", None)
    if shape is None or dtype is None or not all(isinstance(d, tvm.tirx.IntImm) for d in shape):
        return 0
    return math.prod(int(d) for d in shape) * tvm.runtime.DataType(str(dtype)).bits // 8


def largest_tensor_bytes(module: tvm.IRModule) -> int:
    """Bytes of the largest tensor any Relax function binds: each is a storage buffer."""
    largest = 0
    for _, function in module.functions.items():
        if not isinstance(function, relax.Function):
            continue
        for var in function.params:
            largest = max(largest, _tensor_bytes(var.ty))
        for block in function.body.blocks:
            for binding in block.bindings:
                largest = max(largest, _tensor_bytes(binding.var.ty))
    return largest


def webgpu_limits(module: tvm.IRModule) -> dict[str, int]:
    """The limits to request: WebGPU's defaults, raised only where the model needs more."""
    need = largest_tensor_bytes(module)
    return {
        "maxStorageBufferBindingSize": max(_DEFAULT_BINDING, need),
        "maxBufferSize": max(_DEFAULT_BUFFER, need),
    }
