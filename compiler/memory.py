"""GPU memory of a lowered module: the WebGPU limits an adapter must grant, and the peak.

Buffers are read from the module as `lowering(webgpu)` leaves it, so that every buffer the
runtime really allocates is seen, kernel-internal ones included (a kernel's scratch tensor is
a planned storage like any other). Two facts of the runtime shape the numbers:
- tvmjs binds a tensor's whole GPU buffer, never a sub-range, so a binding is as large as the
  storage the tensor was planned into, not the tensor;
- the Relax VM allocates storages from a pool that rounds sizes up to 4 KiB pages and keeps
  freed buffers for reuse by size; the browser runtime empties that pool whenever it moves
  from one function to another (text encoder → UNet loop → VAE), so one function's storages
  are live at a time, and a function called again reuses its own;
- a kernel's own global buffers (TVM's legalized attention keeps its score matrix in one) are
  workspaces: allocated around each call from a per-device pool that also keeps them.

Workgroup memory is read from the generated WGSL instead, which declares each kernel's tiles
at their final sizes (`workgroup_limits`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import tvm
from tvm import relax
from tvm.s_tir import SBlockRealize

DEFAULT_BINDING = 128 << 20  # WebGPU's default maxStorageBufferBindingSize
DEFAULT_BUFFER = 256 << 20  # WebGPU's default maxBufferSize
DEFAULT_WORKGROUP = 16 << 10  # WebGPU's default maxComputeWorkgroupStorageSize
_PAGE = 4096  # the VM's PooledAllocator page
_ALLOC_STORAGE = tvm.ir.Op.get("relax.vm.alloc_storage")
_ALLOC_TENSOR = tvm.ir.Op.get("relax.vm.alloc_tensor")
_KILL = tvm.ir.Op.get("relax.vm.kill_object")
_VIEWS = {"vm.builtin.reshape"}  # packed calls that return a view of their first argument


@dataclass(frozen=True)
class MemoryNeeds:
    largest_buffer_bytes: int
    """The largest GPU buffer: a planned storage, a weight or an input (maxBufferSize)."""
    largest_binding_bytes: int
    """The largest buffer bound to a kernel (maxStorageBufferBindingSize)."""
    largest_tensor_bytes: int
    """The largest tensor a kernel reads or writes (≤ its buffer)."""
    activation_bytes: int
    """The largest storage pool one function fills, plus the largest set of workspaces one
    kernel holds: what a generation holds on the GPU at its peak besides the weights."""
    weight_bytes: int

    @property
    def peak_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes

    def limits(self) -> dict[str, int]:
        """WebGPU's defaults, raised only where the model needs more."""
        return {
            "maxStorageBufferBindingSize": max(DEFAULT_BINDING, self.largest_binding_bytes),
            "maxBufferSize": max(DEFAULT_BUFFER, self.largest_buffer_bytes),
        }


def tensor_bytes(ty: object) -> int:
    """Bytes of a static-shape tensor type; 0 for anything else."""
    shape = getattr(ty, "shape", None)
    dtype = getattr(ty, "dtype", None)
    if shape is None or dtype is None or not all(isinstance(d, tvm.tirx.IntImm) for d in shape):
        return 0
    return math.prod(int(d) for d in shape) * tvm.runtime.DataType(str(dtype)).bits // 8


