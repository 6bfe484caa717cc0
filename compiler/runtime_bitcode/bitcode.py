"""The cached runtime bitcode, and pointing TVM's linker at it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..cache import atomic_folder, cache_root, digest_json
from .compile import compile_units
from .sources import UNITS, assemble_tree, sources_digest
from .toolchain import emcc_version, find_emcc, js_optimizer_env

BITCODE_FILES = tuple(f"{unit}.bc" for unit in UNITS)

# TVM's find_wasm_lib (tvm/support/emcc.py) looks in $TVM_HOME/web/dist/wasm: cache entries
# use that layout so that an entry can serve as TVM_HOME.
WASM_SUBDIR = Path("web", "dist", "wasm")


def ensure_runtime_bitcode(progress: Callable[[str], None] | None = None) -> Path:
    """The folder holding the three runtime .bc files, compiled on the first call (about a minute
    on two cores) and taken from the cache afterwards.

    The cache entry is keyed by TVM and tvm-ffi versions, the emcc version, the flags and the
    overlay's content, so changing any of them builds a new entry. `progress` receives one line
    per step, on the calling thread.
    """
    say = progress or (lambda _message: None)
    emcc = find_emcc()
    key = digest_json({"sources": sources_digest(), "emcc": emcc_version(emcc)})[:16]
    entry = cache_root() / "runtime-bitcode" / key
    if all((entry / WASM_SUBDIR / name).is_file() for name in BITCODE_FILES):
        return entry / WASM_SUBDIR
    with (
        tempfile.TemporaryDirectory(prefix="websd-runtime-src-") as tree,
        atomic_folder(entry) as staging,
    ):
        out_dir = staging / WASM_SUBDIR
        out_dir.mkdir(parents=True)
        compile_units(emcc, assemble_tree(Path(tree)), UNITS, out_dir, say)
    say(f"runtime bitcode: cached in {entry}")
    return entry / WASM_SUBDIR


def linker_env(bitcode_dir: Path) -> dict[str, str]:
    """Environment under which TVM's emcc linker finds `bitcode_dir`'s files and emcc links."""
    return {"TVM_HOME": str(bitcode_dir.parents[len(WASM_SUBDIR.parts) - 1]), **js_optimizer_env()}


@contextmanager
def tvm_linker_env(bitcode_dir: Path) -> Iterator[None]:
    """Set `linker_env` in os.environ for the block (TVM reads TVM_HOME from there), then restore.

    os.environ is process-wide: do not link on two threads at once with different folders.
    """
    overrides = linker_env(bitcode_dir)
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
