"""The two compilation targets: the browser's WebGPU (with a wasm32 host) and the native CPU."""

from __future__ import annotations

import tvm

WEBGPU = {"kind": "webgpu", "host": {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"}}
NATIVE_CPU = {"kind": "llvm"}


def target(spec: dict) -> tvm.target.Target:
    """TVM 0.27 parses only the JSON form of targets (FINDINGS.md)."""
    return tvm.target.Target(spec)
