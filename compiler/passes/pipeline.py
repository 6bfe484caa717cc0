"""The one pass pipeline: what happens between the imported IRModule and `relax.build`.

Target-independent steps run once on the assembled module (`prepare`); the per-target
lowering (`lowering`) then runs inside `relax.build` for WebGPU and for the native CPU
library alike, so both are compiled from the same prepared module.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.backend import gpu_generic
from tvm.s_tir import dlight

from ..schedules.gemm import Gemm
from ..schedules.transpose import Transpose
from .channels_last_projections import ChannelsLastProjections
from .fused_attention import FusedAttention
from .fused_group_norm import FusedGroupNorm
from .submit_in_batches import SubmitInBatches
from .widened_layer_norm import WidenedLayerNorm


def prepare(module: tvm.IRModule) -> tvm.IRModule:
    """Compute each common subexpression once, and bundle each function's weights into one
    tuple argument.

    diffusers recomputes the same values where modules repeat: every ResNet block applies
    SiLU to the time embedding (22 kernels per SD 1.5 UNet call, one after CSE), and CLIP
    casts each layer norm's output once per projection reading it. With the weights in one
    tuple, the runtimes pass one array of weights per call (tvmjs: a TVMArray built from
    the tensor cache by name; native: a list), whatever the number of weights.
    """
    module = relax.transform.EliminateCommonSubexpr()(module)
    return relax.transform.BundleModelParams()(module)


def fusion(target: tvm.target.Target) -> tvm.transform.Pass:
    """Replace the hand-written kernels' ops, legalize, and fuse into unscheduled kernels.

    WebGPU's hand-scheduled kernels go first, so that legalization never sees their ops.
    Apart from `lowering`, so that tests can run each fused kernel alone (on WebGPU and on
    the CPU) and name the one that is wrong.
    """
    return tvm.transform.Sequential(
        [
            FusedAttention(),
            FusedGroupNorm(),
            WidenedLayerNorm(),
            ChannelsLastProjections(),
            *gpu_generic.library_dispatch_passes(target),
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ],
        name="websd_fusion",
    )


def lowering(target: tvm.target.Target) -> tvm.transform.Pass:
    """Legalize, fuse and schedule for `target`.

    On WebGPU: `fusion`, then TVM's generic GPU pipeline with websd's GEMM and transpose rules
    ahead of dlight's (`websd.schedules`), and the lowered functions hand their kernels to the
    GPU in batches (`SubmitInBatches`). The CPU keeps TVM's default pipeline, which is correct
    there.
    """
    if target.kind.name != "webgpu":
        return relax.get_default_pipeline(target)
    schedule = dlight.ApplyDefaultSchedule(
        Gemm(),
        Transpose(),
        dlight.gpu.GEMV(),
        dlight.gpu.Reduction(),
        dlight.gpu.GeneralReduction(),
        dlight.gpu.Fallback(),
    )
    return tvm.transform.Sequential(
        [
            fusion(target),
            schedule,
            *gpu_generic.dataflow_lower_passes(target),
            *gpu_generic.finalize_passes(target),
            SubmitInBatches(),
        ],
        name="websd_webgpu",
    )
