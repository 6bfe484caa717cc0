"""The two compilation targets: the browser's WebGPU (with a wasm32 host) and the native CPU."""

from __future__ import annotations

import tvm

# No `supports_subgroups`: with it, TVM 0.27 reduces with subgroupShuffleDown over 32 lanes,
# assuming subgroups of 32 invocations, and adapters' differ (SwiftShader's are 4 wide, and a
# row sum compiled so comes out wrong there: docs/performance.md, item 24).
WEBGPU = {"kind": "webgpu", "host": {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"}}
NATIVE_CPU = {"kind": "llvm"}


def target(spec: dict) -> tvm.target.Target:
    """TVM 0.27 parses only the JSON form of targets (FINDINGS.md)."""
    return tvm.target.Target(spec)
