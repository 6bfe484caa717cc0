"""Linking a built model into the .wasm model library that tvmjs loads in the browser."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tvm import relax
from tvm.contrib import tvmjs

from .errors import ToolchainError
from .runtime_bitcode import ensure_runtime_bitcode, tvm_linker_env
from .runtime_bitcode.toolchain import find_emcc

LINK_ERROR_TAIL_CHARS = 4000


class _EmccLinker:
    """The `fcompile` that export_library hands the module's objects to.

    `object_format = "o"` makes TVM emit wasm object files instead of LLVM bitcode: TVM's
    LLVM 22 writes bitcode that the LLVM 14 inside Debian's emcc cannot read.

    Every input is then an optimized wasm object, so the link only joins them: `-O1`
    (after create_tvmjs_wasm's own `-O3`, and so in force) skips wasm-opt's whole-program
    pass, which took 160 s of a tiny model's link on two cores for a 25% smaller .wasm.
    """

    object_format = "o"
    link_options = ("-O1",)

    def __init__(self, emcc: str) -> None:
        self.emcc = emcc

    def __call__(self, output: str, objects: list[str], options: list[str] | None = None) -> None:
        try:
            tvmjs.create_tvmjs_wasm(
                output, objects, options=[*(options or []), *self.link_options], cc=self.emcc
            )
        except RuntimeError as error:
            raise ToolchainError(
                f"emcc failed to link {output}:\n{str(error)[-LINK_ERROR_TAIL_CHARS:]}"
            ) from error


def link_wasm(
    executable: relax.VMExecutable,
    out_path: Path,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Link `executable` (built with system_lib=True for a WebGPU target with a wasm32 host)
    and the TVM web runtime into `out_path`; one to a few minutes on two cores."""
    say = progress or (lambda _message: None)
    bitcode = ensure_runtime_bitcode(progress)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"linking {out_path.name} with emcc")
    start = time.perf_counter()
    with tvm_linker_env(bitcode):
        executable.export_library(str(out_path), fcompile=_EmccLinker(find_emcc()))
    size_mib = out_path.stat().st_size / 2**20
    say(f"linked {out_path.name} ({size_mib:.1f} MiB) in {time.perf_counter() - start:.0f} s")
    return out_path
