"""Kinds of GPU kernel (attention, conv2d, matmul, norm, the rest), by the op names TVM puts
in a kernel's name, and the work and time of a profiled call grouped by kernel function and
kind: shared by the GPU benchmark and the kernel census.
"""

from __future__ import annotations

import re
from typing import Any

# Kinds of operation, by the op names TVM puts in a fused kernel's name; the first match wins.
# Softmax is an attention's (CLIP runs attention as matmul, softmax, matmul). A group norm split
# into a statistics kernel (group_norm_stats) leaves its normalization, (x - mean) · rstd · γ + β,
# to a fused elementwise kernel whose name starts with those ops (after a cast from fp16).
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("attention", re.compile(r"attention|softmax")),
    ("conv2d", re.compile(r"conv2d")),
    ("matmul", re.compile(r"matmul|dense|gemm")),
    ("norm", re.compile(r"group_norm|layer_norm|rms_norm|^fused_(cast\d*_)?subtract\d*_multiply")),
)
OTHER = "elementwise/other"
# tvmjs names the kernels of a kernel function (a TIR PrimFunc) after it: NAME_kernel, then
# NAME_kernel_1, ... where it launches more than one.
KERNEL_SUFFIX = re.compile(r"_kernel(_\d+)?$")


def kernel_kind(name: str) -> str:
    """The kind of a kernel, or of a kernel function, by its name."""
    return next((kind for kind, ops in KINDS if ops.search(name)), OTHER)


def profile_kinds(profile: dict[str, Any]) -> dict[str, float]:
    """GPU ms of one profiled call, by kind."""
    kinds = dict.fromkeys([kind for kind, _ in KINDS] + [OTHER], 0.0)
    for name, kernel in profile["kernels"].items():
        kinds[kernel_kind(name)] += kernel["ns"] / 1e6
    return kinds


def function_work(profile: dict[str, Any], work: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per kernel function of one profiled call: its GPU ns (all its kernels), its launches,
    and the flops and global bytes read of those launches (`work`: per launch, by function)."""
    found: dict[str, dict[str, int]] = {}
    for name, kernel in profile["kernels"].items():
        entry = found.setdefault(KERNEL_SUFFIX.sub("", name), {"ns": 0, "launches": 0})
        entry["ns"] += kernel["ns"]
        entry["launches"] = max(entry["launches"], kernel["calls"])
    for function, entry in found.items():
        per_launch = work.get(function, {"flops": 0, "global_bytes": 0})
        entry["flops"] = per_launch["flops"] * entry["launches"]
        entry["global_bytes"] = per_launch["global_bytes"] * entry["launches"]
    return found


def kinds_work(functions: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """`function_work`'s flops and global bytes, by kind."""
    kinds = {kind: {"flops": 0, "global_bytes": 0} for kind in [*(k for k, _ in KINDS), OTHER]}
    for function, entry in functions.items():
        for measure in ("flops", "global_bytes"):
            kinds[kernel_kind(function)][measure] += entry[measure]
    return kinds
