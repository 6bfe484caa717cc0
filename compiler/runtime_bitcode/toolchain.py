"""Finding Emscripten, the compiler both the runtime bitcode and the model library go through."""

from __future__ import annotations

import functools
import shutil
import subprocess

from ..errors import ToolchainError


def find_emcc() -> str:
    """The emcc on PATH; a missing one is an error that says how to install it."""
    emcc = shutil.which("emcc")
    if emcc is None:
        raise ToolchainError(
            "emcc (emscripten) was not found: install it with "
            "`apt-get install emscripten node-acorn` (Debian/Ubuntu), or install the "
            "Emscripten SDK and put emcc on PATH. It compiles the TVM web runtime and links "
            "the model library (.wasm)."
        )
    return emcc


@functools.cache
def emcc_version(emcc: str) -> str:
    """First line of `emcc --version`: part of the cache key, since bitcode is compiler-specific."""
    try:
        result = subprocess.run(
            [emcc, "--version"], capture_output=True, text=True, check=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise ToolchainError(f"`{emcc} --version` failed: {error}") from error
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else "unknown"
