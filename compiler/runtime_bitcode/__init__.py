"""The TVM web runtime as LLVM bitcode, built once per toolchain and cached.

TVM's emcc linker (`tvm.contrib.tvmjs.create_tvmjs_wasm`) links every model library with
`wasm_runtime.bc`, `tvmjs_support.bc` and `webgpu_runtime.bc`, but the apache-tvm wheel ships
none of them. They are compiled here from the wheel's own sources plus `include/`, the project's
overlay on TVM's source tree: the headers the wheel lacks, empty files in place of the RPC
sources, and a `tvmjs_support.cc` without RPC.
"""

from .bitcode import BITCODE_FILES, ensure_runtime_bitcode, tvm_linker_env

__all__ = ["BITCODE_FILES", "ensure_runtime_bitcode", "tvm_linker_env"]
