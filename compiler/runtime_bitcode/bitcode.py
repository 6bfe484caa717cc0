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
from .toolchain import emcc_version, find_emcc

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


@contextmanager
def tvm_linker_env(bitcode_dir: Path) -> Iterator[None]:
    """Point TVM's emcc linker at `bitcode_dir` for the block: set TVM_HOME, then restore it.

    TVM reads TVM_HOME from os.environ, which is process-wide: do not link on two threads at
    once with different folders.
    """
    saved = os.environ.get("TVM_HOME")
    os.environ["TVM_HOME"] = str(bitcode_dir.parents[len(WASM_SUBDIR.parts) - 1])
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TVM_HOME", None)
        else:
            os.environ["TVM_HOME"] = saved