def _pooled(size: int) -> int:
    return -(-size // _PAGE) * _PAGE


def workspace_bytes(kernel: tvm.tirx.PrimFunc) -> list[int]:
    """Sizes of the global buffers a scheduled kernel allocates for itself."""
    if not isinstance(kernel.body, SBlockRealize):
        return []
    buffers = kernel.body.block.alloc_buffers
    return [_pooled(tensor_bytes(b)) for b in buffers if b.scope() == "global"]


class _Storage:
    """A pooled buffer and the variables that keep it alive."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.refs = 1


@dataclass
class _Scan:
    largest_buffer: int = 0
    largest_binding: int = 0
    largest_tensor: int = 0
    storage: int = 0  # the most pooled bytes one function fills
    workspace: int = 0  # the most workspace bytes one kernel call holds

    def function(self, module: tvm.IRModule, function: relax.Function) -> None:
        """Walk one lowered function in order, as the VM runs it."""
        buffers: dict[relax.Var, int] = {}  # var → bytes of its GPU buffer
        storages: dict[relax.Var, _Storage] = {}  # var → the pooled storage it keeps alive
        pool: Counter[int] = Counter()  # buffers the pool holds, by size
        free: Counter[int] = Counter()  # those of them not in use
        for param in function.params:
            buffers[param] = tensor_bytes(param.ty)
        for block in function.body.blocks:
            for binding in block.bindings:
                var, value = binding.var, binding.value
                if isinstance(value, relax.TupleGetItem):  # a weight out of the bundled tuple
                    buffers[var] = tensor_bytes(var.ty)
                if not isinstance(value, relax.Call):
                    continue
                if value.op == _ALLOC_STORAGE:
                    size = _pooled(int(value.args[0].values[0]))
                    if free[size]:
                        free[size] -= 1
                    else:
                        pool[size] += 1
                    storages[var] = _Storage(size)
                    buffers[var] = size
                elif value.op == _ALLOC_TENSOR or _is_view(value):
                    source = value.args[0]
                    buffers[var] = buffers.get(source, tensor_bytes(var.ty))
                    if source in storages:
                        storages[var] = storages[source]
                        storages[var].refs += 1
                elif value.op == _KILL and value.args[0] in storages:
                    storage = storages.pop(value.args[0])
                    storage.refs -= 1
                    if storage.refs == 0:
                        free[storage.size] += 1
                elif isinstance(value.op, relax.GlobalVar) and isinstance(
                    module[value.op], tvm.tirx.PrimFunc
                ):
                    self.kernel(module[value.op])
                    for arg in value.args:
                        buffer = buffers.get(arg, tensor_bytes(arg.ty))
                        self.largest_binding = max(self.largest_binding, buffer)
                        self.largest_tensor = max(self.largest_tensor, tensor_bytes(arg.ty))
                else:
                    buffers[var] = tensor_bytes(var.ty)
        self.largest_buffer = max((self.largest_buffer, *buffers.values()))
        self.storage = max(self.storage, sum(size * n for size, n in pool.items()))

    def kernel(self, kernel: tvm.tirx.PrimFunc) -> None:
        """A kernel's workspaces: buffers of their own, bound whole to its device code."""
        sizes = workspace_bytes(kernel)
        if sizes:
            self.largest_buffer = max(self.largest_buffer, *sizes)
            self.largest_binding = max(self.largest_binding, *sizes)
            self.largest_tensor = max(self.largest_tensor, *sizes)
            self.workspace = max(self.workspace, sum(sizes))


def _is_view(call: relax.Call) -> bool:
    return isinstance(call.op, relax.ExternFunc) and call.op.global_symbol in _VIEWS


def memory_needs(lowered: tvm.IRModule, weight_bytes: int) -> MemoryNeeds:
    """The needs of `lowered` (the output of `lowering(webgpu)`), whose functions take
    `weight_bytes` of weights in all."""
    scan = _Scan()
    for _, function in lowered.functions_items():
        if isinstance(function, relax.Function):
            scan.function(lowered, function)
    return MemoryNeeds(
        largest_buffer_bytes=scan.largest_buffer,
        largest_binding_bytes=scan.largest_binding,
        largest_tensor_bytes=scan.largest_tensor,
        activation_bytes=scan.storage + scan.workspace,
        weight_bytes=weight_bytes,
    )


_KERNEL_HEADER = re.compile(r"^// Function: ", re.MULTILINE)
# An array of scalars (`array<f32, 64>`) or of vectors (`array<vec4<f32>, 64>`).
_WORKGROUP_ARRAY = re.compile(
    r"^var<workgroup> \w+ : array<(?:vec([234])<(\w+)>|(\w+)), (\d+)>;", re.MULTILINE
)
_WGSL_BYTES = {"f16": 2, "f32": 4, "i32": 4, "u32": 4}


def _array_bytes(lanes: str, vector_type: str, scalar_type: str, length: str) -> int:
    return int(lanes or 1) * _WGSL_BYTES[vector_type or scalar_type] * int(length)


def largest_workgroup_bytes(wgsl: str) -> int:
    """The most workgroup memory one kernel of `wgsl` declares (TVM writes one section per
    kernel, each headed by its name)."""
    return max(
        (
            sum(_array_bytes(*array) for array in _WORKGROUP_ARRAY.findall(kernel))
            for kernel in _KERNEL_HEADER.split(wgsl)
        ),
        default=0,
    )


def workgroup_limits(*wgsl: str) -> dict[str, int]:
    """maxComputeWorkgroupStorageSize where a kernel of `wgsl` (each a module's WGSL, or one
    kernel's) needs more than the default."""
    largest = max(largest_workgroup_bytes(source) for source in wgsl)
    return {"maxComputeWorkgroupStorageSize": largest} if largest > DEFAULT_WORKGROUP else {}
