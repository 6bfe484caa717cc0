"""The runtime's C++ sources: the wheel's, laid out as TVM's source tree, under the overlay."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from pathlib import Path

from ..cache import digest_json, file_sha256

# The project's overlay on TVM's source tree, copied over the wheel's files.
OVERLAY = Path(__file__).parent / "include"

# Translation units under web/emcc, longest first so that it starts first.
UNITS = ("wasm_runtime", "webgpu_runtime", "tvmjs_support")

# Compile flags of TVM's web/Makefile, but to optimized wasm object files rather than LLVM
# bitcode (`-emit-llvm`): bitcode would be code-generated again at every model link, a minute
# or more each time. The files keep the `.bc` names TVM's linker looks for; wasm-ld reads
# either kind by its content.
FLAGS = ("-O3", "-std=c++17", "-Wno-ignored-attributes", "-c")

# web/Makefile's include path, relative to the tree root; the tvm-ffi wheel holds dlpack
# inside its include folder.
INCLUDE_DIRS = (".", "include", "3rdparty/tvm-ffi/include", "3rdparty/compiler-rt")


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it (tvm takes seconds)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _tree_layout() -> dict[str, Path]:
    """Folder of TVM's source tree -> the wheel folder that holds its files."""
    tvm = _package_dir("tvm")
    tvm_ffi = _package_dir("tvm_ffi")
    return {
        "include": tvm / "include",
        "src/runtime": tvm / "src" / "runtime",
        "web/emcc": tvm / "web" / "emcc",
        "3rdparty/tvm-ffi/include": tvm_ffi / "include",
        "3rdparty/tvm-ffi/src": tvm_ffi / "src",
    }


def assemble_tree(root: Path) -> Path:
    """Copy the wheel's sources into `root` as TVM lays them out, then the overlay on top.

    Copies rather than include paths because the sources include each other by relative
    paths (`../support/bytes_io.h`) that must land on the overlay's files.
    """
    ignore = shutil.ignore_patterns("__pycache__")
    for folder, source in _tree_layout().items():
        shutil.copytree(source, root / folder, ignore=ignore)
    shutil.copytree(OVERLAY, root, ignore=ignore, dirs_exist_ok=True)
    return root


def sources_digest() -> str:
    """What the bitcode depends on besides the compiler: wheel versions, flags, overlay content."""
    overlay = {
        str(path.relative_to(OVERLAY)): file_sha256(path)
        for path in sorted(OVERLAY.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    return digest_json(
        {
            "apache-tvm": importlib.metadata.version("apache-tvm"),
            "apache-tvm-ffi": importlib.metadata.version("apache-tvm-ffi"),
            "units": UNITS,
            "flags": FLAGS,
            "include_dirs": INCLUDE_DIRS,
            "overlay": overlay,
        }
    )
