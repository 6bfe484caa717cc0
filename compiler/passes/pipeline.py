"""The one pass pipeline: what happens between the imported IRModule and `relax.build`.

Target-independent steps run once on the assembled module (`prepare`); the per-target
lowering (`lowering`) then runs inside `relax.build` for WebGPU and for the native CPU
library alike, so both are compiled from the same prepared module.
"""

from __future__ import annotations

import tvm
from tvm import relax

from .fused_attention import FusedAttention
from .fused_group_norm import FusedGroupNorm


def prepare(module: tvm.IRModule) -> tvm.IRModule:
    """Bundle each function's weights into one tuple argument.

    The runtimes then pass one array of weights per call (tvmjs: a TVMArray built from the
    tensor cache by name; native: a list), whatever the number of weights.
    """
    return relax.transform.BundleModelParams()(module)


def lowering(target: tvm.target.Target) -> tvm.transform.Pass:
    """Legalize, fuse and schedule for `target` (on WebGPU, the dlight GPU rules).

    On WebGPU the hand-scheduled kernels replace their ops first, so that legalization never
    sees them; the CPU keeps TVM's legalization, which is correct there.
    """
    default = relax.get_default_pipeline(target)
    if target.kind.name != "webgpu":
        return default
    return tvm.transform.Sequential(
        [FusedAttention(), FusedGroupNorm(), default], name="websd_webgpu"
    )
